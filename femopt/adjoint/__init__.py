"""The differentiable sparse solve x = A⁻¹b and its VJP (:mod:`femopt.adjoint.sparse`), and
the finite-element gradients the optimization driver takes through it
(:mod:`femopt.adjoint.fem`). See docs/adjoint.md."""

from femopt.adjoint.fem import adjoint_solution, stiffness_pullback
from femopt.adjoint.sparse import (JACOBIAN_BLOCK, SYMMETRY_RTOL, SolveVJP, SparseBuilder, choose_mode, is_symmetric,
                                   jacobian, solve)

__all__ = ["JACOBIAN_BLOCK", "SYMMETRY_RTOL", "SolveVJP", "SparseBuilder", "adjoint_solution", "choose_mode",
           "is_symmetric", "jacobian", "solve", "stiffness_pullback"]
