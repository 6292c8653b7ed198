"""From a validated problem file to the objects of a run, once.

Modules, in the order a build runs them: :mod:`~femopt.build.selections` (every selection
resolved on the mesh, in one pass), :mod:`~femopt.build.structure` (the mesh and the
:class:`~femopt.fem.problem.Problem`: supports, loads, springs, passive elements),
:mod:`~femopt.build.responses` (objective and constraints), :mod:`~femopt.build.checks`
(memory estimate, warnings about the design set-up), :mod:`~femopt.build.model` (the
:class:`~femopt.build.model.Model` of a run: all of it, with the design stages, the
optimizer and the solver).
"""

from femopt.build.checks import check_memory, design_warnings, memory_estimate, merged_nodes_notice
from femopt.build.model import Model, build, build_design_linking, build_overhang, build_solver, robust_notice
from femopt.build.progress import SetupProgress
from femopt.build.responses import ResponseContext, build_responses
from femopt.build.selections import Selections, resolve_selections
from femopt.build.structure import build_mesh, build_problem

__all__ = ["Model", "ResponseContext", "Selections", "SetupProgress", "build", "build_design_linking", "build_mesh", "build_overhang",
           "build_problem", "build_responses", "build_solver", "check_memory", "design_warnings", "memory_estimate",
           "merged_nodes_notice", "resolve_selections", "robust_notice"]
