"""From a validated problem file to the objects of a run, once.

:func:`build` turns a :class:`femopt.config.ProblemConfig` into a :class:`Model`: the
mesh and its supports, loads and springs (a :class:`femopt.problem.Problem`), the
responses, the design stages (filter, projection, interpolation, passive elements,
continuation), the optimizer and the linear solver — each looked up in its registry.
Nothing below this module reads a configuration: the objects take numbers and arrays.
Selections that match nothing and structures that can still move are reported here,
as one-line errors naming the offending key.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from femopt.config import ProblemConfig, Selection
from femopt.design import (FILTERS, INTERPOLATIONS, Continuation, DesignSpace, HeavisideProjection,
                           IdentityProjection, region_mask)
from femopt.design.continuation import schedule_value
from femopt.design.robust import RobustThresholds
from femopt.errors import MeshError
from femopt.mesh import AXES, DofMap, Mesh, StructuredMesh, read_mesh
from femopt.objectives import RESPONSES
from femopt.optimizers import OPTIMIZERS
from femopt.problem import Problem, check_fixed_temperature, check_rigid_body_modes
from femopt.solvers import FALLBACK_NOTICE, SOLVERS, cholmod_available, make_solver, memory
from femopt.solvers.memory import MemoryEstimate
from femopt.topopt import Constraint, Evaluator, PhaseTimer


@dataclass
class Model:
    """Everything one run needs, built from a problem file (a fresh optimizer and solver:
    build again for another run).

    x0: (n_variables,) the starting design. schedules: the continuation parameters
    (penalty, and β with projection) as Schedules or numbers. notices: lines for the
    user about choices made here (e.g. the SciPy fallback solver). warnings: things in
    the problem that are allowed but probably not meant (loads dropped on supports, …).
    """

    config: ProblemConfig
    problem: Problem
    objective: object
    constraints: list[Constraint]
    filter: object
    projection: object
    material: object
    schedules: dict
    optimizer: object
    solver: object
    x0: np.ndarray
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    robust: object = None  # femopt.robust.RobustSettings with design.projection.robust, else None
    eigen: object = None   # femopt.eigen_evaluator.EigenSettings with a frequency or buckling response

    @property
    def mesh(self):
        return self.problem.mesh

    def evaluator(self, timer: PhaseTimer | None = None) -> Evaluator:
        """The Evaluator of this model (runs the solver's symbolic analysis); with
        ``robust``, a :class:`femopt.robust.RobustEvaluator` around one."""
        if self.eigen is not None:
            from femopt.eigen_build import eigen_evaluator
            return eigen_evaluator(self, timer)
        constraints = self.constraints
        if self.robust is not None:  # the realizations report their volume V as V/1 − 1
            constraints = [replace(constraints[0], limit=1.0)]
        evaluator = Evaluator(self.problem, self.solver, filter=self.filter, projection=self.projection,
                              material=self.material, objective=self.objective,
                              constraints=constraints, timer=timer)
        if self.robust is None:
            return evaluator
        from femopt.robust import RobustEvaluator
        return RobustEvaluator(evaluator, self.robust.thresholds, self.constraints[0].limit,
                               self.robust.update_every)

    def continuation(self) -> Continuation:
        return Continuation(self.schedules)


def build(config: ProblemConfig, *, rtol: float | None = None) -> Model:
    """The :class:`Model` of ``config``. rtol: overrides an iterative solver's tolerance
    (gradient checks solve to round-off). Raises ConfigError, SingularStiffnessError."""
    warnings = []
    problem = build_problem(config, warnings)
    objective, constraints = build_responses(config, problem)
    design = config.design
    space = DesignSpace(problem.passive, problem.mesh.n_elements)
    projection = IdentityProjection() if design.projection is None else HeavisideProjection(
        schedule_value(design.projection.beta, 0), design.projection.eta,
        design.projection.preserve_volume,
        volume_mask=space.active_mask if len(space.passive) else None)
    schedules = {"penalty": design.penalty}
    if design.projection is not None:
        schedules["beta"] = design.projection.beta
    solver = build_solver(config, problem, rtol=rtol)
    notices = []
    if config.solver.type == "auto" and solver.name == "superlu" and not cholmod_available():
        notices.append(FALLBACK_NOTICE)
    x0 = space.initial_design(design.volume_fraction,
                              None if problem.mesh.structured else problem.mesh.element_volumes)
    robust = design.projection.robust if design.projection is not None else None
    if robust is not None:  # the bound formulation's extra variable, and the length scale it imposes
        from femopt.robust import RobustSettings, initial_design
        robust = RobustSettings(RobustThresholds(robust.delta_eta, design.projection.eta), robust.update_every)
        x0 = initial_design(x0)
        notices.append(robust_notice(config, problem.mesh.dim))
    from femopt.eigen_build import eigen_settings, with_bound
    eigen = eigen_settings(config, problem, select_nodes)
    if eigen is not None:  # an eigenvalue objective's bound is one more variable
        x0 = with_bound(x0, objective)
    return Model(
        config=config, problem=problem, objective=objective, constraints=constraints,
        filter=FILTERS.create(design.filter.type, problem.mesh, **design.filter.options),
        projection=projection,
        material=INTERPOLATIONS.create(design.interpolation, problem.E, problem.Emin,
                                       penalty=schedule_value(design.penalty, 0)),
        schedules=schedules,
        optimizer=OPTIMIZERS.create(config.optimizer.type, 0.0, 1.0, **config.optimizer.options),
        solver=solver, notices=notices, x0=x0, robust=robust, eigen=eigen,
        warnings=warnings + design_warnings(config, problem))


def robust_notice(config: ProblemConfig, dim: int) -> str | None:
    """The robust formulation's thresholds and the minimum length scale they impose (one
    line), or None without ``design.projection.robust``."""
    design = config.design
    if design.projection is None or design.projection.robust is None:
        return None
    from femopt.robust import length_scale_notice

    thresholds = RobustThresholds(design.projection.robust.delta_eta, design.projection.eta)
    return length_scale_notice(design.filter.type, design.filter.options.get("radius"), thresholds, dim)


def build_solver(config: ProblemConfig, problem: Problem, rtol: float | None = None):
    """The configured linear solver; ``rtol`` overrides the tolerance of one that has it."""
    options = dict(config.solver.options)
    if rtol is not None and "rtol" in SOLVERS[config.solver.type].options:
        options["rtol"] = rtol
    mesh = problem.mesh
    return make_solver(config.solver.type, node_coords=mesh.node_coords, free_dofs=problem.free_dofs,
                       n_elements=mesh.n_elements, nodes_per_element=mesh.cell_type.n_nodes,
                       components=problem.n_components,
                       grid=mesh.grid if mesh.structured else None,  # for mg's hierarchy
                       element_matrix=problem.element_matrix, **options)


def memory_estimate(config: ProblemConfig, available: float | None = None) -> MemoryEstimate:
    """The estimated peak memory of ``config``'s run, from counts alone (nothing large is
    allocated), with the solver it will use: ``auto``'s choice for ``available`` bytes
    (default: what the machine has available now)."""
    mesh = build_mesh(config)
    counts = (mesh.dim, mesh.n_elements, mesh.n_nodes, mesh.cell_type.n_nodes)
    solver = config.solver.type
    components = 1 if config.physics == "heat" else None
    if solver == "auto":
        solver = memory.choose_solver(*counts, available, len(config.cases), structured=mesh.structured,
                                      components=components) or ("mg" if mesh.structured else "amg")
        solver = "superlu" if solver == "cholmod" and not cholmod_available() else solver
    assembled = config.solver.options.get("operator") == "assembled" if solver == "mg" else None
    return memory.estimate_memory(*counts, solver, n_cases=len(config.cases), assembled=assembled,
                                  components=components)


def check_memory(config: ProblemConfig, available: float | None = None) -> MemoryEstimate:
    """:func:`memory_estimate`, raising MemoryLimitError (one line, both figures) when it
    exceeds ``available`` bytes (default: what is available now)."""
    estimate = memory_estimate(config, available)
    memory.check_fits(estimate, available)
    return estimate


def build_mesh(config: ProblemConfig) -> Mesh:
    """The mesh of ``config``: its file's (read once, see :func:`femopt.mesh.read_mesh`),
    or a generated grid (its arrays are computed when first asked for)."""
    if config.mesh.file is not None:
        try:
            return read_mesh(config.mesh.file, config.mesh.scale)
        except MeshError as e:  # changed since the problem file was read
            raise config.error("mesh.file", str(e)) from None
    return StructuredMesh(tuple(config.mesh.grid), tuple(config.mesh.size))


def build_problem(config: ProblemConfig, warnings: list | None = None,
                  selections: list | None = None) -> Problem:
    """Resolve the selections of ``config`` on its mesh.

    Raises ConfigError for a selection that matches no node, passive solids larger than
    a volume limit, and SingularStiffnessError for supports that leave a rigid-body
    motion free. warnings: a list to append warning lines to (loads dropped on fixed
    DOFs). selections: a list to append (path, description) of each support's and
    load's nodes to, for ``femopt validate``.
    """
    warnings = [] if warnings is None else warnings
    selections = [] if selections is None else selections
    mesh = build_mesh(config)
    material = config.material
    heat = config.physics == "heat"  # one DOF per node, the temperature (README: Heat conduction)
    dofmap = DofMap(mesh, 1 if heat else mesh.dim)
    ke = (mesh.conduction_matrices(material.thickness) if heat
          else mesh.stiffness_matrices(material.nu, material.thickness))

    fixed = []
    for support in config.supports:
        nodes = select_nodes(config, mesh, support.at, f"{support.path}.at")
        fixed.append(dofmap.dofs(nodes, support.fix))
        components = "t" if heat else ", ".join(AXES[c] for c in support.fix)
        selections.append((support.path, f"{_count(len(nodes), 'node')}, fixed in {components}"))
    fixed_dofs = np.unique(np.concatenate(fixed))
    if heat:
        check_fixed_temperature(fixed_dofs)
    else:
        check_rigid_body_modes(mesh, fixed_dofs)

    cases = config.cases
    forces = np.zeros((dofmap.n_dofs, len(cases)))
    free = np.setdiff1d(np.arange(dofmap.n_dofs), fixed_dofs)
    for c, case in enumerate(cases):
        for load in case.loads:
            nodal, description = load_forces(config, mesh, load)
            forces[:, c] += nodal.ravel()  # node-major, as DofMap numbers them
            selections.append((load.path, description))
            dropped = _dropped_share(np.arange(dofmap.n_dofs), nodal.ravel(), fixed_dofs)
            if dropped:
                warnings.append(f"{load.path}: {dropped:.1%} of the load acts on fixed DOFs "
                                "(supported nodes) and is dropped")
        if case.loads and not forces[free, c].any():  # no loads at all: a frequency problem
            raise config.error(case.path if config.load_cases else "loads",
                               "every load acts on fixed DOFs or is zero; nothing to optimize")

    spring_dofs, spring_stiffness = [], []
    for spring in config.springs:
        dofs = dofmap.dofs(select_nodes(config, mesh, spring.at, f"{spring.path}.at"), spring.component)
        if not np.isin(dofs, free).any():
            raise config.error(f"{spring.path}.at",
                               "every selected DOF is fixed; a spring there does nothing")
        spring_dofs.append(dofs)
        spring_stiffness.append(np.full(len(dofs), spring.stiffness))
    return Problem(mesh, ke, fixed_dofs, forces, material.k if heat else material.E,
                   material.kmin if heat else material.Emin,
                   case_weights=np.array([case.weight for case in cases]),
                   spring_dofs=np.concatenate(spring_dofs) if spring_dofs else np.zeros(0, int),
                   spring_stiffness=np.concatenate(spring_stiffness) if spring_stiffness else np.zeros(0),
                   passive=_passive_densities(config, mesh), components=1 if heat else None,
                   nu=material.nu)


def load_forces(config: ProblemConfig, mesh, load) -> tuple[np.ndarray, str]:
    """((n_nodes, dim) the nodal forces of ``load``, where and how they act in words).

    A traction, a pressure and a total force on a facet group act on the facets
    (consistent nodal forces, :func:`femopt.loads.facet_forces`; the force as a uniform
    traction); other forces on the selected nodes, in equal shares or per node.
    physics: heat gives (n_nodes, 1) heat inputs (:func:`heat_loads`).
    """
    if config.physics == "heat":
        return heat_loads(config, mesh, load)
    path = f"{load.path}.at"
    on_facets = load.at.group in mesh.facet_groups and not load.per_node
    if not (load.traction or load.pressure is not None or on_facets):
        nodes = select_nodes(config, mesh, load.at, path)
        per_node = np.asarray(load.force, float) / (1 if load.per_node else len(nodes))
        nodal = np.zeros((mesh.n_nodes, mesh.dim))
        nodal[nodes] = per_node
        return nodal, f"{_count(len(nodes), 'node')}, force per node [{_numbers(per_node)}]"
    from femopt.loads import facet_forces, facet_measure

    facets = select_facets(config, mesh, load.at, path)
    thickness = config.material.thickness
    try:
        if load.pressure is not None:
            what = f"pressure {load.pressure:g}"
            nodal = facet_forces(mesh, facets, pressure=load.pressure, thickness=thickness)
        else:
            traction = (np.asarray(load.traction, float) if load.traction else
                        np.asarray(load.force, float) / facet_measure(mesh, facets, thickness))
            what = (f"traction [{_numbers(traction)}]" if load.traction else
                    f"force [{_numbers(load.force)}] as the traction [{_numbers(traction)}]")
            nodal = facet_forces(mesh, facets, traction=traction, thickness=thickness)
    except MeshError as e:  # e.g. an interior facet in the group
        raise config.error(f"{path}.group", str(e)) from None
    return nodal, f"{_count(len(facets), 'facet')}, {_count(len(np.unique(facets)), 'node')}, {what}"


def heat_loads(config: ProblemConfig, mesh, load) -> tuple[np.ndarray, str]:
    """((n_nodes, 1) the nodal heat inputs (power units) of a physics: heat ``load``, and
    where and how it acts in words): heat on the selected nodes (a total in equal shares,
    or per node), a flux on the facets of a group, or a heat source in the cells whose
    centers lie in ``at`` (all cells without it), both integrated consistently with the
    shape functions (:func:`femopt.loads.facet_flux`, :func:`femopt.loads.source_heat`)."""
    from femopt.loads import facet_flux, source_heat

    path, thickness = f"{load.path}.at", config.material.thickness
    if load.source is not None:
        cells = select_cells(config, mesh, load.at, path)
        nodal = source_heat(mesh, cells, load.source, thickness)
        return nodal[:, None], f"{_count(len(cells), 'cell')}, heat source {load.source:g} per unit volume"
    if load.traction:
        facets = select_facets(config, mesh, load.at, path)
        try:
            nodal = facet_flux(mesh, facets, load.traction[0], thickness)
        except MeshError as e:  # e.g. an interior facet in the group
            raise config.error(f"{path}.group", str(e)) from None
        return nodal[:, None], (f"{_count(len(facets), 'facet')}, {_count(len(np.unique(facets)), 'node')}, "
                                f"flux {load.traction[0]:g} per unit area")
    nodes = select_nodes(config, mesh, load.at, path)
    per_node = load.force[0] / (1 if load.per_node else len(nodes))
    nodal = np.zeros((mesh.n_nodes, 1))
    nodal[nodes] = per_node
    return nodal, f"{_count(len(nodes), 'node')}, heat per node {per_node:g}"


def select_cells(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """(n,) the cells whose centers lie in ``selection``'s ranges and, with a group, that
    belong to that cell group; every cell for an empty selection; a ConfigError about
    ``path`` when there are none."""
    centers = mesh.element_centers
    tolerance = 1e-3 * mesh.characteristic_size
    inside = np.ones(mesh.n_elements, bool)
    for axis, lo, hi in selection.ranges:
        c = centers[:, AXES.index(axis)]
        inside &= (c >= lo - tolerance) & (c <= hi + tolerance)
    if selection.group is not None:
        in_group = np.zeros(mesh.n_elements, bool)
        in_group[mesh_group(config, mesh, selection.group, f"{path}.group", "cell")] = True
        inside &= in_group
    if not inside.any():
        raise config.error(path, f"contains no cell center ({_where(mesh, selection)})")
    return np.flatnonzero(inside)


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _dropped_share(dofs: np.ndarray, values: np.ndarray, fixed_dofs: np.ndarray) -> float:
    """The share of |force| (summed over components) that lands on fixed DOFs."""
    total = np.abs(values).sum()
    return float(np.abs(values[np.isin(dofs, fixed_dofs)]).sum() / total) if total else 0.0


def design_warnings(config: ProblemConfig, problem: Problem) -> list[str]:
    """Warnings about the design set-up: a filter wider than the domain, void regions
    that cut every load off from the supports."""
    warnings = []
    mesh, radius = problem.mesh, config.design.filter.options.get("radius")
    lower, upper = mesh.bounds
    extent = upper - lower
    if config.design.filter.type != "none" and radius is not None and radius > extent.max():
        warnings.append(f"design.filter.radius: {radius:g} is larger than the domain "
                        f"({' × '.join(f'{e:g}' for e in extent)}); the filter averages the "
                        "whole design into a uniform grey")
    if problem.passive is not None and np.any(problem.passive == 0.0):
        load = np.abs(problem.forces).sum(axis=1)
        load[problem.fixed_dofs] = 0.0  # shares on supports act on nothing
        per_node = problem.n_components
        loaded = np.unique(np.flatnonzero(load) // per_node)
        cut = _cut_off(mesh, problem.passive != 0.0, loaded, np.unique(problem.fixed_dofs // per_node))
        if cut:
            warnings.append(f"design.passive: void regions cut {_count(cut, 'loaded node')} off "
                            "from every support; no material can carry those loads")
    return warnings


def _cut_off(mesh, usable: np.ndarray, loaded: np.ndarray, supported: np.ndarray) -> int:
    """How many ``loaded`` nodes no path of ``usable`` elements (n_elements,) joins to a
    ``supported`` node."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cells = mesh.element_nodes[usable]
    first = np.repeat(cells[:, :1], cells.shape[1] - 1, axis=1).ravel()
    graph = coo_matrix((np.ones(len(first)), (first, cells[:, 1:].ravel())),
                       shape=(mesh.n_nodes, mesh.n_nodes))
    _, label = connected_components(graph, directed=False)
    in_use = np.zeros(mesh.n_nodes, bool)
    in_use[cells.ravel()] = True
    carried = in_use[loaded] & np.isin(label[loaded], label[supported[in_use[supported]]])
    return int(np.count_nonzero(~carried))


def _passive_densities(config: ProblemConfig, mesh) -> np.ndarray | None:
    """(n_elements,) 1 in solid regions, 0 in void ones, NaN elsewhere (later regions win
    where they overlap); None without passive regions."""
    regions = config.design.passive
    if not regions:
        return None
    fixed = np.full(mesh.n_elements, np.nan)
    for region in regions:
        options = {key: value.ranges if isinstance(value, Selection) else value
                   for key, value in region.options.items()}
        if region.shape == "group":
            mesh_group(config, mesh, options["group"], f"{region.path}.group", "cell")
        inside = region_mask(mesh, region.shape, **options)
        if not inside.any():
            raise config.error(region.path, f"the {region.shape} contains no element center")
        fixed[inside] = 1.0 if region.type == "solid" else 0.0
    if not np.isnan(fixed).any():
        raise config.error("design.passive", "every element is passive; nothing is left to design")
    volumes = mesh.element_volumes
    solid = float(volumes[fixed == 1.0].sum() / volumes.sum())
    for constraint in config.constraint_list:
        if constraint.type == "volume" and solid > constraint.limit:
            limit = ("design.volume_fraction" if not config.constraints
                     else f"the volume limit of {constraint.path}")
            raise config.error("design.passive", f"the passive solids alone fill {solid:.4g} of the "
                               f"volume, more than {limit} ({constraint.limit:g}); no design can "
                               "satisfy it")
    return fixed


def select_nodes(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """The nodes of ``selection`` (its coordinates and its group); a ConfigError about
    ``path`` when there are none."""
    nodes = mesh.select_nodes(selection.ranges)
    if selection.group is not None:
        nodes = np.intersect1d(nodes, mesh_group(config, mesh, selection.group, f"{path}.group"))
    if len(nodes) == 0:
        raise config.error(path, f"selects no node ({_where(mesh, selection)})")
    return nodes


def select_facets(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """(n_facets, nodes per facet) the facets of ``selection``'s group whose nodes all lie
    in its coordinate ranges; a ConfigError about ``path`` when there are none."""
    facets = mesh_group(config, mesh, selection.group, f"{path}.group", "facet")
    if selection.ranges:
        inside = np.zeros(mesh.n_nodes, bool)
        inside[mesh.select_nodes(selection.ranges)] = True
        facets = facets[inside[facets].all(axis=1)]
    if len(facets) == 0:
        raise config.error(path, f"selects no facet ({_where(mesh, selection)})")
    return facets


def _where(mesh, selection: Selection) -> str:
    """'group 'tip', x=0; the mesh spans x in [0, 60], y in [0, 20]'."""
    where = [f"{a}={lo:g}" if lo == hi else f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in selection.ranges]
    if selection.group is not None:
        where.insert(0, f"group {selection.group!r}")
    spans = ", ".join(f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in zip(AXES, *mesh.bounds))
    return f"{', '.join(where)}; the mesh spans {spans}"


_GROUP_KINDS = {"node": "node_groups", "facet": "facet_groups", "cell": "cell_groups"}


def mesh_group(config: ProblemConfig, mesh, name: str, path: str, kind: str = "node") -> np.ndarray:
    """``mesh``'s ``kind`` group ``name`` (node: (n,) nodes, facet: (n, nodes per facet),
    cell: (n,) cells); a ConfigError about ``path`` listing the mesh's groups when it has
    none of that name and kind."""
    groups = getattr(mesh, _GROUP_KINDS[kind])
    if name in groups:
        return groups[name]
    every = sorted(set().union(*(getattr(mesh, attribute) for attribute in _GROUP_KINDS.values())))
    if name in every:
        has = [k for k, attribute in _GROUP_KINDS.items() if name in getattr(mesh, attribute)]
        holds = "cells" if "cell" in has else "facets" if "facet" in has else "nodes only"
        raise config.error(path, f"group {name!r} holds {holds}; this needs a group of {kind}s"
                           + (" (lines in 2D, faces in 3D)" if kind == "facet" else ""))
    if not every:
        raise config.error(path, f"unknown group {name!r} (the mesh has no named groups"
                           + ("; a generated grid never has any)" if mesh.structured else ")"))
    close = difflib.get_close_matches(name, every, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise config.error(path, f"unknown group {name!r} ({hint}the mesh has: {', '.join(every)})")


@dataclass(frozen=True)
class ResponseContext:
    """What a response factory (femopt.objectives.RESPONSES) may use: the problem, and
    a loader for user functions that reports errors against ``path``."""

    config: ProblemConfig
    problem: Problem
    path: str

    def load_callable(self, text: str):
        """Import ``module:name`` or ``file.py:name`` (relative to the problem file)."""
        where, _, name = text.rpartition(":")
        error_path = f"{self.path}.function"
        if not where or not name:
            raise self.config.error(error_path, f"expected 'module:name' or 'file.py:name', got {text!r}")
        try:
            if where.endswith(".py"):
                path = Path(self.config.source).parent / where
                module_spec = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(where)
            function = getattr(module, name)
        except Exception as exc:  # a user's module can fail in any way; report it in one line
            raise self.config.error(error_path, f"cannot load {text!r}: {type(exc).__name__}: {exc}") from None
        if not callable(function):
            raise self.config.error(error_path, f"{text!r} is not callable")
        return function


def build_responses(config: ProblemConfig, problem: Problem):
    """(objective, [Constraint]) of ``config`` on ``problem``: each response from RESPONSES,
    its selections resolved to nodes."""
    def response(spec):
        entry = RESPONSES[spec.type]
        options = {key: select_nodes(config, problem.mesh, value, f"{spec.path}.{key}")
                   if entry.options[key].kind == "selection" and value is not None else value
                   for key, value in spec.options.items()}
        return entry.create(ResponseContext(config, problem, spec.path), **options)

    constraints = [Constraint(response(c), c.limit, c.path) for c in config.constraint_list]
    return response(config.objective), constraints
