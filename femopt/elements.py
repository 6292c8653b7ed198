"""Element stiffness matrices of isotropic linear elasticity on rectangular elements.

Matrices are for Young's modulus E; topology optimization scales them per
element, so the assembler usually takes ``E = 1``. DOFs are ordered node-major
(``u1x, u1y, u2x, …``) with nodes in the order of :mod:`femopt.mesh`.
"""

from __future__ import annotations

import numpy as np

from femopt.mesh import _CORNERS_2D, _CORNERS_3D

_GAUSS_2 = np.array([-1.0, 1.0]) / np.sqrt(3.0)  # 2-point rule, weights 1


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
    return _stiffness(plane_stress_matrix(E, nu), np.asarray(size, float), _CORNERS_2D) * thickness


def h8_stiffness(E: float, nu: float, size=(1.0, 1.0, 1.0)) -> np.ndarray:
    """(24, 24) stiffness of a trilinear hexahedron with edge lengths ``size`` = (hx, hy, hz)."""
    return _stiffness(solid_matrix(E, nu), np.asarray(size, float), _CORNERS_3D)


def _stiffness(D: np.ndarray, size: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """∫ Bᵀ D B dV over a box element by 2-point Gauss quadrature per axis."""
    dim = len(size)
    signs = 2 * corners - 1  # (n_nodes, dim) corner positions in the reference cube [-1, 1]^dim
    n_nodes = len(corners)
    jac_det = np.prod(size / 2)
    K = np.zeros((dim * n_nodes, dim * n_nodes))
    for point in np.array(np.meshgrid(*[_GAUSS_2] * dim, indexing="ij")).reshape(dim, -1).T:
        # dN/dξ of the (multi)linear shape functions N = Π (1 + s ξ) / 2, then to physical axes.
        factors = (1 + signs * point) / 2  # (n_nodes, dim)
        dN = np.empty((n_nodes, dim))
        for a in range(dim):
            dN[:, a] = signs[:, a] / 2 * np.prod(np.delete(factors, a, axis=1), axis=1) * 2 / size[a]
        B = _strain_displacement(dN)
        K += B.T @ D @ B * jac_det
    return K


def _strain_displacement(dN: np.ndarray) -> np.ndarray:
    """B matrix (Voigt strains × node-major DOFs) from shape-function gradients dN (n_nodes, dim)."""
    n_nodes, dim = dN.shape
    pairs = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    B = np.zeros((dim + len(pairs), dim * n_nodes))
    for a in range(dim):
        B[a, a::dim] = dN[:, a]
    for row, (a, b) in enumerate(pairs, start=dim):
        B[row, a::dim] = dN[:, b]
        B[row, b::dim] = dN[:, a]
    return B
