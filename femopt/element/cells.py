"""Cell types: reference geometry, shape functions, quadrature and facets of one kind of cell.

=====  ===  =======  ==========  ==========================================================
name   dim  nodes    meshio      reference cell, local node order
=====  ===  =======  ==========  ==========================================================
Q4     2    4        quad        [-1, 1]², counter-clockwise from (-1, -1)
H8     3    8        hexahedron  [-1, 1]³, bottom face (ζ = -1) as Q4, then the top face
T3     2    3        triangle    (0, 0), (1, 0), (0, 1)
T4     3    4        tetra       (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)
T6     2    6        triangle6   T3's corners, then the midpoints of edges 01, 12, 20
T10    3    10       tetra10     T4's corners, then the midpoints of edges 01, 12, 20, 03, 13, 23
=====  ===  =======  ==========  ==========================================================

The local orders are VTK's (and meshio's), so cells go to and from files unchanged.
Facets list local node indices counter-clockwise seen from outside the cell, so their
normals (by the right-hand rule) point outwards; in 2D a facet (a, b) has the cell
on its left. A facet's nodes are in the order of the cell type's ``facet_type``, the
reference element of its facets (for integrating loads over them):

=====  ==========  =====================================================================
cell   facet_type  facet reference element and its quadrature
=====  ==========  =====================================================================
Q4,T3  L2          2-node line [-1, 1], 2-point Gauss
T6     L3          3-node line [-1, 1] (ends, then the midpoint), 3-point Gauss
H8     Q4          Q4 (2 × 2 Gauss)
T4     T3          T3 (1 point: a flat triangle's ∫ N dA is exact)
T10    T6          T6 with a 6-point degree-4 rule, so that pressure on a curved facet,
                   ∫ N (∂x/∂ξ × ∂x/∂η) dξ dη (degree 4), is exact
=====  ==========  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from femopt.element.quadrature import symmetric_triangle_rule, tensor_gauss


@dataclass(frozen=True, eq=False)
class CellType:
    """A kind of cell: reference geometry, shape functions, quadrature, facets.

    reference_nodes: (n_nodes, dim) node positions on the reference cell.
    facets: local node indices of each facet, outward-oriented, in facet_type's node
        order (module docstring).
    quadrature_points: (n_q, dim) reference points; quadrature_weights: (n_q,).
    facet_type: the reference element of the facets (dimension dim − 1); None for lines.
    """

    name: str
    meshio_name: str
    reference_nodes: np.ndarray
    facets: tuple[tuple[int, ...], ...]
    quadrature_points: np.ndarray
    quadrature_weights: np.ndarray
    facet_type: CellType | None = None

    @property
    def dim(self) -> int:
        return self.reference_nodes.shape[1]

    @property
    def n_nodes(self) -> int:
        return self.reference_nodes.shape[0]

    @property
    def n_corners(self) -> int:
        """Nodes at the cell's corners; they come first (VTK's order), so
        ``cells[:, :n_corners]`` is the straight-sided outline of any cell."""
        return self.n_nodes

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


@dataclass(frozen=True, eq=False)
class QuadraticSimplexCell(CellType):
    """T6, T10: with barycentric coordinates L = (1 − Σ ξ_i, ξ_1, …), corner i has
    N_i = L_i (2 L_i − 1) and the midpoint of edge (a, b) has N = 4 L_a L_b.

    edges: the corners (a, b) of the edge of each midside node, in local order.
    """

    edges: tuple[tuple[int, int], ...] = ()

    @property
    def n_corners(self) -> int:
        return self.dim + 1

    def _barycentric(self, points):
        points = np.atleast_2d(points)
        return np.column_stack([1 - points.sum(axis=1), points])        # (n_p, dim + 1)

    def shape_functions(self, points):
        L = self._barycentric(points)
        a, b = np.array(self.edges).T
        return np.column_stack([L * (2 * L - 1), 4 * L[:, a] * L[:, b]])

    def shape_gradients(self, points):
        L = self._barycentric(points)
        dL = np.vstack([-np.ones(self.dim), np.eye(self.dim)])           # (dim + 1, dim) dL/dξ
        a, b = np.array(self.edges).T
        corners = (4 * L - 1)[:, :, None] * dL[None]
        edges = 4 * (L[:, b, None] * dL[a][None] + L[:, a, None] * dL[b][None])
        return np.concatenate([corners, edges], axis=1)


class QuadraticLineCell(CellType):
    """L3 on [-1, 1], nodes −1, 1, 0 (VTK's quadratic edge)."""

    n_corners = 2

    def shape_functions(self, points):
        x = np.atleast_2d(points)[:, 0]
        return np.column_stack([x * (x - 1) / 2, x * (x + 1) / 2, 1 - x**2])

    def shape_gradients(self, points):
        x = np.atleast_2d(points)[:, 0]
        return np.column_stack([x - 0.5, x + 0.5, -2 * x])[:, :, None]


def _quadratic_simplex(name, meshio_name, corner_cell, edges, facet_type, points, weights):
    """A T6/T10 cell: corner_cell's corners plus edge midpoints, VTK order; each facet of
    corner_cell gains the midpoints of its edges in the facet's own edge order."""
    corners = corner_cell.reference_nodes
    a, b = np.array(edges).T
    edge_number = {frozenset(e): len(corners) + i for i, e in enumerate(edges)}
    # A 2D facet (a, b) is one edge; a triangle (a, b, c) has the edges ab, bc, ca.
    facet_edges = [[f] if len(f) == 2 else list(zip(f, f[1:] + f[:1])) for f in corner_cell.facets]
    facets = tuple(tuple(f) + tuple(edge_number[frozenset(e)] for e in fe)
                   for f, fe in zip(corner_cell.facets, facet_edges))
    return QuadraticSimplexCell(name, meshio_name, np.vstack([corners, (corners[a] + corners[b]) / 2]),
                                facets, np.asarray(points, float), np.asarray(weights, float), facet_type,
                                tuple(edges))


_SQUARE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
_GAUSS3 = (np.array([[-np.sqrt(3 / 5)], [0.0], [np.sqrt(3 / 5)]]), np.array([5, 8, 5]) / 9)

# Facet reference elements (not cell types of meshes, so not registered).
L2 = TensorProductCell("L2", "line", np.array([[-1.0], [1.0]]), ((0,), (1,)), *tensor_gauss(1))
L3 = QuadraticLineCell("L3", "line3", np.array([[-1.0], [1.0], [0.0]]), ((0,), (1,)), *_GAUSS3)

Q4 = TensorProductCell(
    "Q4", "quad", _SQUARE, ((0, 1), (1, 2), (2, 3), (3, 0)), *tensor_gauss(2), L2)
H8 = TensorProductCell(
    "H8", "hexahedron",
    np.vstack([np.c_[_SQUARE, -np.ones(4)], np.c_[_SQUARE, np.ones(4)]]),
    ((0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)),
    *tensor_gauss(3), Q4)
# Linear simplices have constant gradients: one point at the centroid integrates K exactly.
T3 = SimplexCell(
    "T3", "triangle", np.array([[0, 0], [1, 0], [0, 1]], float), ((0, 1), (1, 2), (2, 0)),
    np.array([[1 / 3, 1 / 3]]), np.array([1 / 2]), L2)
T4 = SimplexCell(
    "T4", "tetra", np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float),
    ((0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)),
    np.array([[1 / 4, 1 / 4, 1 / 4]]), np.array([1 / 6]), T3)
# Quadratic simplices with straight edges have linear gradients: K's integrand has degree 2.
T6 = _quadratic_simplex(
    "T6", "triangle6", T3, ((0, 1), (1, 2), (2, 0)), L3,
    *symmetric_triangle_rule([(1 / 6, 1.0 / 3)]))                        # degree 2
# T10's facets: T6 with Strang & Fix's 6-point degree-4 rule (module docstring).
_T6_FACET = replace(T6, **dict(zip(("quadrature_points", "quadrature_weights"), symmetric_triangle_rule(
    [(0.445948490915965, 1 / 3 - 0.109951743655322), (0.091576213509771, 0.109951743655322)]))))
# Degree 2 on the tetrahedron: the 4 vertices shrunk towards the centroid, to a = (5 − √5) / 20.
_TET_A = (5 - np.sqrt(5)) / 20
T10 = _quadratic_simplex(
    "T10", "tetra10", T4, ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)), _T6_FACET,
    np.vstack([np.full(3, _TET_A), _TET_A + (1 - 4 * _TET_A) * np.eye(3)]), np.full(4, 1 / 24))
