"""Files of a 3D result: a VTK unstructured grid, an STL of the solid and a rendered view.

- ``density.vtu`` (meshio): the cells in femopt's element order, with cell data
  ``rho`` and ``x`` and point data ``u`` (displacement vectors of the first load case);
  ParaView opens it. Any mesh, 2D or 3D, of any cell type.
- ``density.stl`` (structured meshes): the isosurface ρ = 0.5 of the element densities,
  closed by padding the field with void, in physical coordinates (binary STL, for
  printing or CAD).
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

from femopt.mesh import StructuredMesh  # noqa: E402

LEVEL = 0.5             # the density drawn as the solid's surface
LEVEL_MARGIN = 1e-3     # samples are kept this far from LEVEL (see isosurface)
MAX_DRAWN_CELLS = 2e5   # the figure samples coarser beyond this many elements (drawing speed)


def write_vtu(path, mesh, rho: np.ndarray, x: np.ndarray, u: np.ndarray) -> None:
    """Write ``mesh`` (any cell type) with cell data rho, x (n_elements,) and point data
    u (n_nodes, 3) from the first column of the displacements u (dim · n_nodes[, n_cases]);
    2D points and displacements get z = 0."""
    import meshio

    # femopt's local orders are VTK's (femopt.mesh.cells), and cells keep femopt's numbering.
    displacement = np.asarray(u).reshape(mesh.dim * mesh.n_nodes, -1)[:, 0].reshape(mesh.n_nodes, mesh.dim)
    pad = ((0, 0), (0, 3 - mesh.dim))
    meshio.Mesh(points=np.pad(mesh.node_coords.astype(float), pad),
                cells=[(mesh.cell_type.meshio_name, mesh.cells)],
                cell_data={"rho": [np.asarray(rho, float)], "x": [np.asarray(x, float)]},
                point_data={"u": np.pad(displacement, pad)}).write(str(path), binary=True)


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
    from skimage import measure

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
    """(n_faces, nodes per facet) node numbers of the facets that bound the cells with
    ρ ≥ level: facets of those cells that no other such cell shares, outward-oriented."""
    facets = np.array(mesh.cell_type.facets)                      # (facets per cell, nodes per facet)
    faces = mesh.cells[np.asarray(rho) >= level][:, facets].reshape(-1, facets.shape[1])
    _, first, count = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
    return faces[first[count == 1]]


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
