"""Isotropic linear elasticity: constitutive matrices, strain-displacement matrices and
element stiffness matrices, vectorized over elements.

Matrices are for Young's modulus E; topology optimization scales them per
element, so the assembler usually takes ``E = 1``. DOFs are ordered node-major
(``u1x, u1y, u2x, …``) with nodes in the local order of the cell type
(:mod:`femopt.element.cells`). Strains are in Voigt order with engineering shears:
(xx, yy, xy) in 2D, (xx, yy, zz, xy, yz, zx) in 3D.

The stiffness ∫ Bᵀ D B dV is integrated over the cells' quadrature points by
:func:`femopt.element.values.integrate`; a structured grid's equal boxes share one
matrix (:func:`stiffness_matrices`).
"""

from __future__ import annotations

import numpy as np

from femopt.element import H8, Q4
from femopt.element.values import CHUNK_SIZE, integrate


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


def constitutive_matrix(dim: int, E: float, nu: float) -> np.ndarray:
    """D of the solid in ``dim`` dimensions: plane stress in 2D (:func:`plane_stress_matrix`),
    :func:`solid_matrix` in 3D."""
    return plane_stress_matrix(E, nu) if dim == 2 else solid_matrix(E, nu)


def strain_displacement(dN: np.ndarray) -> np.ndarray:
    """(n_el, n_voigt, dim · n_nodes) strain-displacement matrices B (Voigt order,
    engineering shears, node-major DOFs) from physical gradients dN (n_el, n_nodes, dim)
    at one point: ε = B u_e. The stiffness integrates Bᵀ D B; the stress takes D B."""
    n_el, n_nodes, dim = dN.shape
    pairs = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    B = np.zeros((n_el, dim + len(pairs), dim * n_nodes))
    for a in range(dim):
        B[:, a, a::dim] = dN[:, :, a]
    for row, (a, b) in enumerate(pairs, start=dim):
        B[:, row, a::dim] = dN[:, :, b]
        B[:, row, b::dim] = dN[:, :, a]
    return B


def cell_stiffness(cell_type, coords: np.ndarray, D: np.ndarray, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """(n_el, dim · n_nodes, dim · n_nodes) K_e = ∫ Bᵀ D B dV of every cell.

    cell_type: a :class:`femopt.element.cells.CellType`, integrated with its own rule.
    coords: (n_el, n_nodes, dim) node coordinates (length units).
    D: (n_voigt, n_voigt) constitutive matrix (stress units).
    chunk_size: cells per block (:func:`femopt.element.values.integrate`).

    Raises :class:`femopt.element.InvertedCellError` naming the first cell with a
    non-positive Jacobian determinant at a quadrature point.
    """
    n_local = coords.shape[2] * coords.shape[1]

    def BtDB(values, q):
        B = strain_displacement(values.gradients[q])
        # (Bᵀ D) B, in this order, keeps the bits of the earlier single-box code.
        return np.matmul(B.transpose(0, 2, 1) @ D, B)

    return integrate(cell_type, coords, BtDB, (n_local, n_local), chunk_size=chunk_size)


def stiffness_matrices(mesh, nu: float, thickness: float = 1.0) -> np.ndarray:
    """Element stiffness of ``mesh`` for E = 1 and Poisson's ratio nu: (n_el, k, k),
    k = dim · nodes per cell, or ONE (k, k) matrix shared by every element of a structured
    grid (all are equal boxes: the fast path of :class:`femopt.fem.assembly.Assembler`).
    2D is plane stress with ``thickness``; 3D ignores it."""
    if mesh.structured:
        if mesh.dim == 2:
            return q4_stiffness(1.0, nu, thickness, mesh.element_size)
        return h8_stiffness(1.0, nu, mesh.element_size)
    K = cell_stiffness(mesh.cell_type, mesh.node_coords[mesh.cells], constitutive_matrix(mesh.dim, 1.0, nu))
    return K * thickness if mesh.dim == 2 else K


def q4_stiffness(E: float, nu: float, thickness: float = 1.0, size=(1.0, 1.0)) -> np.ndarray:
    """(8, 8) plane-stress stiffness of a bilinear quad with edge lengths ``size`` = (hx, hy).

    Integrated exactly by 2×2 Gauss quadrature; for a unit square, E=1, ν=0.3
    it equals ``KE`` of the 88-line code.
    """
    return cell_stiffness(Q4, Q4.box(size)[None], plane_stress_matrix(E, nu))[0] * thickness


def h8_stiffness(E: float, nu: float, size=(1.0, 1.0, 1.0)) -> np.ndarray:
    """(24, 24) stiffness of a trilinear hexahedron with edge lengths ``size`` = (hx, hy, hz)."""
    return cell_stiffness(H8, H8.box(size)[None], solid_matrix(E, nu))[0]
