"""Element mass and geometric (stress) stiffness matrices, written on cell values.

The integrands take the cell-values contract of femopt's element layer, computed once
per mesh::

    N     (n_qp, n_nodes)                 shape functions at the quadrature points
    dNdx  (n_cells, n_qp, n_nodes, dim)   physical gradients dN/dx there
    dV    (n_cells, n_qp)                 quadrature weight × det J (length^dim)

On a structured grid n_cells = 1: the one box every element shares. :func:`cell_values`
is the adapter from today's cell types (:mod:`femopt.mesh.cells`) to that contract.

Both matrices act on every displacement component alike: with node-major DOFs
M_e = m_e ⊗ I and G_e = g_e ⊗ I, so only the scalar (n_nodes, n_nodes) parts

    m_e = ∫ N Nᵀ dV                        (per unit mass density)
    g_e = ∫ ∇N σ ∇Nᵀ dV                    (σ the (dim, dim) Cauchy stress of the pre-load)

are computed and stored; :func:`expand_components` gives the full matrices. With G the
assembled g_e, (K + λ G) φ = 0 is the linearized buckling problem of the load that made σ.

Quadrature: the mass rule integrates N_a N_b det J exactly on straight-sided simplices and
parallelograms (:data:`MASS_RULES`: degree 2 on T3/T4, 4 on T6, 5 on T10, the 2-point Gauss
rule per axis on Q4/H8); G uses the stiffness rule of the cell type, like K.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from femopt.elements import jacobians, physical_gradients
from femopt.mesh.cells import T6, T10, CellType


def _tetrahedron_degree5() -> tuple[np.ndarray, np.ndarray]:
    """The 14-point rule of degree 5 on the reference tetrahedron (volume 1/6): two orbits
    of 4 points (a, a, a, 1 − 3a) and one of 6 points (b, b, ½ − b, ½ − b) in barycentric
    coordinates (Walkington 2000; exactness to degree 5 is a test)."""
    barycentric, weights = [], []
    for a, w in ((0.0927352503108912, 0.01224884051939366), (0.3108859192633006, 0.01878132095300264)):
        L = np.full((4, 4), a)
        np.fill_diagonal(L, 1 - 3 * a)
        barycentric.append(L)
        weights += [w] * 4
    b, w = 0.0455037041256496, 0.007091003462846911
    for i, j in combinations(range(4), 2):
        L = np.full((1, 4), 0.5 - b)
        L[0, [i, j]] = b
        barycentric.append(L)
        weights.append(w)
    return np.vstack(barycentric)[:, 1:], np.array(weights)


# (points, weights) on the reference cell that integrate N_a N_b exactly (straight sides):
# the product of two shape functions has twice their degree.
MASS_RULES = {
    "T3": T6.quadrature,                     # degree 2
    "T4": T10.quadrature,                    # degree 2
    "T6": T10.facet_type.quadrature,         # degree 4 (T10's facets: Strang & Fix's 6 points)
    "T10": _tetrahedron_degree5(),
}


def mass_rule(cell: CellType) -> tuple[np.ndarray, np.ndarray]:
    """(points (n_qp, dim), weights (n_qp,)) of the mass quadrature of ``cell``."""
    return MASS_RULES.get(cell.name, cell.quadrature)


def cell_values(cell: CellType, coords: np.ndarray, rule=None):
    """(N (n_qp, n_nodes), dNdx (n_cells, n_qp, n_nodes, dim), dV (n_cells, n_qp)) of the
    cells with node coordinates coords (n_cells, n_nodes, dim) at the points of ``rule``
    ((points, weights); default the cell type's own quadrature).

    The adapter from :mod:`femopt.mesh.cells` to the cell-values contract (module
    docstring): it evaluates, it does not integrate. Raises InvertedCellError for a cell
    with a non-positive Jacobian determinant.
    """
    points, weights = cell.quadrature if rule is None else rule
    reference = cell.shape_gradients(points)                                  # (n_qp, n_nodes, dim)
    try:
        values = [physical_gradients(coords, g) for g in reference]
    except Exception:
        for g in reference:  # name the first bad cell of all, as the stiffness does
            jacobians(coords, g)
        raise
    dNdx = np.stack([v[0] for v in values], axis=1)
    dV = np.stack([v[1] for v in values], axis=1) * weights
    return cell.shape_functions(points), dNdx, dV


def mass_integrand(N: np.ndarray, dV: np.ndarray) -> np.ndarray:
    """(n_cells, n_nodes, n_nodes) m_e = ∫ N Nᵀ dV: the scalar mass matrix of each cell
    for a unit mass density (mass per unit volume; in 2D per unit thickness).
    N: (n_qp, n_nodes); dV: (n_cells, n_qp)."""
    return np.einsum("qa,qb,cq->cab", N, N, dV)


def stress_tensor(voigt: np.ndarray) -> np.ndarray:
    """(..., dim, dim) symmetric tensors of Voigt stresses (..., n_voigt): (xx, yy, xy) in
    2D, (xx, yy, zz, xy, yz, zx) in 3D (femopt.elements' order)."""
    n_voigt = voigt.shape[-1]
    dim = 2 if n_voigt == 3 else 3
    index = _VOIGT_INDEX[dim]
    return voigt[..., index]


def geometric_basis(dNdx: np.ndarray, dV: np.ndarray) -> np.ndarray:
    """(n_cells, n_voigt, n_nodes, n_nodes) H with g_e = Σ_v σ_v H_v for a stress σ
    (n_voigt,) constant over the cell: H_kl = ∫ (∂_k N ∂_l Nᵀ + ∂_l N ∂_k Nᵀ) / (1 + δ_kl) dV
    for the Voigt component v = (k, l). dNdx: (n_cells, n_qp, n_nodes, dim); dV: (n_cells, n_qp)."""
    a, b = _VOIGT_PAIRS[dNdx.shape[-1]]
    H = np.einsum("cqak,cqbl,cq->cklab", dNdx, dNdx, dV, optimize=True)   # ∫ ∂_k N ∂_l Nᵀ dV
    return H[:, a, b] + np.where(a == b, 0.0, 1.0)[None, :, None, None] * H[:, b, a]


def geometric_integrand(dNdx: np.ndarray, dV: np.ndarray, stress: np.ndarray, basis=None) -> np.ndarray:
    """(n_cells, n_nodes, n_nodes) g_e = ∫ ∇N σ ∇Nᵀ dV: the scalar geometric stiffness of
    each cell for the Voigt stresses ``stress`` (n_cells, n_qp or 1, n_voigt) at its
    quadrature points, or one stress per cell (1: constant over the cell, through
    ``basis``, :func:`geometric_basis` of the same cells, computed here if not given).
    dNdx: (n_cells or 1, n_qp, n_nodes, dim); dV: (n_cells or 1, n_qp)."""
    n_nodes = dNdx.shape[2]
    if stress.shape[1] == 1 and dNdx.shape[1] > 1:
        H = geometric_basis(dNdx, dV) if basis is None else basis
        flat = np.matmul(stress, H.reshape(H.shape[0], H.shape[1], -1))       # (c, 1, n²)
        return flat.reshape(len(flat), n_nodes, n_nodes)
    weighted = stress_tensor(stress) * dV[..., None, None]                   # (c, q, d, d)
    return np.einsum("cqak,cqkl,cqbl->cab", dNdx, weighted, dNdx, optimize=True)


def strains(dNdx: np.ndarray, u_e: np.ndarray) -> np.ndarray:
    """(n_cells, n_points, n_voigt) Voigt strains (engineering shears) of element
    displacements u_e (n_cells, n_nodes · dim, node-major) at the points of dNdx
    (n_cells or 1, n_points, n_nodes, dim)."""
    n_cells, dim = u_e.shape[0], dNdx.shape[-1]
    grad = np.einsum("cpak,cai->cpik", dNdx, u_e.reshape(n_cells, -1, dim), optimize=True)  # ∂u_i/∂x_k
    a, b = _VOIGT_PAIRS[dim]
    return grad[..., a, b] + np.where(a == b, 0.0, grad[..., b, a])


def strains_vjp(dNdx: np.ndarray, strain_bar: np.ndarray) -> np.ndarray:
    """(n_cells, n_nodes · dim) the cotangent of u_e for the cotangent strain_bar (n_cells,
    n_points, n_voigt) of :func:`strains`."""
    dim = dNdx.shape[-1]
    a, b = _VOIGT_PAIRS[dim]
    grad_bar = np.zeros(strain_bar.shape[:2] + (dim, dim))
    grad_bar[..., a, b] += strain_bar
    shear = a != b
    grad_bar[..., b[shear], a[shear]] += strain_bar[..., shear]
    u_bar = np.einsum("cpak,cpik->cai", np.broadcast_to(dNdx, (len(strain_bar),) + dNdx.shape[1:]), grad_bar,
                      optimize=True)
    return u_bar.reshape(len(strain_bar), -1)


def quadratic_stress_weights(dNdx: np.ndarray, dV: np.ndarray, phi_e: np.ndarray,
                             per_cell: bool) -> np.ndarray:
    """(n_cells, n_qp or 1, n_voigt) q with φ_eᵀ G_e φ_e = Σ_points q · σ for element
    vectors phi_e (n_cells, n_nodes · dim): the derivative of the quadratic form of G with
    respect to the Voigt stresses, q = dV (S_xx, S_yy, 2 S_xy, …), S_kl = Σ_i ∂_kφ_i ∂_lφ_i.
    per_cell: one stress per cell (the points summed), else one per quadrature point."""
    n_cells, dim = phi_e.shape[0], dNdx.shape[-1]
    grad = np.einsum("cqak,cai->cqik", dNdx, phi_e.reshape(n_cells, -1, dim), optimize=True)
    S = np.einsum("cqik,cqil->cqkl", grad, grad) * dV[..., None, None]
    a, b = _VOIGT_PAIRS[dim]
    q = S[..., a, b] * np.where(a == b, 1.0, 2.0)
    return q.sum(axis=1, keepdims=True) if per_cell else q


def expand_components(scalar: np.ndarray, dim: int) -> np.ndarray:
    """(..., dim · n, dim · n) scalar ⊗ I_dim for scalar matrices (..., n, n), node-major."""
    return np.einsum("...ab,ij->...aibj", scalar, np.eye(dim)).reshape(
        scalar.shape[:-2] + (dim * scalar.shape[-2], dim * scalar.shape[-1]))


# Voigt order (femopt.elements): rows (a, b) of the tensor entries of each Voigt component.
_VOIGT_PAIRS = {2: (np.array([0, 1, 0]), np.array([0, 1, 1])),
                3: (np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 2, 1, 2, 0]))}
# Voigt component of each tensor entry (k, l).
_VOIGT_INDEX = {2: np.array([[0, 2], [2, 1]]), 3: np.array([[0, 3, 5], [3, 1, 4], [5, 4, 2]])}
