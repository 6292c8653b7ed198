"""Files of a 3D result: a VTK unstructured grid, an STL of the solid and a rendered view.

- ``density.vtu`` (meshio): the cells in femopt's element order, with cell data
  ``rho`` and ``x`` and point data ``u`` (displacement vectors of the first load case),
  and given the material the cell data ``von_mises``
  (:func:`femopt.responses.stress.centre_von_mises`); ParaView
  opens it. Any mesh, 2D or 3D, of any cell type.
- ``density.stl``: the isosurface ρ = 0.5, closed where the solid meets the domain's
  boundary, in physical coordinates (binary STL, for printing or CAD). Structured
  meshes: marching cubes on the element densities (:func:`isosurface`); other 3D
  meshes: marching tetrahedra on nodal averages (:func:`isosurface_tetrahedra`).
- ``density.png``: that isosurface drawn from a fixed view (azimuth −60°, elevation
  20°, y upwards) with true proportions; for other meshes, the boundary faces of the
  cells with ρ ≥ 0.5, from the same view.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402

from femopt.element import H8, T4  # noqa: E402
from femopt.mesh import StructuredMesh  # noqa: E402
from femopt.responses.stress import centre_von_mises  # noqa: E402

LEVEL = 0.5             # the density drawn as the solid's surface
LEVEL_MARGIN = 1e-3     # samples are kept this far from LEVEL (see isosurface)
MAX_DRAWN_CELLS = 2e5   # the figure samples coarser beyond this many elements (drawing speed)


def write_vtu(path, mesh, rho: np.ndarray, x: np.ndarray, u: np.ndarray,
              material: tuple[float, float] | None = None, point_field: str = "u",
              cells: dict | None = None, points: dict | None = None) -> None:
    """Write ``mesh`` (any cell type) with cell data rho, x (n_elements,) and point data
    u (n_nodes, 3) from the first column of the displacements u (dim · n_nodes[, n_cases]);
    2D points and displacements get z = 0. With ``material`` = (E, ν) of the solid, also
    the cell data von_mises (stress units) of that load case: the solid's von Mises stress
    at each cell's reference centroid (:func:`femopt.responses.stress.centre_von_mises`).
    point_field="temperature": u holds temperatures (n_nodes[, n_cases]), written as the
    point data temperature (n_nodes,) of the first case. ``cells``: more cell data,
    name → (n_elements,); ``points``: more point data, name → (n_nodes, 3) (mode shapes)."""
    import meshio  # here, not at the top: see femopt.mesh.io

    # femopt's local orders are VTK's (femopt.element.cells), and cells keep femopt's numbering.
    if point_field == "temperature":
        temperature = np.asarray(u, float).reshape(mesh.n_nodes, -1)[:, 0]
        meshio.Mesh(points=np.pad(mesh.node_coords.astype(float), ((0, 0), (0, 3 - mesh.dim))),
                    cells=[(mesh.cell_type.meshio_name, mesh.cells)],
                    cell_data={"rho": [np.asarray(rho, float)], "x": [np.asarray(x, float)]},
                    point_data={"temperature": temperature}).write(str(path), binary=True)
        return
    first = np.asarray(u).reshape(mesh.dim * mesh.n_nodes, -1)[:, 0]
    displacement = first.reshape(mesh.n_nodes, mesh.dim)
    pad = ((0, 0), (0, 3 - mesh.dim))
    cell_data = {"rho": [np.asarray(rho, float)], "x": [np.asarray(x, float)]}
    if material is not None:
        cell_data["von_mises"] = [centre_von_mises(mesh, first, *material)]
    for key, values in (cells or {}).items():
        cell_data[key] = [np.asarray(values, float)]
    meshio.Mesh(points=np.pad(mesh.node_coords.astype(float), pad),
                cells=[(mesh.cell_type.meshio_name, mesh.cells)], cell_data=cell_data,
                point_data={"u": np.pad(displacement, pad), **(points or {})}).write(str(path), binary=True)


def isosurface(mesh: StructuredMesh, rho: np.ndarray, level: float = LEVEL, step: int = 1):
    """(vertices (n_v, 3) in length units, triangles (n_t, 3) vertex indices) of ρ = level,
    wound counter-clockwise seen from outside the solid.

    The densities are samples at element centers; a layer of void (0) around the
    box closes the surface where solid touches the boundary, which it then meets
    at the box face for ρ = 1. ``step`` > 1 samples every step-th center (coarser,
    for drawing). Empty arrays when no element is on either side of ``level``.

    The triangles form a closed 2-manifold: every edge belongs to exactly two of
    them. (Lorensen's table, which scikit-image applies consistently across cells;
    its Lewiner variant leaves non-manifold edges where solid cells touch along an edge.)
    """
    from skimage import measure  # here, not at the top: scikit-image is slow to import, only 3D grids need it

    nx, ny, nz = mesh.grid
    field = np.asarray(rho, float).reshape(nz, nx, ny).transpose(1, 2, 0)  # (x, y, z)
    field = field[::step, ::step, ::step]
    # Samples at (or within round-off of) the level would put surface vertices on grid
    # points, where separate sheets touch and the mesh stops being a closed manifold:
    # keep every sample at least LEVEL_MARGIN off the level, on its own side.
    near = np.abs(field - level) < LEVEL_MARGIN
    field = np.where(near, level + np.where(field >= level, LEVEL_MARGIN, -LEVEL_MARGIN), field)
    padded = np.pad(field, 1)
    if not padded.min() < level < padded.max():
        return np.zeros((0, 3)), np.zeros((0, 3), int)
    vertices, triangles, _, _ = measure.marching_cubes(padded, level, method="lorensen")
    # Padded index i samples the center of element (i − 1) · step: ((i − 1) · step + 0.5) · h.
    # Reversed winding: counter-clockwise seen from the void, normals outwards (STL's rule).
    return ((vertices - 1) * step + 0.5) * mesh.element_size, triangles[:, ::-1]


def isosurface_tetrahedra(mesh, rho: np.ndarray, level: float = LEVEL):
    """(vertices (n_v, 3) in length units, triangles (n_t, 3) vertex indices) of ρ = level
    on a general 3D mesh, wound counter-clockwise seen from outside the solid.

    Marching tetrahedra on the nodal densities: each node gets the volume-weighted
    average of its cells' ρ, and the field is linear on tetrahedra — the cells themselves
    (T4), or for hexahedra 24 per cell, from each face's center and the cell's center
    (trilinear values there), so neighbouring cells split shared faces alike whatever
    their node numbering. Quadratic cells use their corner nodes. Where the solid meets
    the mesh's boundary the surface is closed by the boundary faces' parts with
    ρ ≥ level (the outside counts as void). Vertices are shared by key (the tetrahedron
    edge they lie on), so the surface is a closed 2-manifold: each edge lies in exactly
    two triangles. Empty arrays when no node reaches ``level``.
    """
    cells, boundary, coords, values = _tetrahedral_field(mesh, np.asarray(rho, float))
    # As in isosurface: no value on the level, so every crossing lies strictly inside an edge.
    near = np.abs(values - level) < LEVEL_MARGIN
    values = np.where(near, level + np.where(values >= level, LEVEL_MARGIN, -LEVEL_MARGIN), values)
    inside = values >= level
    if not inside.any():
        return np.zeros((0, 3)), np.zeros((0, 3), int)
    n = len(coords)
    keys, normals_toward = [], []
    # Inside the tetrahedra: triangles with the side where ρ falls as their outside.
    for pattern, triangles in _TET_CASES.items():
        tets = cells[np.all(inside[cells] == pattern, axis=1)]
        if not len(tets):
            continue
        corners = coords[tets]
        # ∇ρ of the linear field: (p_i − p_0) · g = v_i − v_0.
        gradient = np.linalg.solve(corners[:, 1:] - corners[:, :1],
                                   (values[tets[:, 1:]] - values[tets[:, :1]])[:, :, None])[:, :, 0]
        for triangle in triangles:
            keys.append(_edge_keys(tets, triangle, n))
            normals_toward.append(-gradient)
    # The caps on the boundary faces, facing out of the mesh.
    edge_1, edge_2 = (coords[boundary[:, k]] - coords[boundary[:, 0]] for k in (1, 2))
    outward = np.cross(edge_1, edge_2)
    for pattern, triangles in _TRIANGLE_CASES.items():
        match = np.all(inside[boundary] == pattern, axis=1)
        for triangle in triangles:
            keys.append(_edge_keys(boundary[match], triangle, n))
            normals_toward.append(outward[match])
    keys, normals_toward = np.concatenate(keys), np.concatenate(normals_toward)
    unique, triangles = np.unique(keys, return_inverse=True)
    triangles = triangles.reshape(-1, 3)
    a, b = np.divmod(unique, n)
    t = np.where(a == b, 0.0, (level - values[a]) / np.where(a == b, 1.0, values[b] - values[a]))
    vertices = coords[a] + t[:, None] * (coords[b] - coords[a])
    corners = vertices[triangles]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    flip = np.einsum("td,td->t", normal, normals_toward) < 0
    triangles[flip] = triangles[flip][:, ::-1]
    return vertices, triangles


def _tetrahedral_field(mesh, rho: np.ndarray):
    """(tetrahedra (n_tet, 4), boundary triangles (n_b, 3) outward-oriented, points
    (n_points, 3), nodal values (n_points,)) of the linear field that
    :func:`isosurface_tetrahedra` contours; points are the nodes, then added centers."""
    simplex = np.all(mesh.cell_type.reference_nodes >= -1e-12)
    corner_cell = T4 if simplex else H8
    cells = mesh.cells[:, :corner_cell.n_nodes]           # VTK's quadratic cells list corners first
    volume = np.repeat(np.asarray(mesh.element_volumes, float), cells.shape[1])
    weight = np.bincount(cells.ravel(), volume, minlength=mesh.n_nodes)
    values = np.bincount(cells.ravel(), volume * np.repeat(rho, cells.shape[1]), minlength=mesh.n_nodes)
    values = np.divide(values, weight, out=np.zeros(mesh.n_nodes), where=weight > 0)
    facets = np.array(corner_cell.facets)
    faces = cells[:, facets]                               # (n_el, n_facets, nodes per facet)
    _, face_id, count = np.unique(np.sort(faces.reshape(-1, facets.shape[1]), axis=1), axis=0,
                                  return_inverse=True, return_counts=True)
    face_id = face_id.ravel()
    on_boundary = count[face_id] == 1                      # per (cell, facet)
    if simplex:
        return cells, faces.reshape(-1, 3)[on_boundary], mesh.node_coords, values
    # Points: the nodes, then one per distinct face (its center), then one per cell.
    n_faces, n_el = len(count), len(cells)
    face_points = mesh.n_nodes + np.arange(n_faces)
    cell_points = mesh.n_nodes + n_faces + np.arange(n_el)
    first = np.zeros(n_faces, int)
    first[face_id] = np.arange(len(face_id))               # one (cell, facet) of each face
    face_nodes = faces.reshape(-1, 4)[first]
    coords = np.vstack([mesh.node_coords, mesh.node_coords[face_nodes].mean(axis=1),
                        mesh.node_coords[cells].mean(axis=1)])
    values = np.concatenate([values, values[face_nodes].mean(axis=1), values[cells].mean(axis=1)])
    # Each facet edge (a, b) with the facet's center f and the cell's center c: (a, b, f, c).
    a, b = faces, np.roll(faces, -1, axis=2)               # (n_el, 6, 4)
    f = np.broadcast_to(face_points[face_id].reshape(n_el, -1, 1), a.shape)
    c = np.broadcast_to(cell_points[:, None, None], a.shape)
    tets = np.stack([a, b, f, c], axis=-1).reshape(-1, 4)
    boundary = np.stack([a, b, f], axis=-1)[on_boundary.reshape(n_el, -1)].reshape(-1, 3)
    return tets, boundary, coords, values


def _edge_keys(simplices: np.ndarray, triangle, n: int) -> np.ndarray:
    """(n_simplices, 3) keys a · n + b (a ≤ b point numbers) of a triangle's vertices, each
    given as a pair of local corners (i, j): the crossing on edge (i, j), or corner i if i = j."""
    i, j = np.array(triangle).T
    a, b = simplices[:, i], simplices[:, j]
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


def _marching_cases(k: int) -> dict:
    """Inside pattern (k booleans) → triangles as (i, j) local corner pairs, for a simplex of
    k corners: k = 4, the surface in a tetrahedron; k = 3, a triangle's part inside."""
    cases = {}
    for bits in range(1, 2**k - 1 + (k == 3)):
        pattern = tuple(bool(bits >> m & 1) for m in range(k))
        inner = [m for m in range(k) if pattern[m]]
        outer = [m for m in range(k) if not pattern[m]]
        if k == 4 and len(inner) in (1, 3):
            apex, others = (inner[0], outer) if len(inner) == 1 else (outer[0], inner)
            cases[pattern] = [[(apex, o) for o in others]]
        elif k == 4:   # a quadrilateral, its corners in order around the edges they lie on
            (i1, i2), (o1, o2) = inner, outer
            quad = [(i1, o1), (i1, o2), (i2, o2), (i2, o1)]
            cases[pattern] = [quad[:3], [quad[0], quad[2], quad[3]]]
        elif len(inner) == 3:
            cases[pattern] = [[(0, 0), (1, 1), (2, 2)]]
        elif len(inner) == 1:
            (i,), (o1, o2) = inner, outer
            cases[pattern] = [[(i, i), (i, o1), (i, o2)]]
        else:
            (i1, i2), (o,) = inner, outer
            quad = [(i1, i1), (i2, i2), (i2, o), (i1, o)]
            cases[pattern] = [quad[:3], [quad[0], quad[2], quad[3]]]
    return cases


_TET_CASES = _marching_cases(4)
_TRIANGLE_CASES = _marching_cases(3)


def write_stl(path, vertices: np.ndarray, triangles: np.ndarray) -> None:
    """Binary STL of triangles (n_t, 3) over vertices (n_v, 3), normals from the winding."""
    corners = vertices[triangles].astype(np.float32)           # (n_t, 3, 3)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    data = np.zeros(len(triangles), record)
    data["normal"], data["corners"] = normals, corners
    with open(path, "wb") as f:
        f.write(b"femopt isosurface rho = 0.5".ljust(80, b" "))
        f.write(np.uint32(len(triangles)).tobytes())
        f.write(data.tobytes())


def solid_boundary(mesh, rho: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """(n_faces, corners per facet) node numbers of the facets that bound the cells with
    ρ ≥ level: facets of those cells that no other such cell shares, outward-oriented."""
    facets = np.array(mesh.cell_type.facets)                      # (facets per cell, nodes per facet)
    faces = mesh.cells[np.asarray(rho) >= level][:, facets].reshape(-1, facets.shape[1])
    _, first, count = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
    return faces[first[count == 1]][:, :mesh.cell_type.facet_type.n_corners]  # quadratic: corners only


def density_figure_3d(mesh, rho: np.ndarray, title: str = ""):
    """Figure of the solid ρ ≥ 0.5 from a fixed 3D view, y drawn upwards (femopt's loads
    point along −y), with the box's true proportions. A structured mesh draws the
    isosurface; any other mesh the boundary faces of its solid cells."""
    drawn = [0, 2, 1]  # matplotlib's (x, y, z) axes show femopt's (x, z, y)
    if mesh.structured:
        step = max(1, int(np.ceil((mesh.n_elements / MAX_DRAWN_CELLS) ** (1 / 3))))
        vertices, triangles = isosurface(mesh, rho, step=step)
    else:
        vertices, triangles = mesh.node_coords, solid_boundary(mesh, rho)
    fig = plt.figure(figsize=(8, 6))
    ax = fig.add_subplot(projection="3d")
    if len(triangles):
        faces = vertices[:, drawn][triangles]                   # (n_faces, corners, 3)
        normals = np.cross(faces[:, 1] - faces[:, 0], faces[:, 2] - faces[:, 0])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
        # Shade by how squarely each face meets the light, so the shape reads without edges.
        light = np.array([-0.4, -0.6, 0.7]) / np.linalg.norm([-0.4, -0.6, 0.7])
        shade = 0.35 + 0.6 * np.abs(normals @ light)
        surface = Poly3DCollection(faces, linewidths=0)
        surface.set_facecolor(np.column_stack([0.55 * shade, 0.62 * shade, 0.72 * shade,
                                               np.ones_like(shade)]))
        ax.add_collection3d(surface)
    lower, upper = (b[drawn] for b in mesh.bounds)
    size = upper - lower
    ax.set_xlim(lower[0], upper[0])
    ax.set_ylim(lower[1], upper[1])
    ax.set_zlim(lower[2], upper[2])
    ax.set_box_aspect(size, zoom=1.3)
    for axis, extent in zip((ax.xaxis, ax.yaxis, ax.zaxis), size):
        # Fewer ticks on short sides, so a thin plate's labels do not pile up.
        axis.set_major_locator(MaxNLocator(nbins=max(1, int(round(6 * extent / size.max())))))
    ax.view_init(elev=20, azim=-60)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
    if title:
        ax.set_title(title)
    return fig
