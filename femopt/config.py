"""Problem description: YAML file -> frozen, validated dataclasses.

Every mistake in a problem file becomes one :class:`~femopt.errors.ConfigError`
whose one-line message names the file, the path of the offending value and
what is wrong with it, e.g.::

    mbb.yaml: loads[1].force: expected 2 numbers, got 3
    mbb.yaml: design.volume_fraction: must be in (0, 1], got 1.5
    mbb.yaml: optimizer.tyep: unknown key (did you mean 'type'?)

This module validates values and their shapes only; turning selections into
nodes is the build layer's job (:mod:`femopt.build`), which reports its own
findings through :meth:`ProblemConfig.error` in the same format.

Reading is done by :class:`_Node`, a value together with its path, whose
methods check one thing each and fail with the path attached. The names of
filters, optimizers, interpolations, responses, solvers and passive shapes, and
the options each takes, come from their registries (:mod:`femopt.registry`): a new
implementation or option is registered beside its code, not here. A new key of a
fixed section is one line in the section's ``_parse_*`` function plus its name in
the section's key tuple.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .design import FILTERS, INTERPOLATIONS, PASSIVE_SHAPES, Schedule
from .eigen_responses import LOWER_BOUNDS
from .errors import ConfigError, MeshError
from .mesh.io import read_mesh
from .objectives import RESPONSES
from .optimizers import OPTIMIZERS
from .registry import Entry, Option
from .solvers import SOLVERS

AXES = ("x", "y", "z")
PASSIVE_TYPES = ("solid", "void")
PHYSICS = ("elasticity", "heat")   # what the field is: displacements, or a temperature

# Allowed keys per section, in the order they are documented.
_TOP_KEYS = ("problem", "physics", "mesh", "material", "supports", "loads", "load_cases", "springs", "design",
             "objective", "constraints", "optimizer", "solver", "checkpoint", "point_masses")
_MESH_KEYS = ("grid", "size", "file", "scale")
_MATERIAL_KEYS = ("E", "nu", "Emin", "thickness", "density")
_HEAT_MATERIAL_KEYS = ("k", "kmin", "thickness")   # physics: heat
_SUPPORT_KEYS = ("at", "fix")
_LOAD_KEYS = ("at", "force", "nodal_force", "traction", "pressure")
# What each kind of load is, for messages (the keys of _LOAD_KEYS after "at").
_LOAD_KINDS = {"force": "total", "nodal_force": "per node", "traction": "per unit area of a facet group",
               "pressure": "normal, on a facet group"}
# physics: heat's loads (LoadConfig: heat and nodal_heat as a 1-entry force, flux as a
# 1-entry traction, heat_source as source); ``at`` may be left out for a heat_source.
_HEAT_LOAD_KINDS = {"heat": "total, split equally over the nodes", "nodal_heat": "per node",
                    "flux": "per unit area of a facet group", "heat_source": "per unit volume of the cells"}
_HEAT_LOAD_KEYS = ("at",) + tuple(_HEAT_LOAD_KINDS)
_LOAD_CASE_KEYS = ("weight", "loads")
_SPRING_KEYS = ("at", "component", "stiffness")
_POINT_MASS_KEYS = ("at", "mass")
_DESIGN_KEYS = ("volume_fraction", "penalty", "interpolation", "filter", "projection", "passive")
_SCHEDULE_KEYS = ("start", "end", "every", "factor", "step")
_PROJECTION_KEYS = ("beta", "eta", "preserve_volume", "robust")
_ROBUST_KEYS = ("delta_eta", "update_every")
_OPTIMIZER_LOOP_KEYS = ("max_iterations", "tolerance")   # the loop's, whatever the optimizer
_CHECKPOINT_KEYS = ("every", "seconds")


# --------------------------------------------------------------------------
# Dataclasses


@dataclass(frozen=True)
class Selection:
    """Nodes whose coordinates lie in every ``(axis, lo, hi)`` range (bounds included)
    and, with ``group``, that belong to the mesh's group of that name.

    ``x: 0`` is stored as ``("x", 0.0, 0.0)``.  Axes appear at most once, in
    x, y, z order; axes not mentioned are unconstrained.
    """

    ranges: tuple[tuple[str, float, float], ...]
    group: str | None = None  # a named group of a mesh file (gmsh physical group, meshio set)

    def __str__(self) -> str:
        parts = [f"{a}: {_num(lo)}" if lo == hi else f"{a}: [{_num(lo)}, {_num(hi)}]"
                 for a, lo, hi in self.ranges]
        if self.group is not None:
            parts.insert(0, f"group: {self.group}")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class MeshConfig:
    """A generated grid (``grid``, ``size``) or a mesh file (``file``, ``scale``)."""

    grid: tuple[int, ...] = ()    # elements per axis: (nx, ny) or (nx, ny, nz); () for a file
    size: tuple[float, ...] = ()  # physical extent per axis, same length as grid
    file: str | None = None       # the mesh file's absolute path
    scale: float = 1.0            # the file's coordinates are multiplied by it (0.001: mm -> m)
    file_dim: int = 0             # the file mesh's dimension, read when the problem is parsed
    digest: str = ""              # sha256 of the file's bytes: the fingerprint follows its contents

    @property
    def dim(self) -> int:
        return self.file_dim if self.file is not None else len(self.grid)


@dataclass(frozen=True)
class MaterialConfig:
    E: float = 1.0
    nu: float = 0.3
    Emin: float = 1e-9
    thickness: float = 1.0    # 2D only
    k: float = 1.0            # physics: heat: conductivity of the solid (power / (length · temperature))
    kmin: float = 1e-3        # physics: heat: conductivity of void (> 0 keeps K nonsingular)
    density: float = 1.0      # mass per unit volume of the solid (frequency responses)


@dataclass(frozen=True)
class SupportConfig:
    at: Selection
    fix: tuple[int, ...]      # fixed components, sorted: 0 = x, 1 = y, 2 = z
    path: str = ""            # e.g. "supports[1]", for later messages


@dataclass(frozen=True)
class LoadConfig:
    """One load: ``force`` (a total; on a facet group a uniform traction of that total),
    ``nodal_force`` (``per_node``), ``traction`` or ``pressure`` — exactly one."""

    at: Selection
    force: tuple[float, ...] = ()  # one entry per axis; () for a traction or pressure
    per_node: bool = False    # False: total force split equally over the nodes; True: on each node
    path: str = ""            # e.g. "loads[0]"
    traction: tuple[float, ...] = ()  # force per unit area of the facets, one entry per axis
    pressure: float | None = None     # force per unit area normal to the facets, into the body
    # physics: heat: heat / nodal_heat are force = (q,), flux is traction = (q,) (heat per unit
    # area flowing in), and this is a heat_source: power per unit volume in the cells of ``at``.
    source: float | None = None


@dataclass(frozen=True)
class LoadCaseConfig:
    """One load case: its loads act together; compliance sums ``weight`` × the case's compliance."""

    loads: tuple[LoadConfig, ...]
    weight: float = 1.0
    path: str = ""            # e.g. "load_cases[1]"


@dataclass(frozen=True)
class SpringConfig:
    """A grounded linear spring of ``stiffness`` on component ``component`` of each selected node,
    added to K's diagonal (independent of the design)."""

    at: Selection
    component: int            # 0 = x, 1 = y, 2 = z
    stiffness: float          # force per length unit, on each selected node
    path: str = ""            # e.g. "springs[0]"


@dataclass(frozen=True)
class PointMassConfig:
    """A non-structural mass (frequency responses), split equally over the selected nodes and
    acting in every direction."""

    at: Selection
    mass: float
    path: str = ""            # e.g. "point_masses[0]"


@dataclass(frozen=True)
class Spec:
    """A registered implementation chosen by name, with its options (defaults filled in).

    ``filter: {type: density, radius: 2}`` is ``Spec("density", {"radius": 2.0})``.
    """

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectionConfig:
    """Heaviside projection of the filtered densities (:mod:`femopt.design.projection`)."""

    beta: float | Schedule = 1.0      # sharpness, a constant or a Schedule
    eta: float = 0.5                  # threshold (first guess when preserve_volume)
    preserve_volume: bool = False     # choose η per evaluation: projected volume = filtered volume
    robust: RobustConfig | None = None  # three realizations η ± Δη (femopt.robust)


@dataclass(frozen=True)
class RobustConfig:
    """The robust formulation (:mod:`femopt.robust`): eroded η + Δη, blueprint η, dilated η − Δη."""

    delta_eta: float = 0.2            # in (0, 0.5), and η ± Δη in (0, 1)
    update_every: int = 20            # iterations between updates of the dilated volume limit


@dataclass(frozen=True)
class PassiveRegionConfig:
    """Elements whose centers lie in a region, held at ``type`` (solid: ρ = 1, void: ρ = 0).

    shape: one of PASSIVE_SHAPES; options: that shape's (e.g. center, radius).
    """

    type: str                         # one of PASSIVE_TYPES
    shape: str
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""                    # e.g. "design.passive[0]"


@dataclass(frozen=True)
class DesignConfig:
    volume_fraction: float
    penalty: float | Schedule = 3.0   # SIMP exponent p or RAMP q; a constant or a Schedule
    filter: Spec = Spec("density", {"radius": 1.5})
    interpolation: str = "simp"       # one of INTERPOLATIONS
    projection: ProjectionConfig | None = None
    passive: tuple[PassiveRegionConfig, ...] = ()


@dataclass(frozen=True)
class OptimizerConfig:
    type: str = "oc"          # one of OPTIMIZERS
    options: Mapping[str, Any] = field(default_factory=lambda: dict(OPTIMIZERS["oc"].defaults))
    max_iterations: int = 1000
    tolerance: float = 0.01   # stop when max |Δx| < tolerance


@dataclass(frozen=True)
class ResponseConfig:
    """An objective or constraint: one of RESPONSES with its options (``at`` as a
    Selection). ``limit``: constraints only, L ≤ limit."""

    type: str = "compliance"
    options: Mapping[str, Any] = field(default_factory=dict)
    limit: float | None = None
    path: str = "objective"


@dataclass(frozen=True)
class CheckpointConfig:
    """A run with an output folder writes a checkpoint every ``every`` iterations or
    ``seconds`` seconds, whichever comes first."""

    every: int = 10
    seconds: float = 60.0


@dataclass(frozen=True)
class ProblemConfig:
    name: str
    mesh: MeshConfig
    material: MaterialConfig
    supports: tuple[SupportConfig, ...]
    loads: tuple[LoadConfig, ...]
    design: DesignConfig
    optimizer: OptimizerConfig
    solver: Spec              # one of SOLVERS with its options
    source: str               # the file it came from, or "<string>"
    objective: ResponseConfig = ResponseConfig()
    constraints: tuple[ResponseConfig, ...] = ()   # empty: volume ≤ design.volume_fraction
    load_cases: tuple[LoadCaseConfig, ...] = ()    # used instead of ``loads`` when given
    springs: tuple[SpringConfig, ...] = ()
    checkpoint: CheckpointConfig = CheckpointConfig()
    physics: str = "elasticity"   # one of PHYSICS
    point_masses: tuple[PointMassConfig, ...] = ()

    @property
    def cases(self) -> tuple[LoadCaseConfig, ...]:
        """The load cases; a plain ``loads`` list is one case of weight 1."""
        return self.load_cases or (LoadCaseConfig(self.loads, 1.0, "loads"),)

    @property
    def constraint_list(self) -> tuple[ResponseConfig, ...]:
        """The constraints, with the default volume constraint filled in."""
        return self.constraints or (ResponseConfig("volume", limit=self.design.volume_fraction,
                                                   path="constraints[0]"),)

    @property
    def fingerprint(self) -> str:
        """A hash of what determines the optimization's path: everything but the file's
        name, the iteration limit and the checkpoint settings (checkpoints carry it, so a
        changed problem is not resumed)."""
        essential = replace(self, source="", checkpoint=CheckpointConfig(),
                            mesh=replace(self.mesh, file=None),  # its digest stands for it
                            optimizer=replace(self.optimizer, max_iterations=0))
        return hashlib.sha256(repr(essential).encode()).hexdigest()[:16]

    def error(self, path: str, reason: str) -> ConfigError:
        """A ConfigError about ``path`` of this problem, e.g. ``error("supports[1].at", "selects no node")``."""
        return config_error(self.source, path, reason)


def config_error(source: str | None, path: str | None, reason: str) -> ConfigError:
    """``ConfigError("<source>: <path>: <reason>")`` with those three as attributes."""
    message = ": ".join(p for p in (source, path, reason) if p)
    err = ConfigError(message)
    err.source, err.path, err.reason = source, path, reason
    return err


# --------------------------------------------------------------------------
# Public API


def load_config(path: str | Path | Mapping) -> ProblemConfig:
    """Read and validate a problem file, or validate a problem given as a dict (the
    file's YAML as Python data).  Raises ConfigError."""
    if isinstance(path, Mapping):
        return parse_config(path)
    if not str(path).strip():
        raise config_error(None, None, "no problem file given (an empty path)")
    return parse_config(read_yaml(path), source=str(path))


def read_yaml(path: str | Path, referrer: str | None = None) -> Any:
    """The YAML data of the file ``path`` (numbers like ``1e-9`` read as numbers, duplicate
    keys rejected). Raises ConfigError: an unreadable file names ``referrer`` (the file
    that refers to it, if any), broken YAML names ``path`` and where."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise config_error(referrer, None, f"cannot read {source!r}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise config_error(referrer, None, f"cannot read {source!r}: not a UTF-8 text file") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        raise config_error(source, None, _yaml_problem(e)) from None
    except yaml.YAMLError as e:
        raise config_error(source, None, f"invalid YAML: {_one_line(str(e))}") from None


def parse_config(data: Any, source: str = "<string>") -> ProblemConfig:
    """Validate already-loaded YAML data (plain dicts, lists, scalars).  Raises ConfigError."""
    try:
        return _parse_problem(_Node(data, ""), source)
    except _Invalid as e:
        raise config_error(source, e.path, e.reason) from None


def with_overrides(config: ProblemConfig, max_iterations: int | None = None,
                   solver: str | None = None) -> ProblemConfig:
    """A copy of ``config`` with command-line overrides applied (None = keep).  Raises ConfigError."""
    try:
        if max_iterations is not None:
            n = _Node(max_iterations, "optimizer.max_iterations").integer(ge=1)
            config = replace(config, optimizer=replace(config.optimizer, max_iterations=n))
        if solver is not None:  # the file's options stay where the new solver takes them
            entry = SOLVERS[_Node(solver, "solver").choice(SOLVERS.names)]
            kept = {k: v for k, v in config.solver.options.items() if k in entry.options and v is not None}
            config = replace(config, solver=Spec(entry.name, {**entry.defaults, **kept}))
    except _Invalid as e:
        raise config_error("override", e.path, e.reason) from None
    return config


# --------------------------------------------------------------------------
# Sections


def _parse_problem(root: _Node, source: str) -> ProblemConfig:
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
    design = _parse_design(root.require("design"), mesh.dim)
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
                _Node(response.type, f"{response.path}.type").fail(
                    f"{response.type} needs displacements; physics: heat has temperatures (use "
                    "compliance, the thermal compliance, or python)")
    if optimizer.type == "oc" and (objective.type != "compliance"
                                   or [c.type for c in config.constraint_list] != ["volume"]):
        _Node(optimizer.type, "optimizer.type").fail(
            "oc handles compliance with one volume constraint; use type: mma (or lbfgs) for other "
            "formulations")
    if design.projection is not None and design.filter.type == "sensitivity":
        _Node(design.filter.type, "design.filter.type").fail(
            "projection needs a density filter (the sensitivity filter leaves the densities unfiltered)")
    if design.projection is not None and design.projection.robust is not None:
        _check_robust(config)
    return config


_DISPLACEMENT_RESPONSES = ("displacement", "displacement_target", "stress", "frequency", "buckling")
# Responses that need no load: a problem with only these may leave out loads.
_LOAD_FREE_RESPONSES = ("frequency", "volume")


def _needs_no_loads(root: _Node) -> bool:
    """Whether the file's objective and constraints (as written) all do without a load."""
    def kind(value):
        return value.get("type") if isinstance(value, Mapping) else value
    objective = root.value.get("objective", "compliance")
    constraints = root.value.get("constraints") or []
    types = [kind(objective)] + [kind(c) for c in constraints if isinstance(constraints, list)]
    return isinstance(constraints, list) and all(t in _LOAD_FREE_RESPONSES for t in types)


def _parse_point_mass(node: _Node, dim: int) -> PointMassConfig:
    node.mapping(_POINT_MASS_KEYS)
    return PointMassConfig(at=_parse_selection(node.require("at"), dim),
                           mass=node.require("mass").number(gt=0), path=node.path)


def _check_robust(config: ProblemConfig) -> None:
    """The robust formulation is the bound formulation of compliance with a volume limit,
    solved by MMA (femopt.robust)."""
    if config.optimizer.type != "mma":
        _Node(config.optimizer.type, "optimizer.type").fail(
            "the robust formulation (design.projection.robust) minimizes the worst of three "
            "compliances as a bound (c_i <= z), which needs type: mma")
    if config.objective.type != "compliance" or [c.type for c in config.constraint_list] != ["volume"]:
        _Node(None, "design.projection.robust").fail(
            "the robust formulation handles compliance with one volume constraint")
    if config.design.projection.preserve_volume:
        _Node(True, "design.projection.preserve_volume").fail(
            "cannot be used with robust: the three thresholds are fixed (the volume is kept by "
            "the dilated design's rescaled limit)")


def _parse_loading(root: _Node, dim: int, physics: str = "elasticity",
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
            weight=node.get("weight", 1.0, lambda n: n.number(gt=0)),
            path=node.path))
    return (), tuple(cases)


def _parse_spring(node: _Node, dim: int) -> SpringConfig:
    node.mapping(_SPRING_KEYS)
    return SpringConfig(at=_parse_selection(node.require("at"), dim),
                        component=_parse_component(node.require("component"), dim),
                        stiffness=node.require("stiffness").number(gt=0), path=node.path)


def _parse_component(node: _Node, dim: int) -> int:
    """One component name (x, y or z) as its index."""
    if isinstance(node.value, str) and node.value in AXES[dim:]:
        node.fail(f"a {dim}D mesh has no {node.value} component (use {', '.join(AXES[:dim])})")
    return AXES.index(node.choice(AXES[:dim]))


def _parse_name(node: _Node) -> str:
    name = node.string()
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0\n"):
        node.fail(f"must be a plain name usable as a folder name, got {_show(name)}")
    return name


def _default_name(source: str) -> str:
    stem = Path(source).stem if source and not source.startswith("<") else ""
    return stem or "problem"


def _parse_mesh(node: _Node, source: str) -> MeshConfig:
    """``{grid, size}`` (a generated grid) or ``{file, scale}`` (a mesh file); exactly one."""
    node.mapping(_MESH_KEYS)
    if ("grid" in node.value) == ("file" in node.value):
        node.fail("give exactly one of 'grid' (a generated grid of elements) or 'file' (a mesh file)")
    misplaced, owner = ("scale", "file") if "grid" in node.value else ("size", "grid")
    if misplaced in node.value:
        node.child(misplaced).fail(f"only applies to a mesh given by '{owner}'")
    if "file" in node.value:
        return _parse_mesh_file(node, source)
    grid = node.require("grid").int_list(counts=(2, 3), positive=True)
    size_node = node.optional("size")
    if size_node is None:
        size = tuple(float(n) for n in grid)
    else:
        size = tuple(n.number(gt=0) for n in size_node.vector(len(grid), "positive numbers"))
    return MeshConfig(grid, size)


def _parse_mesh_file(node: _Node, source: str) -> MeshConfig:
    """Read the mesh file once here: its dimension decides how the rest of the file reads.
    A relative path is relative to the problem file's folder (the current folder for a
    problem given as data)."""
    file_node = node.child("file")
    text = file_node.string()
    if not text.strip():
        file_node.fail("expected the path of a mesh file, got an empty string")
    scale = node.get("scale", 1.0, lambda n: n.positive())
    folder = Path(source).parent if not source.startswith("<") else Path.cwd()
    path = folder / Path(text).expanduser()
    try:
        mesh = read_mesh(path, scale)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except MeshError as e:
        file_node.fail(str(e))
    except OSError as e:  # changed or removed after meshio read it
        file_node.fail(f"{path}: cannot read the mesh file: {e.strerror or e}")
    return MeshConfig(file=str(path.resolve()), scale=scale, file_dim=mesh.dim, digest=digest)


def _parse_material(node: _Node, dim: int, physics: str = "elasticity") -> MaterialConfig:
    if physics == "heat":
        return _parse_heat_material(node, dim)
    if isinstance(node.value, Mapping):
        _reject_other_physics(node, [k for k in _HEAT_MATERIAL_KEYS if k not in _MATERIAL_KEYS], "heat")
    node.mapping(_MATERIAL_KEYS)
    d = MaterialConfig()
    E = node.get("E", d.E, lambda n: n.number(gt=0))
    nu = node.get("nu", d.nu, lambda n: n.number(gt=-1, lt=0.5))
    density = node.get("density", d.density, lambda n: n.number(gt=0))
    Emin = node.get("Emin", d.Emin, lambda n: n.number(ge=0))
    if Emin >= E:
        node.child("Emin").fail(f"must be smaller than E ({_num(E)}), got {_num(Emin)}")
    thickness_node = node.optional("thickness")
    thickness = d.thickness
    if thickness_node is not None:
        if dim != 2:
            thickness_node.fail(f"only applies to 2D meshes; this mesh is {dim}D")
        thickness = thickness_node.number(gt=0)
    return MaterialConfig(E, nu, Emin, thickness, density=density)


def _parse_heat_material(node: _Node, dim: int) -> MaterialConfig:
    """physics: heat's ``{k, kmin, thickness}``: the conductivities of solid and void."""
    if isinstance(node.value, Mapping):
        _reject_other_physics(node, [k for k in _MATERIAL_KEYS if k not in _HEAT_MATERIAL_KEYS], "elasticity")
    node.mapping(_HEAT_MATERIAL_KEYS)
    d = MaterialConfig()
    k = node.get("k", d.k, lambda n: n.number(gt=0))
    kmin = node.get("kmin", d.kmin, lambda n: n.number(gt=0))
    if kmin >= k:
        node.child("kmin").fail(f"must be smaller than k ({_num(k)}), got {_num(kmin)}")
    thickness_node = node.optional("thickness")
    if thickness_node is not None and dim != 2:
        thickness_node.fail(f"only applies to 2D meshes; this mesh is {dim}D")
    thickness = thickness_node.number(gt=0) if thickness_node is not None else d.thickness
    return MaterialConfig(k=k, kmin=kmin, thickness=thickness)


def _reject_other_physics(node: _Node, keys, physics: str) -> None:
    """Fail at the first of ``keys`` that ``node`` (a mapping) holds: they belong to ``physics``."""
    for key in keys:
        if key in node.value:
            hint = (" (this problem has physics: heat; its material is {k, kmin, thickness})"
                    if physics == "elasticity" else " (add physics: heat at the top level of the file)")
            node.child(key).fail(f"applies to physics: {physics} only{hint}")


def _parse_support(node: _Node, dim: int, physics: str = "elasticity") -> SupportConfig:
    node.mapping(_SUPPORT_KEYS)
    at = _parse_selection(node.require("at"), dim)
    fix_node = node.require("fix")
    fix = _parse_temperature(fix_node) if physics == "heat" else _parse_components(fix_node, dim)
    return SupportConfig(at, fix, node.path)


def _parse_temperature(node: _Node) -> tuple[int, ...]:
    """physics: heat's ``fix``: [t] (or t, or all): the temperature, component 0."""
    values = node.value if isinstance(node.value, list) and node.value else [node.value]
    for i, value in enumerate(values):
        item = node if not isinstance(node.value, list) else _Node(value, f"{node.path}[{i}]")
        if value not in ("t", "all"):
            item.fail(f"physics: heat has one component, the temperature t (fix: [t]); got {_show(value)}")
    return (0,)


def _parse_heat_load(node: _Node, dim: int) -> LoadConfig:
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
    value = node.child(kind).number()
    if kind == "flux":
        return LoadConfig(at, path=node.path, traction=(value,))
    if kind == "heat_source":
        return LoadConfig(at, path=node.path, source=value)
    return LoadConfig(at, (value,), per_node=kind == "nodal_heat", path=node.path)


def _parse_load(node: _Node, dim: int, physics: str = "elasticity") -> LoadConfig:
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
        return LoadConfig(at, path=node.path, pressure=value.number())
    vector = tuple(n.number() for n in value.vector(dim, "numbers"))
    if kind == "traction":
        return LoadConfig(at, path=node.path, traction=vector)
    return LoadConfig(at, vector, per_node=kind == "nodal_force", path=node.path)


def _parse_selection(node: _Node, dim: int) -> Selection:
    """``{x: 0, y: [0, 10]}``, ``{group: name}`` or both (the nodes that satisfy both)."""
    axes = AXES[:dim]
    if not isinstance(node.value, Mapping) or not node.value:
        node.fail(f"expected a mapping of coordinates ({', '.join(axes)}) to a number or a "
                  f"[min, max] range, and/or a group name (group), got {_describe(node.value)}")
    for key in node.value:
        if key in AXES[dim:]:
            node.child(key).fail(f"a {dim}D mesh has no {key} coordinate (use {', '.join(axes)})")
    node.reject_unknown_keys(axes + ("group",))
    group = node.get("group", None, _parse_group_name)
    ranges = []
    for axis in axes:
        child = node.optional(axis)
        if child is None:
            continue
        if isinstance(child.value, list):
            lo, hi = (n.number() for n in child.vector(2, "numbers [min, max]"))
            if lo > hi:
                child.fail(f"expected [min, max] with min <= max, got {_show(child.value)}")
        else:
            lo = hi = child.number(what="a number or a [min, max] range")
        ranges.append((axis, lo, hi))
    return Selection(tuple(ranges), group)


def _parse_group_name(node: _Node) -> str:
    """A group's name; an integer is the number of a gmsh physical group without a name."""
    if isinstance(node.value, int) and not isinstance(node.value, bool):
        return str(node.value)
    name = node.string()
    if not name:
        node.fail("expected a group name, got an empty string")
    return name


def _parse_components(node: _Node, dim: int) -> tuple[int, ...]:
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


def _parse_design(node: _Node, dim: int) -> DesignConfig:
    node.mapping(_DESIGN_KEYS)
    d = DesignConfig(volume_fraction=1.0)
    volume_fraction = node.require("volume_fraction").number(gt=0, le=1)
    interpolation = node.get("interpolation", d.interpolation, lambda n: n.choice(INTERPOLATIONS.names))
    penalty = _parse_option(node, "penalty", INTERPOLATIONS[interpolation].options["penalty"], dim)
    filter_ = node.get("filter", d.filter, lambda n: _parse_spec(n, FILTERS, dim, default=d.filter.type))
    projection = node.get("projection", None, _parse_projection)
    passive = node.get("passive", (), lambda n: tuple(_parse_passive(item, dim)
                                                      for item in n.items("passive region")))
    return DesignConfig(volume_fraction, penalty, filter_, interpolation, projection, passive)


def _parse_parameter(node: _Node, *, gt=None, ge=None) -> float | Schedule:
    """A number, or a continuation schedule ``{start, end, every, factor | step}``."""
    if not isinstance(node.value, Mapping):
        return node.number(gt=gt, ge=ge, what="a number or a schedule (start, end, every, factor or step)")
    node.mapping(_SCHEDULE_KEYS)
    start = node.require("start").number(gt=gt, ge=ge)
    end = node.require("end").number(gt=gt, ge=ge)
    if end < start:
        node.child("end").fail(f"must be >= start ({_num(start)}): continuation raises a parameter, "
                               f"got {_num(end)}")
    factor, step = node.optional("factor"), node.optional("step")
    if (factor is None) == (step is None):
        node.fail("give exactly one of 'factor' (multiply at each stage) or 'step' (add at each stage)")
    return Schedule(start, end, every=node.get("every", Schedule.every, lambda n: n.integer(ge=1)),
                    factor=factor.number(gt=1) if factor is not None else None,
                    step=step.number(gt=0) if step is not None else None)


def _parse_projection(node: _Node) -> ProjectionConfig:
    node.mapping(_PROJECTION_KEYS)
    d = ProjectionConfig()
    beta = node.get("beta", d.beta, lambda n: _parse_parameter(n, gt=0))
    eta = node.get("eta", d.eta, lambda n: n.number(gt=0, lt=1))
    return ProjectionConfig(
        beta=beta, eta=eta,
        preserve_volume=node.get("preserve_volume", d.preserve_volume, lambda n: n.boolean()),
        robust=node.get("robust", None, lambda n: _parse_robust(n, eta)),
    )


def _parse_robust(node: _Node, eta: float) -> RobustConfig:
    """``robust: {delta_eta: 0.2, update_every: 20}``; the thresholds η ± Δη must lie in (0, 1)."""
    node.mapping(_ROBUST_KEYS)
    d = RobustConfig()
    delta_eta = node.get("delta_eta", d.delta_eta, lambda n: n.number(gt=0, lt=0.5))
    if not (0.0 < eta - delta_eta and eta + delta_eta < 1.0):
        node.child("delta_eta").fail(f"the thresholds eta ± delta_eta ({_num(eta)} ± {_num(delta_eta)}) "
                                     "must lie in (0, 1)")
    return RobustConfig(delta_eta, node.get("update_every", d.update_every, lambda n: n.integer(ge=1)))


def _parse_passive(node: _Node, dim: int) -> PassiveRegionConfig:
    """``{type: solid | void, <shape>: {...}}`` with exactly one shape key."""
    node.mapping(("type",) + PASSIVE_SHAPES.names)
    kind = node.require("type").choice(PASSIVE_TYPES)
    shapes = [key for key in PASSIVE_SHAPES.names if key in node.value]
    usable = _alternatives(PASSIVE_SHAPES.names_for(dim))
    if len(shapes) != 1:
        node.fail(f"give exactly one shape ({usable}), got {len(shapes)}")
    entry = PASSIVE_SHAPES[shapes[0]]
    shape_node = node.child(entry.name)
    if dim not in entry.dims:
        shape_node.fail(f"not available on a {dim}D mesh (use {usable})")
    if list(entry.options) == [entry.name]:  # the shape's value is its one option (box: ranges)
        options = _parse_options(node, entry, dim)
    else:
        options = _parse_options(shape_node.mapping(tuple(entry.options)), entry, dim)
    if isinstance(options.get("box"), Selection) and options["box"].group is not None:
        shape_node.child("group").fail("a box holds coordinates; a group of cells is "
                                       "{type: solid | void, group: NAME}")
    return PassiveRegionConfig(kind, entry.name, options, path=node.path)


def _parse_spec(node: _Node, registry, dim: int | None = None, extra_keys: Sequence[str] = (),
                default: str | None = None, n_cases: int = 1) -> Spec:
    """``NAME`` or ``{type: NAME, <option>: value, ...}`` of ``registry`` (``type`` may be
    left out when there is a ``default``). An option that belongs to another implementation
    is named as such; ``extra_keys`` are allowed and left to the caller. dim: the mesh's
    (None: any), for implementations that apply to some dimensions only."""
    names = registry.names if dim is None else registry.names_for(dim)
    if not isinstance(node.value, Mapping):
        entry = registry[node.choice(names)]
        return Spec(entry.name, _parse_options(_Node({}, node.path), entry, dim, n_cases))
    has_type = "type" in node.value or default is None
    entry = registry[node.require("type").choice(names) if has_type else default]
    allowed = ("type",) + tuple(extra_keys) + tuple(entry.options)
    for key in node.value:
        takers = [other.name for other in registry if key in other.options]
        if key not in allowed and takers:
            node.child(key).fail(f"{entry.name} takes no option {key!r} (it applies to {', '.join(takers)})")
    node.reject_unknown_keys(allowed)
    return Spec(entry.name, _parse_options(node, entry, dim, n_cases))


def _parse_options(node: _Node, entry: Entry, dim: int | None, n_cases: int = 1) -> dict:
    """The registered options of ``entry`` read from the mapping ``node``, defaults filled
    in; a missing required option is an error."""
    return {key: _parse_option(node, key, option, dim, n_cases) for key, option in entry.options.items()}


def _parse_option(node: _Node, key: str, option: Option, dim: int, n_cases: int = 1) -> Any:
    """The value of ``node``'s child ``key`` as ``option`` describes it (its default if absent)."""
    child = node.optional(key)
    if child is None:
        if option.required:
            node.fail(f"missing required key {key!r}")
        return option.default
    return _OPTION_READERS[option.kind](child, option, dim, n_cases)


# How each kind of option (femopt.registry.KINDS) is read: (node, option, dim, n_cases) -> value.
_OPTION_READERS = {
    "number": lambda n, o, dim, cases: n.number(**o.bounds),
    "integer": lambda n, o, dim, cases: n.integer(**o.bounds),
    "count": lambda n, o, dim, cases: _parse_count(n, **o.bounds),
    "boolean": lambda n, o, dim, cases: n.boolean(),
    "string": lambda n, o, dim, cases: n.string(),
    "choice": lambda n, o, dim, cases: n.choice(o.choices),
    "parameter": lambda n, o, dim, cases: _parse_parameter(n, **o.bounds),
    "point": lambda n, o, dim, cases: tuple(v.number() for v in n.vector(dim, "numbers")),
    "component": lambda n, o, dim, cases: _parse_component(n, dim),
    "selection": lambda n, o, dim, cases: _parse_selection(n, dim),
    "group": lambda n, o, dim, cases: _parse_group_name(n),
    "case": lambda n, o, dim, cases: _parse_case(n, cases),
}


def _parse_count(node: _Node, ge: int | None = None):
    """An integer (at least ``ge``) or the word auto."""
    if node.value == "auto":
        return "auto"
    if isinstance(node.value, str):
        node.fail(f"must be auto or an integer, got {_show(node.value)}")
    return node.integer(ge=ge)


def _parse_response(node: _Node, dim: int, constraint: bool, n_cases: int = 1) -> ResponseConfig:
    """``compliance`` or ``{type: ..., ...}``; constraints also need ``limit``."""
    if not isinstance(node.value, (str, Mapping)) or (constraint and isinstance(node.value, str)):
        node.fail(f"expected a response name or a mapping with 'type', got {_describe(node.value)}")
    bound = LOWER_BOUNDS.get(node.value.get("type") if isinstance(node.value, Mapping) else node.value)
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
                          limit=node.require("limit").number(gt=0) if constraint else None)


def _parse_case(node: _Node, n_cases: int) -> int:
    case = node.integer(ge=0)
    if case >= n_cases:
        node.fail(f"must be < {n_cases}, the number of load cases (numbered from 0), got {case}")
    return case


def _parse_solver(node: _Node) -> Spec:
    """``solver: NAME`` or ``solver: {type: NAME, <option>: value, ...}``."""
    return _parse_spec(node, SOLVERS)


def _parse_checkpoint(node: _Node) -> CheckpointConfig:
    node.mapping(_CHECKPOINT_KEYS)
    d = CheckpointConfig()
    return CheckpointConfig(every=node.get("every", d.every, lambda n: n.integer(ge=1)),
                            seconds=node.get("seconds", d.seconds, lambda n: n.number(gt=0)))


def _parse_optimizer(node: _Node) -> OptimizerConfig:
    """``{type: NAME (default oc), max_iterations, tolerance, <the optimizer's options>}``."""
    if not isinstance(node.value, Mapping):
        node.fail(f"expected a mapping (type, max_iterations, tolerance and the optimizer's "
                  f"options), got {_describe(node.value)}")
    spec = _parse_spec(node, OPTIMIZERS, extra_keys=_OPTIMIZER_LOOP_KEYS, default="oc")
    d = OptimizerConfig()
    return OptimizerConfig(
        type=spec.type, options=spec.options,
        max_iterations=node.get("max_iterations", d.max_iterations, lambda n: n.integer(ge=1)),
        tolerance=node.get("tolerance", d.tolerance, lambda n: n.number(gt=0)),
    )


# --------------------------------------------------------------------------
# The path-carrying reader


class _Invalid(Exception):
    """Internal: a value at ``path`` is wrong; parse_config adds the source."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason


class _Node:
    """A YAML value and its path (``loads[1].force``); each check fails naming the path."""

    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: str):
        self.value, self.path = value, path

    def fail(self, reason: str) -> NoReturn:
        raise _Invalid(self.path, reason)

    # -- navigation --------------------------------------------------------

    def child(self, key: Any) -> _Node:
        value = self.value.get(key) if isinstance(self.value, Mapping) else None
        name = _key(key)
        return _Node(value, f"{self.path}.{name}" if self.path else name)

    def mapping(self, allowed: Sequence[str]) -> _Node:
        """Check this is a mapping with only ``allowed`` keys."""
        if not isinstance(self.value, Mapping):
            self.fail(f"expected a mapping ({', '.join(allowed)}), got {_describe(self.value)}")
        self.reject_unknown_keys(allowed)
        return self

    def reject_unknown_keys(self, allowed: Sequence[str]) -> None:
        for key in self.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1) if isinstance(key, str) else []
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
                self.child(key).fail(f"unknown key ({hint})")

    def optional(self, key: str) -> _Node | None:
        """The child ``key``, or None when it is absent (a present null is kept and rejected later)."""
        return self.child(key) if key in self.value else None

    def require(self, key: str) -> _Node:
        if key not in self.value:
            self.fail(f"missing required key {key!r}")
        return self.child(key)

    def get(self, key: str, default: Any, parse) -> Any:
        """``parse(child)`` if ``key`` is present, else ``default``."""
        node = self.optional(key)
        return default if node is None else parse(node)

    def items(self, noun: str) -> list[_Node]:
        """The entries of a non-empty list; ``noun`` names one entry in messages."""
        if not isinstance(self.value, list):
            self.fail(f"expected a list of {noun}s, got {_describe(self.value)}")
        if not self.value:
            self.fail(f"must list at least one {noun}")
        return [_Node(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def vector(self, count: int, noun: str) -> list[_Node]:
        """The entries of a list of exactly ``count`` values."""
        if not isinstance(self.value, list):
            self.fail(f"expected a list of {count} {noun}, got {_describe(self.value)}")
        if len(self.value) != count:
            self.fail(f"expected {count} {noun}, got {len(self.value)}")
        return [_Node(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    # -- scalars -----------------------------------------------------------

    def number(self, *, gt=None, ge=None, lt=None, le=None, what: str = "a number") -> float:
        """A finite real number (bool excluded) within the given bounds."""
        v = self.value
        try:
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        except OverflowError:  # an int too large for a float
            ok = False
        if not ok:
            self.fail(f"expected {what}, got {_describe(v)}")
        v = float(v)
        if ((gt is not None and not v > gt) or (ge is not None and not v >= ge)
                or (lt is not None and not v < lt) or (le is not None and not v <= le)):
            self.fail(f"must be {_bounds_text(gt, ge, lt, le)}, got {_show(self.value)}")
        return v

    def positive(self) -> float:
        return self.number(gt=0)

    def integer(self, *, ge: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"expected an integer, got {_describe(v)}")
        if ge is not None and v < ge:
            self.fail(f"must be >= {ge}, got {v}")
        return v

    def int_list(self, counts: Sequence[int], positive: bool = False) -> tuple[int, ...]:
        """A list of ``counts`` (e.g. 2 or 3) integers, reported as a whole when wrong."""
        v = self.value
        ok = (isinstance(v, list) and len(v) in counts
              and all(isinstance(x, int) and not isinstance(x, bool) and (x > 0 or not positive)
                      for x in v))
        if not ok:
            n = " or ".join(str(c) for c in counts)
            kind = "positive integers" if positive else "integers"
            self.fail(f"expected {n} {kind}, got {_show(v)}")
        return tuple(v)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_describe(self.value)}")
        return self.value

    def string(self) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected a string, got {_describe(self.value)}")
        return self.value

    def choice(self, options: Sequence[str]) -> str:
        v = self.value
        if v not in options or not isinstance(v, str):
            close = difflib.get_close_matches(v, options, n=1) if isinstance(v, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"must be one of {', '.join(options)}, got {_show(v)}{hint}")
        return v


# --------------------------------------------------------------------------
# Formatting


def _alternatives(names: Sequence[str]) -> str:
    """('box', 'sphere', 'cylinder') -> 'box, sphere or cylinder'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _num(x: float) -> str:
    """1.0 -> '1', 0.5 -> '0.5', 1e-09 -> '1e-09'."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _key(key: Any, limit: int = 60) -> str:
    """A mapping key as a path or message shows it: plain when it is a printable string,
    else quoted like a value (so that a key holding a newline keeps messages one line)."""
    return key if isinstance(key, str) and key.isprintable() else _show(key, limit)


def _show(v: Any, limit: int = 60) -> str:
    """A value the way it would look in YAML flow style, on one line."""
    if v is None:
        text = "null"
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, str):
        text = repr(v)
    elif isinstance(v, (int, float)):
        text = repr(v)
    elif isinstance(v, (list, tuple)):
        text = "[" + ", ".join(_show(x, limit) for x in v) + "]"
    elif isinstance(v, Mapping):
        text = "{" + ", ".join(f"{_key(k, limit)}: {_show(x, limit)}"
                               for k, x in v.items()) + "}"
    else:
        text = _one_line(repr(v))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(v: Any) -> str:
    """What kind of value this is, for 'expected X, got Y'."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"boolean {_show(v)}"
    if isinstance(v, str):
        return f"string {_show(v)}"
    if isinstance(v, list):
        return f"a list {_show(v)}"
    if isinstance(v, Mapping):
        return f"a mapping {_show(v)}"
    return _show(v)


def _bounds_text(gt, ge, lt, le) -> str:
    lo, hi = (gt if gt is not None else ge), (lt if lt is not None else le)
    if lo is not None and hi is not None:
        return f"in {'(' if gt is not None else '['}{_num(lo)}, {_num(hi)}{')' if lt is not None else ']'}"
    if lo is not None:
        return f"{'>' if gt is not None else '>='} {_num(lo)}"
    return f"{'<' if lt is not None else '<='} {_num(hi)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    problem = _one_line(e.problem or e.context or "syntax error")
    mark = e.problem_mark or e.context_mark
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


# --------------------------------------------------------------------------
# YAML loader


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-9`` as a number (as YAML 1.2 does) and rejects duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {_show(key)}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
