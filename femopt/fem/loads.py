"""Consistent nodal forces of surface loads (tractions, pressure) on boundary facets.

A facet is given by its node numbers in the order of the cell type's ``facet_type``
(:mod:`femopt.element.cells`) or any rotation or reflection of it, as mesh files list
them. Each facet is matched to the cell it bounds, and the cell's outward-oriented
copy of the facet is integrated, so a facet's orientation in the file does not matter:
pressure always pushes into the body.

Nodal forces are f_a = ∫ N_a t dS (traction t) and f_a = −p ∫ N_a n dS (pressure p,
outward normal n), by the facet type's quadrature over the facet's true (isoparametric)
geometry: a uniform traction on a quadratic edge gives its nodes 1/6, 1/6 and 2/3 of
the total, not equal shares. ``n dS`` is the cross product of the facet's tangents
(2D: the tangent turned clockwise), a polynomial, so pressure is integrated exactly
even on curved facets; a traction on a flat facet is exact too.

A total force F on a facet group, spread as a uniform traction::

    facet_forces(mesh, facets, traction=F / facet_measure(mesh, facets, thickness), thickness=thickness)

The heat inputs of a scalar field (physics: heat) are integrated the same way:
:func:`facet_flux` (a boundary flux, f_a = q ∫ N_a dS) and :func:`source_heat` (a
volumetric source, f_a = Q ∫ N_a dV over the cells).
"""

from __future__ import annotations

import numpy as np

from femopt.errors import MeshError
from femopt.fem.heat import source_integrals


def facet_forces(mesh, facets: np.ndarray, traction=None, pressure=None,
                 thickness: float = 1.0) -> np.ndarray:
    """(n_nodes, dim) consistent nodal forces (force units) of a surface load on facets.

    mesh: any :class:`femopt.mesh.Mesh` (a structured one too).
    facets: (n_facets, nodes per facet) node numbers of boundary facets of mesh.
    traction: (dim,) force per unit area (3D) or per unit length and unit thickness (2D).
    pressure: a number, force per unit area pushing INTO the body: t = −p · n_outward.
        Either or both (their forces add) must be given.
    thickness: the plate thickness of a 2D (plane stress) mesh; ignored in 3D.

    Raises :class:`femopt.errors.MeshError` naming the first facet that is not a
    boundary facet of the mesh (no cell has it, or two cells share it).
    """
    if traction is None and pressure is None:
        raise ValueError("facet_forces needs a traction or a pressure")
    oriented = _oriented_facets(mesh, facets)
    weights, N, area_vectors = _facet_geometry(mesh, oriented)          # (n_q,), (n_q, n_fn), (n_f, n_q, dim)
    dim = mesh.dim
    forces = np.zeros(oriented.shape + (dim,))                          # (n_f, n_fn, dim)
    if traction is not None:
        traction = np.asarray(traction, float)
        if traction.shape != (dim,):
            raise ValueError(f"a traction on a {dim}D mesh has {dim} components, got shape {traction.shape}")
        dS = np.linalg.norm(area_vectors, axis=2)                       # (n_f, n_q)
        forces += np.einsum("q,qn,fq->fn", weights, N, dS)[:, :, None] * traction
    if pressure is not None:
        forces -= float(pressure) * np.einsum("q,qn,fqd->fnd", weights, N, area_vectors)
    if dim == 2:
        forces *= thickness
    nodal = np.empty((mesh.n_nodes, dim))
    for c in range(dim):
        nodal[:, c] = np.bincount(oriented.ravel(), forces[:, :, c].ravel(), minlength=mesh.n_nodes)
    return nodal


def facet_flux(mesh, facets: np.ndarray, flux: float, thickness: float = 1.0) -> np.ndarray:
    """(n_nodes,) consistent nodal heat inputs f_a = q ∫ N_a dS (power units) of a uniform
    flux q (power per unit area flowing into the body; per unit length and unit thickness
    in 2D) on the boundary facets (n_facets, nodes per facet) of mesh. Raises like
    :func:`facet_forces`."""
    oriented = _oriented_facets(mesh, facets)
    weights, N, area_vectors = _facet_geometry(mesh, oriented)
    shares = np.einsum("q,qn,fq->fn", weights, N, np.linalg.norm(area_vectors, axis=2)) * float(flux)
    if mesh.dim == 2:
        shares *= thickness
    return np.bincount(oriented.ravel(), shares.ravel(), minlength=mesh.n_nodes)


def source_heat(mesh, cells: np.ndarray, source: float, thickness: float = 1.0) -> np.ndarray:
    """(n_nodes,) consistent nodal heat inputs f_a = Q ∫ N_a dV (power units) of a uniform
    heat source Q (power per unit volume) in ``cells`` (n,) of mesh (a 2D plate of
    ``thickness``)."""
    shares = source_integrals(mesh, thickness)[cells] * float(source)      # (n, nodes per cell)
    return np.bincount(mesh.cells[cells].ravel(), shares.ravel(), minlength=mesh.n_nodes)


def facet_measure(mesh, facets: np.ndarray, thickness: float = 1.0) -> float:
    """Total area (3D, area units) or length × thickness (2D) of the boundary facets
    (n_facets, nodes per facet) of mesh; raises like :func:`facet_forces`."""
    oriented = _oriented_facets(mesh, facets)
    weights, _, area_vectors = _facet_geometry(mesh, oriented)
    measure = float((np.linalg.norm(area_vectors, axis=2) @ weights).sum())
    return measure * thickness if mesh.dim == 2 else measure


def _oriented_facets(mesh, facets) -> np.ndarray:
    """(n_facets, nodes per facet) the cells' own outward-oriented copies of ``facets``,
    in the facet type's node order; each given facet is found by its sorted node numbers."""
    cell_type = mesh.cell_type
    n_facet_nodes = cell_type.facet_type.n_nodes
    facets = np.asarray(facets, np.int64)
    if facets.size == 0:
        return np.zeros((0, n_facet_nodes), np.int64)
    if facets.ndim != 2 or facets.shape[1] != n_facet_nodes:
        raise MeshError(f"facets of {cell_type.name} cells have {n_facet_nodes} nodes each, got an "
                        f"array of shape {facets.shape}")
    if facets.min() < 0 or facets.max() >= mesh.n_nodes:
        raise MeshError(f"facets name nodes outside 0 … {mesh.n_nodes - 1}")
    # Only cell facets whose nodes all lie on the given facets can match: sort those few,
    # not every facet of a large mesh.
    on_facets = np.zeros(mesh.n_nodes, bool)
    on_facets[facets] = True
    local = np.array(cell_type.facets)                                  # (facets per cell, n_fn)
    candidates = mesh.cells[np.any(on_facets[mesh.cells], axis=1)][:, local].reshape(-1, n_facet_nodes)
    candidates = candidates[np.all(on_facets[candidates], axis=1)]
    keys = np.sort(np.vstack([candidates, facets]), axis=1)
    _, index, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    cells_having = np.bincount(inverse[:len(candidates)], minlength=len(index))
    matched = inverse[len(candidates):]
    bad = np.flatnonzero(cells_having[matched] != 1)
    if len(bad):
        i = bad[0]
        why = "no cell has it" if cells_having[matched[i]] == 0 else "two cells share it (an interior facet)"
        raise MeshError(f"facet {i} (nodes {facets[i].tolist()}) is not a boundary facet of the mesh: {why}")
    # np.unique's first occurrence of each key is a cell's copy: candidates come first.
    return candidates[index[matched]]


def _facet_geometry(mesh, facets: np.ndarray):
    """Quadrature weights (n_q,), facet shape functions (n_q, n_fn) and area vectors
    n dS/dξ (n_facets, n_q, dim) of oriented facets, outward by the right-hand rule."""
    facet_type = mesh.cell_type.facet_type
    points, weights = facet_type.quadrature
    x = mesh.node_coords[facets]                                         # (n_f, n_fn, dim)
    tangents = np.einsum("fnd,qnk->fqdk", x, facet_type.shape_gradients(points))  # (n_f, n_q, dim, dim-1)
    if mesh.dim == 2:
        # The cell lies left of its facet a → b, so the tangent turned clockwise points out.
        area_vectors = np.stack([tangents[..., 1, 0], -tangents[..., 0, 0]], axis=-1)
    else:
        area_vectors = np.cross(tangents[..., 0], tangents[..., 1])
    return weights, facet_type.shape_functions(points), area_vectors
