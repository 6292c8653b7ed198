"""The sections of a problem file, each read by its ``_parse_*`` function into the
dataclasses of :mod:`femopt.config.schema`: :func:`parse_config` reads them all,
:func:`load_config` a file.

A new key of a fixed section is one line in the section's ``_parse_*`` function plus its
declaration in :mod:`femopt.config.keys` (kind, default, bounds, description: what this
module checks and ``femopt schema`` documents); the names of filters, optimizers, interpolations,
responses, solvers and passive shapes, and the options each takes, come from their
registries (:mod:`femopt.config.options`), so a new implementation or option is
registered beside the others in its package, not here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from femopt.config.design import _parse_design
from femopt.config.keys import (CHECKPOINT, CONSTRAINT, LOAD, LOAD_CASE, MATERIAL, MESH, OPTIMIZER, POINT_MASS,
                                PROBLEM, SPRING, SUPPORT, Section)
from femopt.config.options import _parse_component, _parse_option, _parse_selection, _parse_spec
from femopt.config.reader import (MAGNITUDES, YamlNode, _describe, _Invalid, _num, _python_value, _show,
                                  config_error, read_yaml, yaml_data)
from femopt.config.schema import (AXES, PHYSICS, CheckpointConfig, LoadCaseConfig, LoadConfig, MaterialConfig,
                                  MeshConfig, OptimizerConfig, PointMassConfig, ProblemConfig, ResponseConfig,
                                  Selection, Spec, SpringConfig, SupportConfig)
from femopt.errors import MeshError
from femopt.mesh.cad import CAD_SUFFIXES, is_cad
from femopt.mesh.checks import COORDINATE_RANGE
from femopt.mesh.io import read_mesh
from femopt.optimizers import OPTIMIZERS
from femopt.responses import LOWER_BOUNDS, RESPONSES
from femopt.solvers import SOLVERS
from femopt.solvers.mg_hierarchy import max_levels

# Allowed keys per section, in the order they are documented (declared in femopt.config.keys).
_TOP_KEYS = PROBLEM.names()
_MESH_KEYS = MESH.names()
_MATERIAL_KEYS = MATERIAL.names("elasticity")
_HEAT_MATERIAL_KEYS = MATERIAL.names("heat")   # physics: heat
_SUPPORT_KEYS = SUPPORT.names()
_LOAD_KEYS = LOAD.names("elasticity")
# What each kind of load is, for messages (the keys of _LOAD_KEYS after "at").
_LOAD_KINDS = {"force": "total", "nodal_force": "per node", "traction": "per unit area of a facet group",
               "pressure": "normal, on a facet group"}


# physics: heat's loads (LoadConfig: heat and nodal_heat as a 1-entry force, flux as a
# 1-entry traction, heat_source as source); ``at`` may be left out for a heat_source.
_HEAT_LOAD_KINDS = {"heat": "total, split equally over the nodes", "nodal_heat": "per node",
                    "flux": "per unit area of a facet group", "heat_source": "per unit volume of the cells"}
_HEAT_LOAD_KEYS = LOAD.names("heat")
_LOAD_CASE_KEYS = LOAD_CASE.names()
_SPRING_KEYS = SPRING.names()
_POINT_MASS_KEYS = POINT_MASS.names()
_OPTIMIZER_LOOP_KEYS = OPTIMIZER.names()   # the loop's, whatever the optimizer
_CHECKPOINT_KEYS = CHECKPOINT.names()

_DISPLACEMENT_RESPONSES = ("displacement", "displacement_target", "stress", "frequency", "buckling")
# Responses that need no load: a problem with only these may leave out loads.
_LOAD_FREE_RESPONSES = ("frequency", "volume")


def _read(node: YamlNode, section: Section, key: str, dim: int | None = None) -> Any:
    """The value of ``node``'s child ``key`` as ``section`` declares it (a kind of
    registered option): its default when absent, a message when required and absent."""
    return _parse_option(node, key, section.keys[key], dim)


def load_config(path: str | Path | Mapping) -> ProblemConfig:
    """Read and validate a problem file, or validate a problem given as a dict (the
    file's YAML as Python data).  Raises ConfigError."""
    if isinstance(path, Mapping):
        return parse_config(path)
    if not isinstance(path, (str, PathLike)) or isinstance(os.fspath(path), bytes):
        raise config_error(None, None, "expected a problem file's path (str or pathlib.Path), its YAML "
                           f"as a dict or a loaded config, got {_python_value(path)}")
    if not str(path).strip():
        raise config_error(None, None, "no problem file given (an empty path)")
    return parse_config(read_yaml(path), source=str(path))


def parse_config(data: Any, source: str = "<string>") -> ProblemConfig:
    """Validate already-loaded YAML data (plain dicts, lists, scalars; tuples, numpy numbers
    and arrays and paths are read as the lists, numbers and strings YAML would give).
    Raises ConfigError."""
    try:
        return _parse_problem(YamlNode(yaml_data(data), ""), source)
    except _Invalid as e:
        raise config_error(source, e.path, e.reason) from None


def with_overrides(config: ProblemConfig, max_iterations: int | None = None,
                   solver: str | None = None) -> ProblemConfig:
    """A copy of ``config`` with command-line overrides applied (None = keep).  Raises ConfigError."""
    try:
        if max_iterations is not None:
            n = YamlNode(max_iterations, "optimizer.max_iterations").integer(**OPTIMIZER.keys["max_iterations"].bounds)
            config = replace(config, optimizer=replace(config.optimizer, max_iterations=n))
        if solver is not None:  # the file's options stay where the new solver takes them
            entry = SOLVERS[YamlNode(solver, "solver").choice(SOLVERS.names)]
            kept = {k: v for k, v in config.solver.options.items() if k in entry.options and v is not None}
            config = replace(config, solver=Spec(entry.name, {**entry.defaults, **kept}))
    except _Invalid as e:
        raise config_error("override", e.path, e.reason) from None
    return config


def _parse_problem(root: YamlNode, source: str) -> ProblemConfig:
    if not isinstance(root.value, Mapping):
        root.fail("the top level must be a mapping of sections ("
                  + ", ".join(_TOP_KEYS) + f"), got {_describe(root.value)}")
    root.reject_unknown_keys(_TOP_KEYS)

    name_node = root.optional("problem")
    name = _parse_name(name_node) if name_node else _default_name(source)
    physics = root.get("physics", "elasticity", lambda n: n.choice(PHYSICS))
    mesh = _parse_mesh(root.require("mesh"), source)
    material_node = root.optional("material")
    material = _parse_material(material_node, mesh.dim, physics) if material_node else MaterialConfig()
    supports = tuple(_parse_support(n, mesh.dim, physics) for n in root.require("supports").items("support"))
    loads, load_cases = _parse_loading(root, mesh.dim, physics, optional=_needs_no_loads(root))
    if physics == "heat" and "springs" in root.value:
        root.child("springs").fail("springs act on displacements; physics: heat has none")
    springs = root.get("springs", (), lambda n: tuple(_parse_spring(item, mesh.dim)
                                                      for item in n.items("spring")))
    design = _parse_design(root.require("design"), mesh.dim, grid=mesh.file is None)
    n_cases = len(load_cases) or 1
    objective = root.get("objective", ResponseConfig(),
                         lambda n: _parse_response(n, mesh.dim, False, n_cases))
    constraints = root.get("constraints", (), lambda n: tuple(
        _parse_response(item, mesh.dim, True, n_cases) for item in n.items("constraint")))
    optimizer_node = root.optional("optimizer")
    optimizer = _parse_optimizer(optimizer_node) if optimizer_node else OptimizerConfig()
    solver = root.get("solver", Spec("auto", SOLVERS["auto"].defaults), _parse_solver)
    checkpoint = root.get("checkpoint", CheckpointConfig(), _parse_checkpoint)
    if physics == "heat" and "point_masses" in root.value:
        root.child("point_masses").fail("point masses act on displacements; physics: heat has none")
    point_masses = root.get("point_masses", (), lambda n: tuple(_parse_point_mass(item, mesh.dim)
                                                                for item in n.items("point mass")))
    config = ProblemConfig(name, mesh, material, supports, loads, design, optimizer, solver, source,
                           objective, constraints, load_cases=load_cases, springs=springs,
                           checkpoint=checkpoint, physics=physics, point_masses=point_masses)
    if physics == "heat":
        for response in (config.objective,) + config.constraints:
            if response.type in _DISPLACEMENT_RESPONSES:
                YamlNode(response.type, f"{response.path}.type").fail(
                    f"{response.type} needs displacements; physics: heat has temperatures (use "
                    "compliance, the thermal compliance, or python)")
    if optimizer.type == "oc" and (objective.type != "compliance"
                                   or [c.type for c in config.constraint_list] != ["volume"]):
        YamlNode(optimizer.type, "optimizer.type").fail(
            "oc handles compliance with one volume constraint; use type: mma (or lbfgs) for other "
            "formulations")
    if design.projection is not None and design.filter.type == "sensitivity":
        YamlNode(design.filter.type, "design.filter.type").fail(
            "projection needs a density filter (the sensitivity filter leaves the densities unfiltered)")
    if design.projection is not None and design.projection.robust is not None:
        _check_robust(config)
    _check_mg_levels(config)
    return config


def _needs_no_loads(root: YamlNode) -> bool:
    """Whether the file's objective and constraints (as written) all do without a load."""
    def kind(value):
        return value.get("type") if isinstance(value, Mapping) else value
    objective = root.value.get("objective", "compliance")
    constraints = root.value.get("constraints") or []
    types = [kind(objective)] + [kind(c) for c in constraints if isinstance(constraints, list)]
    return isinstance(constraints, list) and all(t in _LOAD_FREE_RESPONSES for t in types)


def _parse_point_mass(node: YamlNode, dim: int) -> PointMassConfig:
    node.mapping(_POINT_MASS_KEYS)
    return PointMassConfig(at=_parse_selection(node.require("at"), dim),
                           mass=_read(node, POINT_MASS, "mass"), path=node.path)


def _check_mg_levels(config: ProblemConfig) -> None:
    """solver.levels of mg within what the grid allows (femopt.solvers.mg_hierarchy.max_levels)."""
    levels = config.solver.options.get("levels")
    if config.solver.type != "mg" or not isinstance(levels, int) or config.mesh.file is not None:
        return  # auto, and mg on a mesh file, which the solver's factory refuses
    most = max_levels(config.mesh.grid)
    if levels > most:
        YamlNode(levels, "solver.levels").fail(
            f"at most {most} for this {' × '.join(map(str, config.mesh.grid))} grid (each level halves "
            f"every axis; the {_ordinal(most)} is a single element), got {levels}")


def _ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 4 -> '4th', 12 -> '12th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _check_robust(config: ProblemConfig) -> None:
    """The robust formulation is the bound formulation of compliance with a volume limit,
    solved by MMA (femopt.loop.robust)."""
    if config.optimizer.type != "mma":
        YamlNode(config.optimizer.type, "optimizer.type").fail(
            "the robust formulation (design.projection.robust) minimizes the worst of three "
            "compliances as a bound (c_i <= z), which needs type: mma")
    if config.objective.type != "compliance" or [c.type for c in config.constraint_list] != ["volume"]:
        YamlNode(None, "design.projection.robust").fail(
            "the robust formulation handles compliance with one volume constraint")
    if config.design.projection.preserve_volume:
        YamlNode(True, "design.projection.preserve_volume").fail(
            "cannot be used with robust: the three thresholds are fixed (the volume is kept by "
            "the dilated design's rescaled limit)")


def _parse_loading(root: YamlNode, dim: int, physics: str = "elasticity",
                   optional: bool = False) -> tuple[tuple[LoadConfig, ...], tuple[LoadCaseConfig, ...]]:
    """``loads: [...]`` (one load case) or ``load_cases: [{weight, loads}, ...]``; exactly one
    (or neither when ``optional``: a frequency problem has no load)."""
    loads_node, cases_node = root.optional("loads"), root.optional("load_cases")
    if loads_node is not None and cases_node is not None:
        cases_node.fail("give either 'loads' (one load case) or 'load_cases', not both")
    if cases_node is None:
        if loads_node is None:
            if optional:
                return (), ()
            root.fail("missing required key 'loads' (or 'load_cases' for several load cases)")
        return tuple(_parse_load(n, dim, physics) for n in loads_node.items("load")), ()
    cases = []
    for node in cases_node.items("load case"):
        node.mapping(_LOAD_CASE_KEYS)
        cases.append(LoadCaseConfig(
            loads=tuple(_parse_load(n, dim, physics) for n in node.require("loads").items("load")),
            weight=_read(node, LOAD_CASE, "weight"),
            path=node.path))
    return (), tuple(cases)


def _parse_spring(node: YamlNode, dim: int) -> SpringConfig:
    node.mapping(_SPRING_KEYS)
    return SpringConfig(at=_parse_selection(node.require("at"), dim),
                        component=_parse_component(node.require("component"), dim),
                        stiffness=_read(node, SPRING, "stiffness"), path=node.path)


def _parse_name(node: YamlNode) -> str:
    name = node.string()
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0\n"):
        node.fail(f"must be a plain name usable as a folder name, got {_show(name)}")
    return name


def _default_name(source: str) -> str:
    stem = Path(source).stem if source and not source.startswith("<") else ""
    return stem or "problem"


def _parse_mesh(node: YamlNode, source: str) -> MeshConfig:
    """``{grid, size}`` (a generated grid) or ``{file, scale}`` (a mesh file); exactly one."""
    node.mapping(_MESH_KEYS)
    if ("grid" in node.value) == ("file" in node.value):
        node.fail("give exactly one of 'grid' (a generated grid of elements) or 'file' (a mesh file)")
    misplaced, owner = ("scale", "file") if "grid" in node.value else ("size", "grid")
    cad_file = "file" in node.value and is_cad(str(node.value["file"]))  # size: its element size
    if misplaced in node.value and not cad_file:
        node.child(misplaced).fail(f"only applies to a mesh given by '{owner}'")
    for key in ("min_size", "order"):
        if key in node.value and not cad_file:
            node.child(key).fail(f"only applies to a mesh from a CAD file ({', '.join(CAD_SUFFIXES)})")
    if "file" in node.value:
        return _parse_mesh_file(node, source)
    grid = node.require("grid").int_list(counts=(2, 3), positive=True)
    size_node = node.optional("size")
    if size_node is None:
        size = tuple(float(n) for n in grid)
    else:
        size = tuple(_length(n) for n in size_node.vector(len(grid), "positive numbers"))
    return MeshConfig(grid, size)


def _length(node: YamlNode) -> float:
    """A grid's extent along one axis, within what femopt computes with (COORDINATE_RANGE)."""
    value, (lo, hi) = node.number(gt=0), COORDINATE_RANGE
    if not lo <= value <= hi:
        node.fail(f"must be between {lo:g} and {hi:g} length units (element volumes, stiffness and "
                  f"compliance must stay inside double precision; choose other units), got {_show(node.value)}")
    return value


def _parse_mesh_file(node: YamlNode, source: str) -> MeshConfig:
    """Read the mesh file once here: its dimension decides how the rest of the file reads.
    A relative path is relative to the problem file's folder (the current folder for a
    problem given as data)."""
    file_node = node.child("file")
    text = file_node.string()
    if not text.strip():
        file_node.fail("expected the path of a mesh file, got an empty string")
    scale = _read(node, MESH, "scale")
    folder = Path(source).parent if not source.startswith("<") else Path.cwd()
    path = folder / Path(text).expanduser()
    cad = _parse_cad_options(node) if is_cad(path) else ()
    try:
        mesh = read_mesh(path, scale, **dict(cad))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except MeshError as e:
        file_node.fail(str(e))
    except OSError as e:  # changed or removed after meshio read it
        file_node.fail(f"{path}: cannot read the mesh file: {e.strerror or e}")
    return MeshConfig(file=str(path.resolve()), scale=scale, file_dim=mesh.dim, digest=digest, cad=cad)


def _parse_cad_options(node: YamlNode) -> tuple:
    """A CAD file's mesh options as ((key, value), ...): ``size`` (the element size gmsh
    aims at, in the file's units; required), ``min_size`` (0: none) and ``order`` (1: T4/T3,
    2: T10/T6)."""
    size = node.require("size").positive()
    min_size = node.get("min_size", 0.0, lambda n: n.number(ge=0))
    if min_size > size:
        node.child("min_size").fail(f"{min_size:g} is larger than size ({size:g})")
    order = node.get("order", 1, lambda n: n.integer(ge=1))
    if order > 2:
        node.child("order").fail(f"must be 1 (linear elements) or 2 (quadratic), got {order}")
    return (("size", size), ("min_size", min_size), ("order", order))


def _parse_material(node: YamlNode, dim: int, physics: str = "elasticity") -> MaterialConfig:
    if physics == "heat":
        return _parse_heat_material(node, dim)
    if isinstance(node.value, Mapping):
        _reject_other_physics(node, [k for k in _HEAT_MATERIAL_KEYS if k not in _MATERIAL_KEYS], "heat")
    node.mapping(_MATERIAL_KEYS)
    E, nu, Emin, density = (_read(node, MATERIAL, key) for key in ("E", "nu", "Emin", "density"))
    if Emin >= E:
        node.child("Emin").fail(f"must be smaller than E ({_num(E)}), got {_num(Emin)}")
    _check_void_ratio(node, "Emin", Emin, "E", E, zero_ok=True, typical="1e-9")
    return MaterialConfig(E, nu, Emin, _parse_thickness(node, dim), density=density)


def _parse_thickness(node: YamlNode, dim: int) -> float:
    """The thickness of the material mapping ``node`` (2D meshes only)."""
    if "thickness" in node.value and dim not in MATERIAL.keys["thickness"].dims:
        node.child("thickness").fail(f"only applies to 2D meshes; this mesh is {dim}D")
    return _read(node, MATERIAL, "thickness")


def _parse_heat_material(node: YamlNode, dim: int) -> MaterialConfig:
    """physics: heat's ``{k, kmin, thickness}``: the conductivities of solid and void."""
    if isinstance(node.value, Mapping):
        _reject_other_physics(node, [k for k in _MATERIAL_KEYS if k not in _HEAT_MATERIAL_KEYS], "elasticity")
    node.mapping(_HEAT_MATERIAL_KEYS)
    k, kmin = _read(node, MATERIAL, "k"), _read(node, MATERIAL, "kmin")
    if kmin >= k:
        node.child("kmin").fail(f"must be smaller than k ({_num(k)}), got {_num(kmin)}")
    _check_void_ratio(node, "kmin", kmin, "k", k, zero_ok=False, typical="1e-3")
    return MaterialConfig(k=k, kmin=kmin, thickness=_parse_thickness(node, dim))


def _check_void_ratio(node: YamlNode, key: str, value: float, solid_key: str, solid: float,
                      zero_ok: bool, typical: str) -> None:
    """The void's modulus (or conductivity) ``value`` at least MAGNITUDES[0] × the solid's:
    a smaller one leaves void regions with stiffness that underflows in K's products.
    typical: the usual ratio, suggested when the value is the default."""
    if (value != 0 or not zero_ok) and value < MAGNITUDES[0] * solid:
        given = "" if key in node.value else f" (the default; set it near {typical} × {solid_key})"
        node.child(key).fail(f"must be {'0 or ' if zero_ok else ''}at least {MAGNITUDES[0]:g} × "
                             f"{solid_key} ({_num(solid)}), got {_num(value)}{given}")


def _reject_other_physics(node: YamlNode, keys, physics: str) -> None:
    """Fail at the first of ``keys`` that ``node`` (a mapping) holds: they belong to ``physics``."""
    for key in keys:
        if key in node.value:
            hint = (" (this problem has physics: heat; its material is {k, kmin, thickness})"
                    if physics == "elasticity" else " (add physics: heat at the top level of the file)")
            node.child(key).fail(f"applies to physics: {physics} only{hint}")


def _parse_support(node: YamlNode, dim: int, physics: str = "elasticity") -> SupportConfig:
    node.mapping(_SUPPORT_KEYS)
    at = _parse_selection(node.require("at"), dim)
    fix_node = node.require("fix")
    fix = _parse_temperature(fix_node) if physics == "heat" else _parse_components(fix_node, dim)
    return SupportConfig(at, fix, node.path)


def _parse_temperature(node: YamlNode) -> tuple[int, ...]:
    """physics: heat's ``fix``: [t] (or t, or all): the temperature, component 0."""
    values = node.value if isinstance(node.value, list) and node.value else [node.value]
    for i, value in enumerate(values):
        item = node if not isinstance(node.value, list) else YamlNode(value, f"{node.path}[{i}]")
        if value not in ("t", "all"):
            item.fail(f"physics: heat has one component, the temperature t (fix: [t]); got {_show(value)}")
    return (0,)


def _parse_heat_load(node: YamlNode, dim: int) -> LoadConfig:
    """physics: heat's ``{at, <kind>: q}`` with exactly one kind of _HEAT_LOAD_KINDS; a flux
    needs a facet group in ``at``; a heat_source acts on the whole mesh without ``at``."""
    if isinstance(node.value, Mapping):
        for key in _LOAD_KINDS:
            if key in node.value:
                node.child(key).fail(f"a {key.replace('_', ' ')} has no meaning with physics: heat "
                                     "(use heat, nodal_heat, flux or heat_source)")
    node.mapping(_HEAT_LOAD_KEYS)
    given = [key for key in _HEAT_LOAD_KINDS if key in node.value]
    if len(given) != 1:
        kinds = ", ".join(f"{key!r} ({what})" for key, what in _HEAT_LOAD_KINDS.items())
        node.fail(f"give exactly one of {kinds}; got {len(given)}")
    kind = given[0]
    if kind != "heat_source" and "at" not in node.value:
        node.fail("missing required key 'at'")
    at = _parse_selection(node.child("at"), dim) if "at" in node.value else Selection(())
    if kind == "flux" and at.group is None:
        node.child("at").fail("a flux acts on facets: give a facet group ('group: NAME')")
    value = node.child(kind).magnitude()
    if kind == "flux":
        return LoadConfig(at, path=node.path, traction=(value,))
    if kind == "heat_source":
        return LoadConfig(at, path=node.path, source=value)
    return LoadConfig(at, (value,), per_node=kind == "nodal_heat", path=node.path)


def _parse_load(node: YamlNode, dim: int, physics: str = "elasticity") -> LoadConfig:
    """``{at, <kind>: value}`` with exactly one kind of _LOAD_KINDS; traction and pressure
    need a group (of facets) in ``at``. physics: heat reads _HEAT_LOAD_KINDS instead."""
    if physics == "heat":
        return _parse_heat_load(node, dim)
    if isinstance(node.value, Mapping):
        _reject_other_physics(node, list(_HEAT_LOAD_KINDS), "heat")
    node.mapping(_LOAD_KEYS)
    at = _parse_selection(node.require("at"), dim)
    given = [key for key in _LOAD_KINDS if key in node.value]
    if len(given) > 1:
        kinds = ", ".join(f"{key!r} ({what})" for key, what in _LOAD_KINDS.items())
        node.fail(f"give either {kinds}, not both ({' and '.join(map(repr, given))} given)")
    if not given:
        node.fail("missing required key 'force' (total force; or 'nodal_force' for a force on each node, "
                  "'traction' or 'pressure' on a facet group)")
    kind = given[0]
    value = node.child(kind)
    if kind in ("traction", "pressure") and at.group is None:
        node.child("at").fail(f"a {kind} acts on facets: give a facet group ('group: NAME')")
    if kind == "pressure":
        return LoadConfig(at, path=node.path, pressure=value.magnitude())
    vector = tuple(n.magnitude() for n in value.vector(dim, "numbers"))
    if kind == "traction":
        return LoadConfig(at, path=node.path, traction=vector)
    return LoadConfig(at, vector, per_node=kind == "nodal_force", path=node.path)


def _parse_components(node: YamlNode, dim: int) -> tuple[int, ...]:
    axes = AXES[:dim]
    if node.value == "all":
        return tuple(range(dim))
    if isinstance(node.value, str):
        items = [node]  # a single component: fix: x
    elif isinstance(node.value, list) and node.value:
        items = node.items("component")
    else:
        node.fail(f"expected a list of components ({', '.join(axes)}) or 'all', got {_describe(node.value)}")
    fixed = set()
    for item in items:
        if item.value == "t":
            item.fail("t is the temperature of physics: heat (add physics: heat at the top level); "
                      f"fix {', '.join(axes)} or 'all'")
        if isinstance(item.value, str) and item.value in AXES[dim:]:
            item.fail(f"a {dim}D mesh has no {item.value} component (use {', '.join(axes)} or 'all')")
        fixed.add(axes.index(item.choice(axes)))
    return tuple(sorted(fixed))


def _parse_response(node: YamlNode, dim: int, constraint: bool, n_cases: int = 1) -> ResponseConfig:
    """``compliance`` or ``{type: ..., ...}``; constraints also need ``limit``."""
    if not isinstance(node.value, (str, Mapping)) or (constraint and isinstance(node.value, str)):
        node.fail(f"expected a response name or a mapping with 'type', got {_describe(node.value)}")
    kind = node.value.get("type") if isinstance(node.value, Mapping) else node.value
    bound = LOWER_BOUNDS.get(kind) if isinstance(kind, str) else None   # a wrong type: _parse_spec names it
    if bound is not None and constraint and "limit" in node.value:
        node.child("limit").fail(f"a {node.value['type']} constraint is a lower bound: give {bound} instead")
    extra = ("limit",) if constraint and bound is None else ()
    spec = _parse_spec(node, RESPONSES, dim, extra_keys=extra, n_cases=n_cases)
    if bound is not None:  # frequency, buckling: a lower bound (min_hz, min_factor) instead of a limit
        if constraint and spec.options[bound] is None:
            node.fail(f"missing required key {bound!r} (a {spec.type} constraint is a lower bound)")
        if not constraint and spec.options[bound] is not None:
            node.child(bound).fail(f"bounds a {spec.type} constraint; as the objective {spec.type} is "
                                   "maximized (leave it out, or move the response to constraints)")
        return ResponseConfig(spec.type, spec.options, path=node.path)
    return ResponseConfig(spec.type, spec.options, path=node.path,
                          limit=_read(node, CONSTRAINT, "limit") if constraint else None)


def _parse_solver(node: YamlNode) -> Spec:
    """``solver: NAME`` or ``solver: {type: NAME, <option>: value, ...}``."""
    return _parse_spec(node, SOLVERS)


def _parse_checkpoint(node: YamlNode) -> CheckpointConfig:
    node.mapping(_CHECKPOINT_KEYS)
    return CheckpointConfig(every=_read(node, CHECKPOINT, "every"), seconds=_read(node, CHECKPOINT, "seconds"))


def _parse_optimizer(node: YamlNode) -> OptimizerConfig:
    """``{type: NAME (default oc), max_iterations, tolerance, <the optimizer's options>}``."""
    if not isinstance(node.value, Mapping):
        node.fail(f"expected a mapping (type, max_iterations, tolerance and the optimizer's "
                  f"options), got {_describe(node.value)}")
    spec = _parse_spec(node, OPTIMIZERS, extra_keys=_OPTIMIZER_LOOP_KEYS, default="oc")
    return OptimizerConfig(type=spec.type, options=spec.options, max_iterations=_read(node, OPTIMIZER, "max_iterations"),
                           tolerance=_read(node, OPTIMIZER, "tolerance"))
