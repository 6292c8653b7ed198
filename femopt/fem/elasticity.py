"""Element stiffness matrices of isotropic linear elasticity, vectorized over elements.

Matrices are for Young's modulus E; topology optimization scales them per
element, so the assembler usually takes ``E = 1``. DOFs are ordered node-major
(``u1x, u1y, u2x, …``) with nodes in the local order of the cell type
(:mod:`femopt.element.cells`). Strains are in Voigt order with engineering shears:
(xx, yy, xy) in 2D, (xx, yy, zz, xy, yz, zx) in 3D.

:func:`stiffness_by_quadrature` is the one quadrature loop of femopt: the cell
types call it with their reference gradients and rules, and :func:`q4_stiffness` /
:func:`h8_stiffness` call the cell types on one box.
"""

from __future__ import annotations

import numpy as np

from femopt.errors import MeshError


class InvertedCellError(MeshError):
    """A cell's Jacobian determinant is not positive: its nodes are in the wrong order
    (inverted) or it has no volume (degenerate)."""


def plane_stress_matrix(E: float, nu: float) -> np.ndarray:
    """(3, 3) constitutive matrix D for plane stress, Voigt order (xx, yy, xy)."""
    return E / (1 - nu**2) * np.array([[1, nu, 0], [nu, 1, 0], [0, 0, (1 - nu) / 2]])


def solid_matrix(E: float, nu: float) -> np.ndarray:
    """(6, 6) constitutive matrix D in 3D, Voigt order (xx, yy, zz, xy, yz, zx)."""
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    D = np.zeros((6, 6))
    D[:3, :3] = lam
    D[np.arange(3), np.arange(3)] += 2 * mu
    D[np.arange(3, 6), np.arange(3, 6)] = mu
    return D


def q4_stiffness(E: float, nu: float, thickness: float = 1.0, size=(1.0, 1.0)) -> np.ndarray:
    """(8, 8) plane-stress stiffness of a bilinear quad with edge lengths ``size`` = (hx, hy).

    Integrated exactly by 2×2 Gauss quadrature; for a unit square, E=1, ν=0.3
    it equals ``KE`` of the 88-line code.
    """
    from femopt.element.cells import Q4  # here, not above: femopt.element.cells imports this module
    return Q4.stiffness(Q4.box(size)[None], plane_stress_matrix(E, nu))[0] * thickness


def h8_stiffness(E: float, nu: float, size=(1.0, 1.0, 1.0)) -> np.ndarray:
    """(24, 24) stiffness of a trilinear hexahedron with edge lengths ``size`` = (hx, hy, hz)."""
    from femopt.element.cells import H8
    return H8.stiffness(H8.box(size)[None], solid_matrix(E, nu))[0]


def jacobians(coords: np.ndarray, gradients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jacobians of the map from the reference cell at one quadrature point.

    coords: (n_el, n_nodes, dim) node coordinates; gradients: (n_nodes, dim) reference
    shape-function gradients at the point. Returns J (n_el, dim, dim), J_ij = ∂x_i/∂ξ_j,
    and det J (n_el,). Raises :class:`InvertedCellError` naming the first cell whose
    determinant is not positive.
    """
    J = np.einsum("eni,nj->eij", coords, gradients)
    det = np.linalg.det(J)
    # Relative to the cell's size, so a tiny but valid cell passes and a flat one does not.
    scale = np.max(np.abs(J), axis=(1, 2)) ** coords.shape[2]
    bad = np.flatnonzero(~(det > 1e-12 * scale))
    if len(bad):
        raise InvertedCellError(
            f"cell {bad[0]} is inverted or degenerate (Jacobian determinant {det[bad[0]]:.3g}"
            f"{f'; {len(bad) - 1} more cells too' if len(bad) > 1 else ''}): "
            "check its node order and coordinates")
    return J, det


def physical_gradients(coords: np.ndarray, gradients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dN/dx (n_el, n_nodes, dim), det J (n_el,)) at one reference point: the reference
    gradients (n_nodes, dim) mapped through each cell's Jacobian, dN/dx = dN/dξ · J⁻¹.
    coords: (n_el, n_nodes, dim). Raises InvertedCellError like :func:`jacobians`."""
    J, det = jacobians(coords, gradients)
    return np.matmul(gradients, np.linalg.inv(J)), det


def stiffness_by_quadrature(coords: np.ndarray, D: np.ndarray, gradients: np.ndarray,
                            weights: np.ndarray, chunk_size: int = 2048) -> np.ndarray:
    """(n_el, dim · n_nodes, dim · n_nodes) K_e = ∫ Bᵀ D B dV of every element.

    coords: (n_el, n_nodes, dim) node coordinates (length units).
    D: (n_voigt, n_voigt) constitutive matrix (stress units).
    gradients: (n_q, n_nodes, dim) reference shape-function gradients at the quadrature points.
    weights: (n_q,) quadrature weights on the reference cell.
    chunk_size: elements per block: blocks keep the temporaries in cache (one pass over
        100k T10 matrices of 720 MB costs page faults and memory traffic, not arithmetic).

    Vectorized over the elements of a block; Python loops run over blocks and quadrature
    points only. Raises :class:`InvertedCellError` naming the first cell (of all) with a
    non-positive Jacobian determinant at a quadrature point.
    """
    n_el, n_nodes, dim = coords.shape
    K = np.zeros((n_el, dim * n_nodes, dim * n_nodes))
    for start in range(0, n_el, chunk_size):
        block, K_block = coords[start:start + chunk_size], K[start:start + chunk_size]
        try:
            for gradient, weight in zip(gradients, weights):
                dN, det = physical_gradients(block, gradient)
                B = _strain_displacement(dN)
                # (Bᵀ D) B, in this order, keeps the bits of the earlier single-box code.
                K_block += np.matmul(B.transpose(0, 2, 1) @ D, B) * (weight * det)[:, None, None]
        except InvertedCellError:
            for gradient in gradients:  # again on every cell, so the message counts from cell 0
                jacobians(coords, gradient)
            raise
    return K


def conduction_by_quadrature(coords: np.ndarray, gradients: np.ndarray, weights: np.ndarray,
                             chunk_size: int = 2048) -> np.ndarray:
    """(n_el, n_nodes, n_nodes) K_e = ∫ ∇N ∇Nᵀ dV: the conduction matrix of every element
    for a unit isotropic conductivity (heat flow per unit temperature difference; scale by k).

    coords: (n_el, n_nodes, dim) node coordinates (length units); gradients: (n_q, n_nodes,
    dim) reference shape-function gradients at the quadrature points; weights: (n_q,).
    One DOF per node, in the cell type's local node order. Vectorized over the elements of a
    block like :func:`stiffness_by_quadrature`; raises :class:`InvertedCellError` likewise.
    """
    n_el, n_nodes, _ = coords.shape
    K = np.zeros((n_el, n_nodes, n_nodes))
    for start in range(0, n_el, chunk_size):
        block, K_block = coords[start:start + chunk_size], K[start:start + chunk_size]
        try:
            for gradient, weight in zip(gradients, weights):
                dN, det = physical_gradients(block, gradient)
                K_block += np.matmul(dN, dN.transpose(0, 2, 1)) * (weight * det)[:, None, None]
        except InvertedCellError:
            for gradient in gradients:  # again on every cell, so the message counts from cell 0
                jacobians(coords, gradient)
            raise
    return K


def _strain_displacement(dN: np.ndarray) -> np.ndarray:
    """B matrices (n_el, n_voigt, dim · n_nodes) from physical gradients dN (n_el, n_nodes, dim)."""
    n_el, n_nodes, dim = dN.shape
    pairs = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    B = np.zeros((n_el, dim + len(pairs), dim * n_nodes))
    for a in range(dim):
        B[:, a, a::dim] = dN[:, :, a]
    for row, (a, b) in enumerate(pairs, start=dim):
        B[:, row, a::dim] = dN[:, :, b]
        B[:, row, b::dim] = dN[:, :, a]
    return B


def strain_displacement(dN: np.ndarray) -> np.ndarray:
    """(n_el, n_voigt, dim · n_nodes) strain-displacement matrices B (Voigt order,
    engineering shears, node-major DOFs) from physical gradients dN (n_el, n_nodes, dim)
    at one point: ε = B u_e. The stiffness integrates Bᵀ D B; the stress takes D B."""
    return _strain_displacement(dN)
