"""Finite-element gradients through the sparse solve: the path the optimization driver's
gradients take (:class:`femopt.loop.evaluator.Evaluator`).

For K(s) u = f the adjoint of the solve (:mod:`femopt.adjoint.sparse`) gives the cotangent
of K on its stored pattern, K̄_ij = −λ_i u_j, with Kᵀλ = ∂L/∂u solved by the factor already
in hand (:func:`adjoint_solution`); through the assembly's scatter map it becomes
dL/ds_e = −λ_eᵀ K_e u_e (:func:`stiffness_pullback`). See docs/adjoint.md.
"""

from __future__ import annotations

import numpy as np

from femopt.fem.assembly import Assembler


def adjoint_solution(assembler: Assembler, solver, u_bar: np.ndarray) -> np.ndarray:
    """(n_dofs, n_cases) λ with Kᵀλ = ∂L/∂u on the free DOFs (0 on fixed ones): the VJP
    of the solve, one (block) solve with the factor already in ``solver``.

    u_bar: (n_dofs[, n_cases]) ∂L/∂u, full length.
    """
    u_bar = u_bar.reshape(len(u_bar), -1)
    lam_free = solver.solve_transpose(u_bar[assembler.free_dofs]).reshape(assembler.n_free, -1)
    return assembler.full_vector(lam_free, len(u_bar))


def stiffness_pullback(assembler: Assembler, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(n_elements,) dL/ds_e = −Σ_cases λ_eᵀ K_e u_e: the assembly's pullback of the pattern
    cotangent K̄_ij = −λ_i u_j, contracted element by element (the fast form; a test checks
    it against ``assembler.pullback(assembler.pattern_cotangent(λ, u))``).

    lam, u: (n_dofs[, n_cases]) full-length adjoint and displacements.
    """
    return assembler.element_energy(lam, u)
