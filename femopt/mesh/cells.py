"""Cell types: reference geometry, shape functions, quadrature and facets of one kind of cell.

=====  ===  =======  ==========  ====================================================
name   dim  nodes    meshio      reference cell, local node order
=====  ===  =======  ==========  ====================================================
Q4     2    4        quad        [-1, 1]², counter-clockwise from (-1, -1)
H8     3    8        hexahedron  [-1, 1]³, bottom face (ζ = -1) as Q4, then the top face
T3     2    3        triangle    (0, 0), (1, 0), (0, 1)
T4     3    4        tetra       (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)
=====  ===  =======  ==========  ====================================================

The local orders are VTK's (and meshio's), so cells go to and from files unchanged.
Facets list local node indices counter-clockwise seen from outside the cell, so their
normals (by the right-hand rule) point outwards; in 2D a facet (a, b) has the cell
on its left.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from femopt.elements import jacobians, stiffness_by_quadrature
from femopt.registry import Registry

CELL_TYPES = Registry("cell type")


@dataclass(frozen=True, eq=False)
class CellType:
    """A kind of cell with linear (or multilinear) shape functions.

    reference_nodes: (n_nodes, dim) node positions on the reference cell.
    facets: local node indices of each facet, outward-oriented (module docstring).
    quadrature_points: (n_q, dim) reference points; quadrature_weights: (n_q,).
    """

    name: str
    meshio_name: str
    reference_nodes: np.ndarray
    facets: tuple[tuple[int, ...], ...]
    quadrature_points: np.ndarray
    quadrature_weights: np.ndarray

    @property
    def dim(self) -> int:
        return self.reference_nodes.shape[1]

    @property
    def n_nodes(self) -> int:
        return self.reference_nodes.shape[0]

    @property
    def quadrature(self) -> tuple[np.ndarray, np.ndarray]:
        """(points (n_q, dim), weights (n_q,)) of the element's quadrature rule."""
        return self.quadrature_points, self.quadrature_weights

    def shape_functions(self, points: np.ndarray) -> np.ndarray:
        """(n_points, n_nodes) shape-function values at reference points (n_points, dim)."""
        raise NotImplementedError

    def shape_gradients(self, points: np.ndarray) -> np.ndarray:
        """(n_points, n_nodes, dim) reference gradients dN/dξ at points (n_points, dim)."""
        raise NotImplementedError

    def stiffness(self, coords: np.ndarray, D: np.ndarray) -> np.ndarray:
        """(n_el, dim · n_nodes, dim · n_nodes) element stiffness ∫ Bᵀ D B dV of cells with
        node coordinates coords (n_el, n_nodes, dim), for the constitutive matrix D.

        Raises :class:`femopt.elements.InvertedCellError` for a cell with a non-positive
        Jacobian determinant.
        """
        return stiffness_by_quadrature(coords, D, self.shape_gradients(self.quadrature_points),
                                       self.quadrature_weights)

    def volumes(self, coords: np.ndarray) -> np.ndarray:
        """(n_el,) cell volumes (areas in 2D) of coords (n_el, n_nodes, dim)."""
        return sum(w * jacobians(coords, g)[1] for g, w in
                   zip(self.shape_gradients(self.quadrature_points), self.quadrature_weights))

    def centroids(self, coords: np.ndarray) -> np.ndarray:
        """(n_el, dim) centroids ∫ x dV / V of coords (n_el, n_nodes, dim)."""
        N = self.shape_functions(self.quadrature_points)                    # (n_q, n_nodes)
        det = np.stack([jacobians(coords, g)[1] for g in self.shape_gradients(self.quadrature_points)],
                       axis=1)                                              # (n_el, n_q)
        weighted = det * self.quadrature_weights                             # (n_el, n_q)
        points = np.einsum("qn,end->eqd", N, coords)                         # (n_el, n_q, dim)
        return np.einsum("eq,eqd->ed", weighted, points) / weighted.sum(axis=1)[:, None]

    def box(self, size) -> np.ndarray:
        """(n_nodes, dim) node coordinates of a box cell [0, size] (Q4, H8 only)."""
        raise ValueError(f"{self.name} cells are not boxes")


class TensorProductCell(CellType):
    """Q4, H8: N_a(ξ) = Π_i (1 + s_ai ξ_i) / 2 with s_a = ±1 the node's corner."""

    def shape_functions(self, points):
        points = np.atleast_2d(points)
        factors = (1 + self.reference_nodes[None] * points[:, None, :]) / 2   # (n_p, n_nodes, dim)
        return np.prod(factors, axis=2)

    def shape_gradients(self, points):
        points = np.atleast_2d(points)
        factors = (1 + self.reference_nodes[None] * points[:, None, :]) / 2
        gradients = np.empty(factors.shape)
        for a in range(self.dim):
            # d/dξ_a of the factor a is s_a / 2; the other factors stay.
            others = np.prod(np.delete(factors, a, axis=2), axis=2)
            gradients[:, :, a] = self.reference_nodes[:, a] / 2 * others
        return gradients

    def box(self, size):
        return (self.reference_nodes + 1) / 2 * np.asarray(size, float)


class SimplexCell(CellType):
    """T3, T4: N_0 = 1 − Σ ξ_i, N_i = ξ_i (constant gradients)."""

    def shape_functions(self, points):
        points = np.atleast_2d(points)
        return np.column_stack([1 - points.sum(axis=1), points])

    def shape_gradients(self, points):
        points = np.atleast_2d(points)
        gradients = np.vstack([-np.ones(self.dim), np.eye(self.dim)])
        return np.broadcast_to(gradients, (len(points),) + gradients.shape)


def _tensor_gauss(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """2-point Gauss rule per axis (exact for the box stiffness): 2^dim points, weights 1."""
    points = np.array(list(product([-1.0, 1.0], repeat=dim))) / np.sqrt(3.0)
    return points, np.ones(len(points))


_SQUARE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)

Q4 = TensorProductCell(
    "Q4", "quad", _SQUARE, ((0, 1), (1, 2), (2, 3), (3, 0)), *_tensor_gauss(2))
H8 = TensorProductCell(
    "H8", "hexahedron",
    np.vstack([np.c_[_SQUARE, -np.ones(4)], np.c_[_SQUARE, np.ones(4)]]),
    ((0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)),
    *_tensor_gauss(3))
# Linear simplices have constant gradients: one point at the centroid integrates K exactly.
T3 = SimplexCell(
    "T3", "triangle", np.array([[0, 0], [1, 0], [0, 1]], float), ((0, 1), (1, 2), (2, 0)),
    np.array([[1 / 3, 1 / 3]]), np.array([1 / 2]))
T4 = SimplexCell(
    "T4", "tetra", np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float),
    ((0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)),
    np.array([[1 / 4, 1 / 4, 1 / 4]]), np.array([1 / 6]))

for _cell in (Q4, H8, T3, T4):
    CELL_TYPES.register(_cell.name, lambda cell=_cell: cell)


def cell_type(name_or_cell) -> CellType:
    """The CellType named ``name_or_cell`` ("Q4", "H8", "T3", "T4"), or the CellType itself."""
    if isinstance(name_or_cell, CellType):
        return name_or_cell
    return CELL_TYPES.create(name_or_cell)
