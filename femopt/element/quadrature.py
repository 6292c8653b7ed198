"""Quadrature rules on reference cells: (points (n_q, dim), weights (n_q,)).

The cell types' own rules (:mod:`femopt.element.cells`) are chosen for the stiffness;
:func:`mass_quadrature` integrates products of two shape functions exactly, which a
linear simplex's single centroid point does not (its mass matrix would have rank one).
"""

from __future__ import annotations

from itertools import product

import numpy as np


def tensor_gauss(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """2-point Gauss rule per axis on [-1, 1]^dim (exact for the box stiffness): 2^dim
    points, weights 1."""
    points = np.array(list(product([-1.0, 1.0], repeat=dim))) / np.sqrt(3.0)
    return points, np.ones(len(points))


def symmetric_triangle_rule(orbits) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) and weights (n,) on the reference triangle (area 1/2) from orbits
    (a, weight per unit area): the three points with barycentric coordinates (a, a, 1 − 2a)."""
    points, weights = [], []
    for a, w in orbits:
        L = np.array([[a, a, 1 - 2 * a], [a, 1 - 2 * a, a], [1 - 2 * a, a, a]])
        points.append(L[:, 1:])
        weights += [w / 2] * 3
    return np.vstack(points), np.array(weights)


def mass_quadrature(cell_type) -> tuple[np.ndarray, np.ndarray]:
    """(points (n_q, dim), weights (n_q,)) exact for products of two shape functions.

    A simplex (reference nodes in the unit simplex) gets a collapsed Gauss rule and a box
    cell ([-1, 1]^dim) a tensor Gauss rule, with order + 1 points per axis (order + 2 on a
    simplex, for the collapse's Jacobian); order is 1 for cells with dim + 1 (simplex) or
    2^dim (box) nodes and 2 otherwise (quadratic cells).
    """
    reference = cell_type.reference_nodes
    dim = cell_type.dim
    simplex = np.all(reference >= -1e-12) and np.all(reference.sum(axis=1) <= 1 + 1e-12)
    order = 1 if cell_type.n_nodes in (dim + 1, 2**dim) else 2
    n = order + 2 if simplex else order + 1
    x, w = np.polynomial.legendre.leggauss(n)
    grid = np.stack(np.meshgrid(*[x] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    weights = np.prod(np.stack(np.meshgrid(*[w] * dim, indexing="ij"), axis=-1).reshape(-1, dim), axis=1)
    if not simplex:
        return grid, weights
    # Duffy's collapse of [0, 1]^dim onto the simplex: ξ_k = t_k Π_{j<k} (1 − t_j), with
    # Jacobian Π_k (1 − t_k)^(dim − 1 − k); n points integrate its extra degree exactly.
    t = (grid + 1) / 2
    weights = weights / 2**dim
    points = np.empty_like(t)
    remaining = np.ones(len(t))
    for k in range(dim):
        points[:, k] = t[:, k] * remaining
        weights = weights * (1 - t[:, k]) ** (dim - 1 - k)
        remaining = remaining * (1 - t[:, k])
    return points, weights
