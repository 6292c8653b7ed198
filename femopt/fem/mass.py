"""Consistent mass matrices from cell values.

A mass matrix acts on every displacement component alike: with node-major DOFs
M_e = density · m_e ⊗ I, so only the scalar part

    m_e = ∫ N Nᵀ dV            (n_nodes, n_nodes), per unit mass density (length^dim)

is integrated (:func:`mass_matrices`) and stored; :func:`expand_components` gives the full
matrix. The rule is :func:`femopt.element.quadrature.mass_quadrature`, exact for products of
shape functions on straight-sided cells.
"""

from __future__ import annotations

import numpy as np

from femopt.element.quadrature import mass_quadrature
from femopt.element.values import CHUNK_SIZE, integrate


def mass_matrices(cell_type, coords: np.ndarray, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """(n_el, n_nodes, n_nodes) m_e = ∫ N Nᵀ dV of every cell with node coordinates coords
    (n_el, n_nodes, dim), for a unit mass density (in 2D per unit thickness). Raises
    InvertedCellError naming the first cell with a non-positive Jacobian determinant."""
    n_nodes = cell_type.n_nodes
    return integrate(cell_type, coords, lambda values, q: np.outer(values.N[q], values.N[q])[None],
                     (n_nodes, n_nodes), rule=mass_quadrature(cell_type), chunk_size=chunk_size)


def expand_components(scalar: np.ndarray, dim: int) -> np.ndarray:
    """(..., dim · n, dim · n) scalar ⊗ I_dim for scalar matrices (..., n, n), node-major."""
    return np.einsum("...ab,ij->...aibj", scalar, np.eye(dim)).reshape(
        scalar.shape[:-2] + (dim * scalar.shape[-2], dim * scalar.shape[-1]))
