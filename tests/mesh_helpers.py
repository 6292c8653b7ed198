"""Small general meshes for tests: distorted quads/hexes and triangulated grids."""

import numpy as np
import scipy.sparse as sp

from femopt.element import CELL_TYPES
from femopt.fem.dofs import DofMap
from femopt.mesh import Mesh, StructuredMesh

# Kuhn's split of a cube (VTK corner order) into 6 tetrahedra along the diagonal 0–6:
# one per order of the axes; neighbouring cubes split the same way, so faces match.
KUHN = np.array([[0, 1, 2, 6], [0, 1, 5, 6], [0, 3, 2, 6], [0, 3, 7, 6], [0, 4, 5, 6], [0, 4, 7, 6]])


def distorted(grid, size, amount=0.25, seed=0, cell_type=None) -> Mesh:
    """A StructuredMesh's cells (or T3/T4 splits of them) with interior nodes moved by up
    to ``amount`` element sizes per axis: a general mesh with unequal, non-box cells."""
    box = StructuredMesh(grid, size)
    coords = box.node_coords.copy()
    lower, upper = box.bounds
    interior = np.all((coords > lower + 1e-9) & (coords < upper - 1e-9), axis=1)
    rng = np.random.default_rng(seed)
    coords[interior] += amount * box.element_size * rng.uniform(-1, 1, (interior.sum(), box.dim))
    cells = box.cells
    if cell_type == "T3":
        cells = cells[:, [[0, 1, 2], [0, 2, 3]]].reshape(-1, 3)
    elif cell_type == "T4":
        cells = positively_oriented(coords, cells[:, KUHN].reshape(-1, 4))
    return Mesh(coords, cells, cell_type or box.cell_type)


def positively_oriented(coords, simplices):
    """simplices (n, dim + 1) with nodes 1 and 2 swapped where the volume is negative."""
    corners = coords[simplices]
    det = np.linalg.det(corners[:, 1:] - corners[:, :1])
    out = simplices.copy()
    out[det < 0, 1], out[det < 0, 2] = simplices[det < 0, 2], simplices[det < 0, 1]
    return out


def as_general(mesh: StructuredMesh) -> Mesh:
    """The same grid as a general Mesh (no structured fast paths)."""
    return Mesh(mesh.node_coords, mesh.cells, mesh.cell_type)


def quadratic(mesh: Mesh) -> Mesh:
    """The T6 (from T3) or T10 (from T4) mesh with a node added at the midpoint of every
    edge, shared by the cells around it: straight-sided quadratic cells."""
    cell_type = CELL_TYPES.create({"T3": "T6", "T4": "T10"}[mesh.cell_type.name])
    edges = np.array(cell_type.edges)
    ends = mesh.cells[:, edges]                                         # (n_el, n_edges, 2)
    unique, inverse = np.unique(np.sort(ends, axis=2).reshape(-1, 2), axis=0, return_inverse=True)
    coords = np.vstack([mesh.node_coords, mesh.node_coords[unique].mean(axis=1)])
    cells = np.hstack([mesh.cells, mesh.n_nodes + inverse.reshape(len(mesh.cells), -1)])
    return Mesh(coords, cells, cell_type)


def boundary_facets(mesh: Mesh, where=None) -> np.ndarray:
    """(n, nodes per facet) outward-oriented facets that bound one cell only, those whose
    centroid (n, dim) satisfies ``where`` (a function returning (n,) bools) if given."""
    local = np.array(mesh.cell_type.facets)
    facets = mesh.cells[:, local].reshape(-1, local.shape[1])
    _, first, count = np.unique(np.sort(facets, axis=1), axis=0, return_index=True, return_counts=True)
    facets = facets[np.sort(first[count == 1])]
    if where is not None:
        facets = facets[where(mesh.node_coords[facets].mean(axis=1))]
    return facets


# The straight-sided simplices each quadratic cell type is made from (None: distorted boxes).
LINEAR_CELL = {"Q4": None, "H8": None, "T3": "T3", "T4": "T4", "T6": "T3", "T10": "T4"}


def general_mesh(name: str, grid, amount=0.25, seed=0) -> Mesh:
    """A distorted mesh of ``name`` cells (Q4, H8, T3, T4, T6, T10) on ``grid`` boxes of unit
    size; T6 and T10 straight-sided, from T3 and T4."""
    mesh = distorted(grid, tuple(float(n) for n in grid), amount=amount, seed=seed,
                     cell_type=LINEAR_CELL[name])
    return quadratic(mesh) if name in ("T6", "T10") else mesh


def dense_global(mesh: Mesh, ke: np.ndarray, components: int) -> np.ndarray:
    """The dense global matrix of element matrices ke ((n_el,) n, n; one shared or one per
    element) with ``components`` DOFs per node."""
    dofs = DofMap(mesh, components).element_dofs
    n = components * mesh.n_nodes
    rows, cols = np.repeat(dofs, dofs.shape[1], axis=1).ravel(), np.tile(dofs, dofs.shape[1]).ravel()
    values = np.broadcast_to(ke, (len(dofs),) + np.shape(ke)[-2:]).ravel()
    return sp.coo_matrix((values, (rows, cols)), shape=(n, n)).toarray()
