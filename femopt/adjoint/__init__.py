"""The differentiable sparse solve x = A⁻¹b and its VJP, and the finite-element gradients
the optimization driver takes through it (docs/adjoint.md)."""

from femopt.adjoint.sparse import (JACOBIAN_BLOCK, SYMMETRY_RTOL, SolveVJP, SparseBuilder, adjoint_solution,
                                   choose_mode, is_symmetric, jacobian, loss_gradient, solve,
                                   stiffness_pullback)
