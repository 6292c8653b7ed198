"""Responses of a solved design: values and partial derivatives, never a factorization.

RESPONSES registers every response by the name a problem file uses (here, as every
extension point's registry lives in its package's ``__init__``). A factory takes
``(context, **options)``: ``context.problem`` is the :class:`femopt.fem.problem.Problem`,
``context.load_callable(text)`` imports a user function, ``context.config.error(path,
reason)`` makes a ConfigError about ``context.path``; options of kind "selection"
arrive as the selected node numbers (:class:`femopt.build.responses.ResponseContext`).
"""

import numpy as np

from femopt.registry import Option, Registry
from femopt.responses.basic import (CallableLoss, Compliance, Displacement, DisplacementTarget, State,
                                    UserFunctionError, Volume)
from femopt.responses.stress import CentreStress, Stress, included_elements


def _stress(context, p, q, exclude):
    """The factory of ``{type: stress, p, q, exclude}``; ``exclude`` arrives as nodes."""
    problem = context.problem
    if p * q < 1:
        raise context.config.error(f"{context.path}.p", f"p·q must be >= 1 (so the gradient stays "
                                   f"finite where ρ = 0), got p = {p:g}, q = {q:g}")
    included = included_elements(problem, exclude)
    if not included.any():
        raise context.config.error(f"{context.path}.exclude", "leaves no designable element "
                                   "whose stress the response could measure")
    operator = CentreStress(problem.mesh, problem.E, problem.nu, problem.dofmap.element_dofs)
    return Stress(operator, p, q, included)


RESPONSES = Registry("response")
_AT, _COMPONENT, _CASE = Option(kind="selection"), Option(0, "component"), Option(0, "case")
RESPONSES.register("compliance", lambda context: Compliance(context.problem.case_weights))
RESPONSES.register("volume", lambda context: Volume(
    None if context.problem.mesh.structured else context.problem.mesh.element_volumes))
RESPONSES.register(
    "displacement",
    lambda context, at, component, weight, case: Displacement(
        context.problem.dofs(at, component), np.full(len(at), weight), case),
    at=_AT, component=_COMPONENT, weight=Option(1.0), case=_CASE)
RESPONSES.register(
    "displacement_target",
    lambda context, at, component, target, case: DisplacementTarget(
        context.problem.dofs(at, component), np.full(len(at), target), case),
    at=_AT, component=_COMPONENT, target=Option(0.0), case=_CASE)
RESPONSES.register("python", lambda context, function: CallableLoss(context.load_callable(function), function),
                   function=Option(kind="string"))
RESPONSES.register("stress", _stress,
                   p=Option(8.0, bounds={"ge": 1}), q=Option(0.5, bounds={"gt": 0, "le": 1}),
                   exclude=Option(None, kind="selection"))

__all__ = ["RESPONSES", "CallableLoss", "CentreStress", "Compliance", "Displacement", "DisplacementTarget",
           "State", "Stress", "UserFunctionError", "Volume"]
