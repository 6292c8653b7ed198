"""A general mesh: node coordinates, cells of one cell type, and named groups — geometry
only (the physics computes its element matrices from :class:`femopt.element.CellValues`)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from femopt.element import CellValues
from femopt.element import cell_type as _cell_type
from femopt.errors import MeshError

AXES = ("x", "y", "z")


class Mesh:
    """Nodes, cells of one :class:`~femopt.element.cells.CellType` and named groups (Ferrite.jl's ``Grid``).

    node_coords: (n_nodes, dim) coordinates in length units.
    cells: (n_elements, nodes per cell) node numbers of each cell, in the cell type's
        local order (VTK's; see :mod:`femopt.element.cells`).
    cell_type: a :class:`CellType` or its name ("Q4", "H8", "T3", "T4", "T6", "T10").
    node_groups: name → (n,) node numbers.
    facet_groups: name → (n_facets, nodes per facet) node numbers of each facet.
    cell_groups: name → (n,) cell numbers.

    The arrays are made read-only: a mesh does not change after it is built, so
    the quantities derived from it (volumes, centers) are computed once.
    """

    structured = False
    merged_nodes = 0  # coincident nodes the file reader merged (femopt.mesh.io)

    def __init__(self, node_coords, cells, cell_type, node_groups=None, facet_groups=None,
                 cell_groups=None):
        self.cell_type = _cell_type(cell_type)
        self.node_coords = _frozen(np.array(node_coords, float))
        self.cells = _frozen(np.array(cells, np.int64))
        self.node_groups = {k: _frozen(np.array(v, np.int64)) for k, v in (node_groups or {}).items()}
        self.facet_groups = {k: _frozen(np.array(v, np.int64)) for k, v in (facet_groups or {}).items()}
        self.cell_groups = {k: _frozen(np.array(v, np.int64)) for k, v in (cell_groups or {}).items()}
        self._check()

    def _check(self) -> None:
        ct = self.cell_type
        if self.node_coords.ndim != 2 or self.node_coords.shape[1] != ct.dim:
            raise MeshError(f"{ct.name} cells need node coordinates of shape (n_nodes, {ct.dim}), "
                            f"got {self.node_coords.shape}")
        if self.cells.ndim != 2 or self.cells.shape[1] != ct.n_nodes:
            raise MeshError(f"{ct.name} cells need {ct.n_nodes} nodes each, got an array of shape "
                            f"{self.cells.shape}")
        if self.cells.size and (self.cells.min() < 0 or self.cells.max() >= len(self.node_coords)):
            raise MeshError(f"cells name nodes outside 0 … {len(self.node_coords) - 1}")

    @property
    def dim(self) -> int:
        return self.node_coords.shape[1]

    @property
    def n_nodes(self) -> int:
        return len(self.node_coords)

    @property
    def n_elements(self) -> int:
        return len(self.cells)

    @property
    def element_nodes(self) -> np.ndarray:
        """(n_elements, nodes per cell) node numbers of each element: the cells."""
        return self.cells

    @cached_property
    def element_centers(self) -> np.ndarray:
        """(n_elements, dim) element centroids ∫ x dV / V."""
        return CellValues(self.cell_type, self.node_coords[self.cells]).centroids()

    @cached_property
    def element_volumes(self) -> np.ndarray:
        """(n_elements,) element volumes; in 2D areas (per unit thickness)."""
        return CellValues(self.cell_type, self.node_coords[self.cells]).volumes()

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """((dim,) lower, (dim,) upper) corners of the bounding box of the nodes."""
        return self.node_coords.min(axis=0), self.node_coords.max(axis=0)

    @cached_property
    def characteristic_size(self) -> float:
        """A typical element edge length (length units), for tolerances: the median of
        volume^(1/dim) over the elements."""
        return float(np.median(self.element_volumes ** (1 / self.dim)))

    def _selection_tolerance(self) -> np.ndarray:
        """(dim,) how far off a coordinate may be and still match, per axis."""
        return np.full(self.dim, 1e-3 * self.characteristic_size)

    def select_nodes(self, ranges) -> np.ndarray:
        """Node numbers whose coordinates lie in every ``(axis, lo, hi)`` of ``ranges``.

        A coordinate matches within 0.1 % of the element size along that axis, so
        ``x: 60`` finds the nodes of the line x = 60 despite round-off.
        """
        tolerance = self._selection_tolerance()
        inside = np.ones(self.n_nodes, bool)
        for axis, lo, hi in ranges:
            a = AXES.index(axis)
            c = self.node_coords[:, a]
            inside &= (c >= lo - tolerance[a]) & (c <= hi + tolerance[a])
        return np.flatnonzero(inside)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_nodes} nodes, {self.n_elements} {self.cell_type.name} cells)"


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
