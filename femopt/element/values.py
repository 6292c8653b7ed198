"""Cell values (Ferrite.jl's ``CellValues``, scikit-fem's ``CellBasis``): for cells of one
type and a quadrature rule, the shape functions, their physical gradients and the volume
weight dV = det J · w of every quadrature point of every cell, computed once.

Every element integral of femopt is a sum over these points: the stiffness and
conduction matrices (:mod:`femopt.fem.elasticity`, :mod:`femopt.fem.heat`), the
Helmholtz filter's matrices (:mod:`femopt.design.helmholtz`), source integrals, cell
volumes and centroids. :meth:`CellValues.integrate` is the one quadrature loop, and
:func:`integrate` runs it over a large mesh a cache-sized block of cells at a time.
The physics that owns an integrand writes it; the cell values know no material.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from femopt.errors import MeshError

CHUNK_SIZE = 2048  # cells per block in integrate(): keeps the temporaries in cache


class InvertedCellError(MeshError):
    """A cell's Jacobian determinant is not positive: its nodes are in the wrong order
    (inverted) or it has no volume (degenerate)."""


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


class CellValues:
    """``CellValues(cell_type, coords, rule)``: shape functions, physical gradients and
    volume weights of the cells ``coords`` at the points of a quadrature ``rule``.

    cell_type: a :class:`femopt.element.cells.CellType`. coords: (n_el, n_nodes, dim) node
    coordinates (length units), nodes in the cell type's local order. rule: (points
    (n_q, dim), weights (n_q,)) on the reference cell; default the cell type's own rule.

    N (n_q, n_nodes): shape functions at the points (the same in every cell).
    dV (n_el, n_q): det J · w, the volume (area in 2D) each point stands for.
    gradients (n_q, n_el, n_nodes, dim): dN/dx = dN/dξ · J⁻¹; ``gradients[q]`` holds point
    q's for every cell (computed on first use, then kept).
    points (n_el, n_q, dim): the points' physical positions (computed on first use).

    Raises :class:`InvertedCellError`, naming the first cell, when a determinant is not
    positive.
    """

    def __init__(self, cell_type, coords: np.ndarray, rule: tuple[np.ndarray, np.ndarray] | None = None):
        points, self.weights = cell_type.quadrature if rule is None else rule
        self.coords = coords
        self.N = cell_type.shape_functions(points)                        # (n_q, n_nodes)
        self.reference_gradients = cell_type.shape_gradients(points)      # (n_q, n_nodes, dim)
        # Only dV is kept: the Jacobians (n_q · n_el · dim² numbers) would outweigh it when
        # only volumes are asked for, and gradients recompute them in a tenth of the work
        # of a stiffness matrix.
        self.dV = np.stack([w * jacobians(coords, g)[1] for w, g in zip(self.weights, self.reference_gradients)],
                           axis=1)

    @property
    def n_points(self) -> int:
        return len(self.weights)

    @cached_property
    def gradients(self) -> np.ndarray:
        """(n_q, n_el, n_nodes, dim) physical shape-function gradients."""
        return np.stack([np.matmul(g, np.linalg.inv(jacobians(self.coords, g)[0]))
                         for g in self.reference_gradients])

    @cached_property
    def points(self) -> np.ndarray:
        """(n_el, n_q, dim) physical positions of the quadrature points."""
        return np.einsum("qn,end->eqd", self.N, self.coords)

    def integrate(self, integrand, out: np.ndarray | None = None) -> np.ndarray:
        """(n_el, …) ∫ f dV over each cell = Σ_q f_q · dV[:, q], with ``integrand(q)`` giving
        f at point q: (n_el, …) or broadcastable to it (one value for every cell). Added
        into ``out`` when given."""
        for q in range(self.n_points):
            term = integrand(q)
            dV = self.dV[:, q].reshape((-1,) + (1,) * (np.ndim(term) - 1))
            term = term * dV
            if out is None:
                out = np.zeros(np.broadcast_shapes(term.shape, dV.shape))
            out += term
        return out

    def volumes(self) -> np.ndarray:
        """(n_el,) the cells' volumes (areas in 2D): ∫ dV."""
        return self.integrate(lambda q: 1.0)

    def centroids(self) -> np.ndarray:
        """(n_el, dim) the cells' centroids ∫ x dV / ∫ dV."""
        return np.einsum("eq,eqd->ed", self.dV, self.points) / self.dV.sum(axis=1)[:, None]

    def shape_integrals(self) -> np.ndarray:
        """(n_el, n_nodes) ∫ N_a dV: the consistent nodal shares of a unit volumetric source."""
        return self.dV @ self.N


def integrate(cell_type, coords: np.ndarray, integrand, shape: tuple[int, ...],
              rule: tuple[np.ndarray, np.ndarray] | None = None, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """(n_el, *shape) ∫ f dV over every cell of coords (n_el, n_nodes, dim), a block of
    ``chunk_size`` cells at a time: ``integrand(values, q)`` gives f at point q of the
    block's :class:`CellValues` ``values``, (n_block, *shape).

    Blocks keep the temporaries in cache (one pass over 100k T10 stiffness matrices of
    720 MB at once costs page faults and memory traffic, not arithmetic). Raises
    :class:`InvertedCellError` naming the first cell of all with a non-positive Jacobian
    determinant at a quadrature point.
    """
    out = np.zeros((len(coords),) + tuple(shape))
    for start in range(0, len(coords), chunk_size):
        block = slice(start, start + chunk_size)
        try:
            values = CellValues(cell_type, coords[block], rule)
        except InvertedCellError:
            CellValues(cell_type, coords, rule)  # again on every cell, so the message counts from cell 0
            raise
        values.integrate(lambda q: integrand(values, q), out=out[block])
    return out
