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
from femopt.responses.eigen import LOWER_BOUNDS, Buckling, Frequency, is_eigen
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
_AT = Option(kind="selection", doc="the nodes")
_COMPONENT = Option(0, "component", doc="the displacement component")
_CASE = Option(0, "case", doc="the load case (from 0)")
RESPONSES.register("compliance", lambda context: Compliance(context.problem.case_weights),
                   doc="fᵀu (the weighted sum over load cases; physics: heat: thermal compliance)")
RESPONSES.register("volume", lambda context: Volume(
    None if context.problem.mesh.structured else context.problem.mesh.element_volumes),
    doc="the volume fraction of material")
RESPONSES.register(
    "displacement",
    lambda context, at, component, weight, case: Displacement(
        context.problem.dofs(at, component), np.full(len(at), weight), case),
    at=_AT, component=_COMPONENT, weight=Option(1.0, doc="multiplies each displacement"), case=_CASE,
    doc="weight · Σ u_component over the selected nodes")
RESPONSES.register(
    "displacement_target",
    lambda context, at, component, target, case: DisplacementTarget(
        context.problem.dofs(at, component), np.full(len(at), target), case),
    at=_AT, component=_COMPONENT, target=Option(0.0, doc="the target displacement"), case=_CASE,
    doc="Σ (u_component − target)² over the selected nodes")
RESPONSES.register("python", lambda context, function: CallableLoss(context.load_callable(function), function),
                   function=Option(kind="string", doc="FILE.py:NAME, loss(u) -> (value, dL/du)"),
                   doc="a Python function of the displacements")
RESPONSES.register("stress", _stress,
                   p=Option(8.0, bounds={"ge": 1}, doc="the p-norm's exponent (p·q >= 1)"),
                   q=Option(0.5, bounds={"gt": 0, "le": 1}, doc="the stress relaxation exponent"),
                   exclude=Option(None, kind="selection", doc="elements touching these nodes are not measured (a load patch)"),
                   doc="the p-norm of the von Mises stresses (qp-relaxed)")
RESPONSES.register("frequency", lambda context, modes, min_hz: Frequency(modes, min_hz),
                   modes=Option(3, "integer", bounds={"ge": 1}, doc="the lowest eigenfrequencies computed and bounded"),
                   min_hz=Option(None, bounds={"gt": 0}, doc="as a constraint: every one of them at least this (Hz)"),
                   doc="the lowest natural frequencies: maximized by the bound formulation, or kept above min_hz")
RESPONSES.register("buckling", lambda context, modes, min_factor, case: Buckling(modes, min_factor, case),
                   modes=Option(6, "integer", bounds={"ge": 1}, doc="the lowest buckling load factors computed and bounded"),
                   min_factor=Option(None, bounds={"gt": 0}, doc="as a constraint: every one of them at least this"),
                   case=Option(0, "case", doc="the load case whose stresses buckle the structure"),
                   doc="the lowest linear buckling load factors: maximized by the bound formulation, or kept above min_factor")

__all__ = ["LOWER_BOUNDS", "RESPONSES", "Buckling", "CallableLoss", "CentreStress", "Compliance", "Displacement",
           "DisplacementTarget", "Frequency", "State", "Stress", "UserFunctionError", "Volume", "is_eigen"]
