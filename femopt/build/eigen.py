"""The frequency and buckling parts of a run, from a problem file (called by
:mod:`femopt.build.model`): the mass settings (density, point masses) and the
:class:`~femopt.loop.eigen.EigenEvaluator` around the plain evaluator."""

from __future__ import annotations

import numpy as np

from femopt.build.selections import Selections
from femopt.config import ProblemConfig
from femopt.fem.problem import Problem
from femopt.loop.eigen import EigenEvaluator, EigenSettings, initial_design
from femopt.loop.evaluator import Evaluator
from femopt.responses import Volume, is_eigen

EIGEN_TYPES = ("frequency", "buckling")


def eigen_settings(config: ProblemConfig, problem: Problem, resolved: Selections) -> EigenSettings | None:
    """The :class:`EigenSettings` of ``config`` (None without a frequency or buckling
    response). resolved: the problem's selections
    (:func:`femopt.build.selections.resolve_selections`), the point masses' among them.
    Each point mass is split equally over its nodes, in every direction."""
    types = [config.objective.type] + [c.type for c in config.constraint_list]
    if not any(t in EIGEN_TYPES for t in types):
        return None
    point_masses = None
    if config.point_masses:
        point_masses = np.zeros(problem.dofmap.n_dofs)
        for item in config.point_masses:
            nodes = resolved[f"{item.path}.at"]
            np.add.at(point_masses, problem.dofmap.dofs(nodes), item.mass / len(nodes))
    thickness = config.material.thickness if problem.mesh.dim == 2 else 1.0
    return EigenSettings(config.material.density, thickness, point_masses)


def eigen_evaluator(model, timer=None) -> EigenEvaluator:
    """The EigenEvaluator of ``model`` (a :class:`femopt.build.model.Model` with ``eigen``
    settings): its plain evaluator takes the other responses, and the volume as a stand-in
    objective when the objective is an eigenvalue."""
    objective = model.objective if is_eigen(model.objective) else None
    plain = [c for c in model.constraints if not is_eigen(c.response)]
    eigen = [(c.label, c.response) for c in model.constraints if is_eigen(c.response)]
    problem = model.problem
    inner_objective = Volume(None if problem.mesh.structured else problem.mesh.element_volumes) \
        if objective is not None else model.objective
    inner = Evaluator(problem, model.solver, filter=model.filter, projection=model.projection,
                      material=model.material, objective=inner_objective, constraints=plain, timer=timer,
                      overhang=model.overhang, linking=model.linking)
    config = model.config
    labels = [f"objective ({config.objective.type})"] + [
        f"{c.path} ({c.type})" for c in config.constraint_list if c.type not in EIGEN_TYPES]
    return EigenEvaluator(inner, objective, eigen, model.eigen, labels)


def with_bound(x0: np.ndarray, objective) -> np.ndarray:
    """x0 with the bound's variable appended when the objective is an eigenvalue."""
    return initial_design(x0) if is_eigen(objective) else x0
