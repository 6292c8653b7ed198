"""The adjoint of the sparse solve u = K(s)⁻¹ f, written out by hand.

For a scalar loss L(u), one extra solve Kᵀλ = ∂L/∂u with the factor already in
hand gives the cotangent of K on its stored pattern, K̄_ij = −λ_i u_j, and through
the assembly's scatter map the gradient dL/ds_e = −λ_eᵀ K_e u_e. No dense n×n
matrix is ever formed.
"""

from __future__ import annotations

import numpy as np

from femopt.assembly import Assembler, element_energy_pullback


def loss_gradient(assembler: Assembler, solver, u: np.ndarray, loss_u_bar: np.ndarray) -> np.ndarray:
    """(n_elements,) dL/ds through K(s) u = f, for any loss with ∂L/∂u = ``loss_u_bar``.

    assembler: the map s → K used to build the factor in ``solver`` (already factorized).
    u, loss_u_bar: (n_free,) or (n_free, n_cases) reduced displacements and ∂L/∂u.
    Costs one (block) solve with the existing factor plus O(nnz).
    """
    lam = solver.solve_transpose(loss_u_bar)
    return assembler.pullback(assembler.pattern_cotangent(lam, u))


def compliance_gradient(element_dofs: np.ndarray, element_matrix: np.ndarray,
                        u_full: np.ndarray) -> np.ndarray:
    """(n_elements,) dC/ds_e = −Σ_cases u_eᵀ K_e u_e for C = Σ fᵀu.

    Compliance is self-adjoint (λ = u), so no extra solve is needed.
    u_full: (n_dofs,) or (n_dofs, n_cases) displacements including fixed DOFs.
    """
    return element_energy_pullback(element_dofs, element_matrix, u_full, u_full)
