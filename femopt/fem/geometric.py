"""Geometric (stress) stiffness from cell values, and the strains and stress weights its
sensitivities take.

Like the mass, the geometric stiffness acts on every displacement component alike:
G_e = g_e ⊗ I (node-major DOFs) with the scalar part

    g_e = ∫ ∇N σ ∇Nᵀ dV        (n_nodes, n_nodes), σ the (dim, dim) Cauchy stress of the pre-load

With G the assembled g_e, (K + λ G) φ = 0 is the linearized buckling problem of the load
that made σ. Every integral here is a sum over the points of a
:class:`femopt.element.values.CellValues` (``values``: N, gradients (n_q, n_cells,
n_nodes, dim), dV (n_cells, n_q)); on a structured grid n_cells = 1, the one box every
element shares. The stiffness's rule is used, as for K.

Voigt order (:mod:`femopt.fem.elasticity`): (xx, yy, xy) in 2D, (xx, yy, zz, xy, yz, zx)
in 3D, engineering shears in strains.
"""

from __future__ import annotations

import numpy as np


def stress_tensor(voigt: np.ndarray) -> np.ndarray:
    """(..., dim, dim) symmetric tensors of Voigt stresses (..., n_voigt)."""
    dim = 2 if voigt.shape[-1] == 3 else 3
    return voigt[..., _VOIGT_INDEX[dim]]


def geometric_basis(values) -> np.ndarray:
    """(n_cells, n_voigt, n_nodes, n_nodes) H with g_e = Σ_v σ_v H_v for a stress σ
    (n_voigt,) constant over the cell: H_kl = ∫ (∂_k N ∂_l Nᵀ + ∂_l N ∂_k Nᵀ) / (1 + δ_kl) dV
    for the Voigt component v = (k, l)."""
    dN = values.gradients
    a, b = _VOIGT_PAIRS[dN.shape[-1]]
    H = values.integrate(lambda q: np.einsum("cak,cbl->cklab", dN[q], dN[q], optimize=True))  # ∫ ∂_k N ∂_l Nᵀ dV
    return H[:, a, b] + np.where(a == b, 0.0, 1.0)[None, :, None, None] * H[:, b, a]


def geometric_matrices(values, stress: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """(n_cells, n_nodes, n_nodes) g_e = ∫ ∇N σ ∇Nᵀ dV of each cell for the Voigt stresses
    ``stress`` (n_cells, n_q or 1, n_voigt) at its quadrature points, or one stress per
    cell (1: constant over the cell, through ``basis``, :func:`geometric_basis` of the same
    cell values, computed here if not given)."""
    n_nodes = values.N.shape[1]
    if stress.shape[1] == 1 and values.n_points > 1:
        H = geometric_basis(values) if basis is None else basis
        flat = np.matmul(stress, H.reshape(H.shape[0], H.shape[1], -1))       # (c, 1, n²)
        return flat.reshape(len(flat), n_nodes, n_nodes)
    dN, sigma = values.gradients, stress_tensor(stress)                       # (c, q, d, d)
    return values.integrate(lambda q: np.einsum("cak,ckl,cbl->cab", dN[q], sigma[:, q], dN[q], optimize=True))


def strains(gradients: np.ndarray, u_e: np.ndarray) -> np.ndarray:
    """(n_cells, n_points, n_voigt) Voigt strains (engineering shears) of element
    displacements u_e (n_cells, n_nodes · dim, node-major) at points with shape-function
    gradients (n_points, n_cells or 1, n_nodes, dim) (a CellValues' ``gradients``)."""
    n_cells, dim = u_e.shape[0], gradients.shape[-1]
    grad = np.einsum("pcak,cai->cpik", gradients, u_e.reshape(n_cells, -1, dim), optimize=True)  # ∂u_i/∂x_k
    a, b = _VOIGT_PAIRS[dim]
    return grad[..., a, b] + np.where(a == b, 0.0, grad[..., b, a])


def strains_vjp(gradients: np.ndarray, strain_bar: np.ndarray) -> np.ndarray:
    """(n_cells, n_nodes · dim) the cotangent of u_e for the cotangent strain_bar (n_cells,
    n_points, n_voigt) of :func:`strains`."""
    dim = gradients.shape[-1]
    a, b = _VOIGT_PAIRS[dim]
    grad_bar = np.zeros(strain_bar.shape[:2] + (dim, dim))
    grad_bar[..., a, b] += strain_bar
    shear = a != b
    grad_bar[..., b[shear], a[shear]] += strain_bar[..., shear]
    full = np.broadcast_to(gradients, gradients.shape[:1] + (len(strain_bar),) + gradients.shape[2:])
    u_bar = np.einsum("pcak,cpik->cai", full, grad_bar, optimize=True)
    return u_bar.reshape(len(strain_bar), -1)


def quadratic_stress_weights(values, phi_e: np.ndarray, per_cell: bool) -> np.ndarray:
    """(n_cells, n_q or 1, n_voigt) q with φ_eᵀ G_e φ_e = Σ_points q · σ for element
    vectors phi_e (n_cells, n_nodes · dim): the derivative of the quadratic form of G with
    respect to the Voigt stresses, q = dV (S_xx, S_yy, 2 S_xy, …), S_kl = Σ_i ∂_kφ_i ∂_lφ_i,
    in phi_e's dtype. per_cell: one stress per cell (the points summed), else one per
    quadrature point."""
    n_cells, dim = phi_e.shape[0], values.gradients.shape[-1]
    phi = phi_e.reshape(n_cells, -1, dim)
    a, b = _VOIGT_PAIRS[dim]
    factor = np.where(a == b, 1.0, 2.0)

    def weights(q):  # (n_cells, n_voigt) S at point q, before dV
        grad = np.einsum("cak,cai->cik", values.gradients[q], phi, optimize=True)
        return np.einsum("cik,cil->ckl", grad, grad)[:, a, b] * factor

    if per_cell:  # summed in phi's dtype (extended precision for a Rayleigh quotient)
        return values.integrate(weights, out=np.zeros((n_cells, len(a)), phi_e.dtype))[:, None]
    return np.stack([weights(q) * values.dV[:, q, None] for q in range(values.n_points)], axis=1)


# Voigt order: rows (a, b) of the tensor entries of each Voigt component.
_VOIGT_PAIRS = {2: (np.array([0, 1, 0]), np.array([0, 1, 1])),
                3: (np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 2, 1, 2, 0]))}
# Voigt component of each tensor entry (k, l).
_VOIGT_INDEX = {2: np.array([[0, 2], [2, 1]]), 3: np.array([[0, 3, 5], [3, 1, 4], [5, 4, 2]])}
