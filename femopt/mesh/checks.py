"""Checks of a mesh read from a file, before anything is computed on it.

- :func:`check_coordinates`: node coordinates that double precision carries through
  element volumes, stiffness and compliance (finite, the part's size in COORDINATE_RANGE);
- :func:`merge_coincident_nodes`: nodes at the same place (an unwelded seam: two surfaces or
  volumes meshed apart, an exporter that writes shared nodes once per part) are merged —
  otherwise the part is cracked along the seam and silently far less stiff;
- :func:`parts`: the connected parts the cells form (a part with no support is a floating
  island: K singular).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from femopt.errors import MeshError

# The part's size (largest extent of its bounding box) and its coordinates' magnitude, in
# length units: element volumes (down to (size / 10⁶)³), K (E·size) and compliance
# (F²/(E·size)) must stay inside double precision, subnormals excluded, for any material
# value and load in femopt.config.MAGNITUDES (metres to nanometres use 10⁻⁹ of it).
COORDINATE_RANGE = (1e-50, 1e50)
# Nodes closer than this fraction of the part's size (and than MERGE_CELL_FRACTION of the
# shortest distance between two nodes of one cell) are one node: far below any element, far
# above the round-off of coordinates written in single precision (6e-8 relative).
MERGE_FRACTION = 1e-6
MERGE_CELL_FRACTION = 1e-3


def check_coordinates(coords: np.ndarray, source: str, scale: float = 1.0) -> None:
    """Raise MeshError unless every coordinate (n_nodes, dim) is finite and the mesh's size and
    coordinates lie in COORDINATE_RANGE. ``scale``: the factor the file's coordinates were
    multiplied by, named in the message."""
    bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    if len(bad):
        shown = ", ".join(f"{v:g}" for v in coords[bad[0]])
        raise MeshError(f"{source}: node {bad[0]} has a coordinate that is not a finite number "
                        f"({shown}){_scaled(scale)}")
    if not len(coords):
        return
    lo, hi = COORDINATE_RANGE
    with np.errstate(over="ignore"):  # an extent beyond the largest double is inf: reported
        size = float((coords.max(axis=0) - coords.min(axis=0)).max())
    largest = float(np.abs(coords).max())
    if not lo <= size <= hi or largest > hi:
        what = f"spans {size:g} length units" if not lo <= size <= hi else f"has coordinates up to {largest:g}"
        raise MeshError(f"{source}: the mesh {what}{_scaled(scale)}; femopt computes with parts of "
                        f"size {lo:g} to {hi:g} within {hi:g} of the origin (use other units"
                        f"{', or another mesh.scale' if scale != 1 else ''})")


def _scaled(scale: float) -> str:
    return "" if scale == 1 else f" (the file's coordinates × mesh.scale {scale:g})"


def merge_tolerance(coords: np.ndarray, cells: np.ndarray) -> float:
    """The distance (length units) below which two nodes of (n_nodes, dim) ``coords`` are one:
    MERGE_FRACTION of the mesh's size, and at most MERGE_CELL_FRACTION of the shortest
    distance between consecutive nodes of a cell (their edges, for the linear cells)."""
    size = float((coords.max(axis=0) - coords.min(axis=0)).max()) if len(coords) else 0.0
    spacing = np.linalg.norm(coords[cells] - coords[np.roll(cells, 1, axis=1)], axis=2)
    return min(MERGE_FRACTION * size, MERGE_CELL_FRACTION * float(spacing.min(initial=np.inf)))


def merge_coincident_nodes(coords: np.ndarray, cells: np.ndarray, node_groups: dict,
                           facet_groups: dict) -> tuple[np.ndarray, np.ndarray, dict, dict, int]:
    """Merge nodes closer than :func:`merge_tolerance` (a KD-tree's pairs, chained: each
    cluster becomes its lowest-numbered node), drop the nodes no cell uses any more and
    renumber the rest in their order.

    coords: (n_nodes, dim); cells: (n_cells, k) node numbers; node_groups: name → (n,) nodes;
    facet_groups: name → (n, nodes per facet). Returns (coords, cells, node_groups,
    facet_groups, how many nodes were merged away); the inputs themselves when none were.
    """
    n = len(coords)
    pairs = cKDTree(coords).query_pairs(merge_tolerance(coords, cells), output_type="ndarray")
    if not len(pairs):
        return coords, cells, node_groups, facet_groups, 0
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, cluster = connected_components(graph, directed=False)
    lowest = np.full(cluster.max() + 1, n)
    np.minimum.at(lowest, cluster, np.arange(n))
    kept = lowest[cluster]                          # node → the node it merges into
    used = np.unique(kept[cells])                   # merged-away and orphaned nodes go
    renumber = np.full(n, -1, np.int64)
    renumber[used] = np.arange(len(used))
    target = renumber[kept]
    node_groups = {name: np.unique(target[nodes]) for name, nodes in node_groups.items()}
    node_groups = {name: nodes[nodes >= 0] for name, nodes in node_groups.items()}
    facet_groups = {name: np.unique(target[facets], axis=0) for name, facets in facet_groups.items()}
    return coords[used], target[cells], node_groups, facet_groups, n - len(np.unique(kept))


def parts(cells: np.ndarray, n_nodes: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(number of parts, (n_cells,) the part of each cell, (n_nodes,) the part of each node,
    -1 for nodes no cell uses): cells sharing a node are in one part, numbered in the order
    of their first cells."""
    first = np.repeat(cells[:, :1], cells.shape[1] - 1, axis=1).ravel()
    graph = coo_matrix((np.ones(len(first)), (first, cells[:, 1:].ravel())), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    labels, first_cell, cell_part = np.unique(label[cells[:, 0]], return_index=True, return_inverse=True)
    rank = np.empty(len(labels), np.int64)
    rank[np.argsort(first_cell)] = np.arange(len(labels))    # in the order of their first cells
    node_part = np.full(label.max(initial=-1) + 1, -1, np.int64)
    node_part[labels] = rank
    used = np.zeros(n_nodes, bool)
    used[cells.ravel()] = True
    return len(labels), rank[cell_part.ravel()], np.where(used, node_part[label], -1)
