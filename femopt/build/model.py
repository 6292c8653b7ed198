"""From a validated problem file to the objects of a run, once: :func:`build` makes the
:class:`Model` — the structure (:mod:`femopt.build.structure`, its selections resolved
in one pass by :mod:`femopt.build.selections`), the responses
(:mod:`femopt.build.responses`), the design stages (filter, projection, interpolation,
passive elements, continuation), the optimizer and the linear solver, each looked up in
its registry. Nothing below this package reads a configuration: the objects take numbers
and arrays."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from femopt.build.checks import design_warnings, merged_nodes_notice
from femopt.build.eigen import eigen_evaluator, eigen_settings, with_bound
from femopt.build.responses import build_responses
from femopt.build.selections import resolve_selections
from femopt.build.structure import build_mesh, build_problem
from femopt.config import ProblemConfig
from femopt.design import FILTERS, INTERPOLATIONS, Continuation, DesignSpace, HeavisideProjection, IdentityProjection
from femopt.design.continuation import schedule_value
from femopt.design.linking import LinkingError, build_linking
from femopt.design.overhang import OverhangFilter
from femopt.design.robust import RobustThresholds
from femopt.fem.problem import Problem
from femopt.loop.evaluator import Constraint, Evaluator, PhaseTimer
from femopt.loop.robust import RobustEvaluator, RobustSettings, initial_design, length_scale_notice
from femopt.mesh import AXES
from femopt.optimizers import OPTIMIZERS
from femopt.solvers import FALLBACK_NOTICE, SOLVERS, cholmod_available, make_solver


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
    robust: object = None  # femopt.loop.robust.RobustSettings with design.projection.robust, else None
    eigen: object = None   # femopt.loop.eigen.EigenSettings with a frequency or buckling response, else None
    overhang: object = None  # femopt.design.overhang.OverhangFilter with design.overhang, else None
    linking: object = None  # femopt.design.linking.Linking with design.symmetry/extrusion, else None

    @property
    def mesh(self):
        return self.problem.mesh

    def evaluator(self, timer: PhaseTimer | None = None) -> Evaluator:
        """The Evaluator of this model (runs the solver's symbolic analysis); with
        ``robust``, a :class:`femopt.loop.robust.RobustEvaluator` around one; with
        ``eigen``, a :class:`femopt.loop.eigen.EigenEvaluator`."""
        if self.eigen is not None:
            return eigen_evaluator(self, timer)
        constraints = self.constraints
        if self.robust is not None:  # the realizations report their volume V as V/1 − 1
            constraints = [replace(constraints[0], limit=1.0)]
        evaluator = Evaluator(self.problem, self.solver, filter=self.filter, projection=self.projection,
                              material=self.material, objective=self.objective,
                              constraints=constraints, timer=timer, overhang=self.overhang,
                              linking=self.linking)
        if self.robust is None:
            return evaluator
        return RobustEvaluator(evaluator, self.robust.thresholds, self.constraints[0].limit,
                               self.robust.update_every)

    def continuation(self) -> Continuation:
        return Continuation(self.schedules)


def build(config: ProblemConfig, *, rtol: float | None = None) -> Model:
    """The :class:`Model` of ``config``. rtol: overrides an iterative solver's tolerance
    (gradient checks solve to round-off). Raises ConfigError, SingularStiffnessError."""
    warnings = []
    mesh = build_mesh(config)
    resolved = resolve_selections(config, mesh)  # every selection, before anything is built on them
    problem = build_problem(config, warnings, mesh=mesh, resolved=resolved)
    objective, constraints = build_responses(config, problem, resolved)
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
    if (merged := merged_nodes_notice(problem.mesh)) is not None:
        notices.append(merged)
    linking = build_design_linking(config, problem)
    if linking is not None:  # the optimizer's variables: one per linked group
        x0 = linking.reduce(x0)
    robust = design.projection.robust if design.projection is not None else None
    if robust is not None:  # the bound formulation's extra variable, and the length scale it imposes
        robust = RobustSettings(RobustThresholds(robust.delta_eta, design.projection.eta), robust.update_every)
        x0 = initial_design(x0)
        notices.append(robust_notice(config, problem.mesh.dim))
    eigen = eigen_settings(config, problem, resolved)
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
        solver=solver, notices=notices, x0=x0, robust=robust, eigen=eigen, overhang=build_overhang(config),
        linking=linking,
        warnings=warnings + design_warnings(config, problem))


def build_overhang(config: ProblemConfig):
    """The AM filter of ``design.overhang`` on the grid, or None without it (the config
    has rejected it on a mesh file)."""
    overhang = config.design.overhang
    if overhang is None:
        return None
    return OverhangFilter(config.mesh.grid, overhang.build_direction, overhang.support,
                          overhang.p, overhang.epsilon)


def build_design_linking(config: ProblemConfig, problem: Problem):
    """The :class:`femopt.design.linking.Linking` of ``design.symmetry`` and
    ``design.extrusion``, or None without them. Raises ConfigError for a mesh that is not
    symmetric (or not extruded) and for passive regions that break the linking."""
    design = config.design
    symmetry = tuple((AXES.index(axis), at) for axis, at in design.symmetry)
    extrusion = None if design.extrusion is None else AXES.index(design.extrusion)
    try:
        return build_linking(problem.mesh, symmetry, extrusion, problem.passive)
    except LinkingError as e:
        raise config.error(f"design.{e.key}", str(e)) from None


def robust_notice(config: ProblemConfig, dim: int) -> str | None:
    """The robust formulation's thresholds and the minimum length scale they impose (one
    line), or None without ``design.projection.robust``."""
    design = config.design
    if design.projection is None or design.projection.robust is None:
        return None
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
