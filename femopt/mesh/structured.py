"""Structured grids of bilinear quads (2D) or trilinear hexahedra (3D): a :class:`Mesh`
with fast paths (``structured`` is True: the physics computes one element matrix shared by
every element, the filters convolve, the output writes images).

Numbering (0-based), for a grid of ``nx × ny [× nz]`` elements:

- node ``(i, j[, k])`` → ``(k · (nx+1) + i) · (ny+1) + j``: y runs fastest, then x, then z;
- element ``(i, j[, k])`` → ``(k · nx + i) · ny + j``, the same order;
- DOF of node ``n``, component ``c`` (0 = x, 1 = y, 2 = z) → ``dim · n + c``
  (:class:`femopt.fem.dofs.DofMap` with dim components).

Element nodes run counter-clockwise from the lower-left corner (the 88-line
code's order); in 3D the bottom face (z low) first, then the top face.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from femopt.element import H8, Q4, CellType
from femopt.mesh.base import Mesh

# Corner offsets (i, j[, k]) of an element's nodes in local order.
_CORNERS_2D = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
_CORNERS_3D = np.array([[i, j, k] for k in (0, 1) for i, j in _CORNERS_2D])


@dataclass(frozen=True)
class StructuredMesh(Mesh):
    """A box of ``grid`` equal elements spanning ``size`` length units, from (0, 0[, 0]).

    grid: elements per axis, (nx, ny) or (nx, ny, nz).
    size: physical extent per axis, same length as ``grid``.

    Cells are Q4 (2D) or H8 (3D); it has no named groups.
    """

    grid: tuple[int, ...]
    size: tuple[float, ...]

    structured = True

    def __post_init__(self):
        if len(self.grid) not in (2, 3) or len(self.size) != len(self.grid):
            raise ValueError(f"grid {self.grid} and size {self.size} must both have 2 or 3 entries")

    @property
    def dim(self) -> int:
        return len(self.grid)

    @property
    def element_size(self) -> np.ndarray:
        """(dim,) edge lengths of every element."""
        return np.asarray(self.size, float) / np.asarray(self.grid)

    @property
    def n_elements(self) -> int:
        return math.prod(self.grid)  # exact: np.prod would wrap around for huge grids

    @property
    def n_nodes(self) -> int:
        return math.prod(n + 1 for n in self.grid)

    @property
    def cell_type(self) -> CellType:
        return Q4 if self.dim == 2 else H8

    @cached_property
    def node_groups(self) -> dict:
        return {}

    @cached_property
    def facet_groups(self) -> dict:
        return {}

    @cached_property
    def cell_groups(self) -> dict:
        return {}

    @property
    def cells(self) -> np.ndarray:
        """(n_elements, 4 or 8) the element nodes."""
        return self.element_nodes

    @cached_property
    def element_volumes(self) -> np.ndarray:
        """(n_elements,) the volume (area in 2D) of every element: all equal."""
        return np.full(self.n_elements, float(np.prod(self.element_size)))

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.asarray(self.size, float)

    @property
    def characteristic_size(self) -> float:
        """The shortest element edge (length units)."""
        return float(np.min(self.element_size))

    @cached_property
    def node_coords(self) -> np.ndarray:
        """(n_nodes, dim) node coordinates."""
        return self._grid_index(np.asarray(self.grid) + 1) * self.element_size

    @cached_property
    def element_centers(self) -> np.ndarray:
        """(n_elements, dim) element centroids."""
        return (self._grid_index(np.asarray(self.grid)) + 0.5) * self.element_size

    @cached_property
    def element_nodes(self) -> np.ndarray:
        """(n_elements, 4 or 8) node numbers of each element, in local order."""
        lower = self._grid_index(np.asarray(self.grid))
        corners = _CORNERS_2D if self.dim == 2 else _CORNERS_3D
        return self.node_number(lower[:, None, :] + corners[None, :, :])

    def node_number(self, index: np.ndarray) -> np.ndarray:
        """Node numbers of integer grid positions ``index`` (..., dim)."""
        nx, ny = self.grid[0] + 1, self.grid[1] + 1
        number = index[..., 0] * ny + index[..., 1]
        if self.dim == 3:
            number = number + index[..., 2] * nx * ny
        return number

    def _selection_tolerance(self) -> np.ndarray:
        return 1e-3 * self.element_size

    def _grid_index(self, counts: np.ndarray) -> np.ndarray:
        """(prod(counts), dim) integer positions (i, j[, k]) in this module's order."""
        # C order over (z,) x, y so that y runs fastest, then x, then z.
        order = (0, 1) if self.dim == 2 else (2, 0, 1)
        shape = tuple(counts[a] for a in order)
        idx = np.indices(shape).reshape(self.dim, -1)
        out = np.empty((idx.shape[1], self.dim), int)
        for position, axis in enumerate(order):
            out[:, axis] = idx[position]
        return out
