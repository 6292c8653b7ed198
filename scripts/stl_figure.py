"""Draw a run's density.stl (the printable part) from femopt's fixed 3D view, y up.

    python scripts/stl_figure.py out/plate_hole_cad docs/images/plate_hole_cad.png

Made docs/images/plate_hole_cad.png (configs/plate_hole_cad.yaml). The run's own
density.png of an unstructured mesh shows the boundary faces of its solid cells; this
shows the smooth surface that goes to the printer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402


def read_stl(path) -> np.ndarray:
    """The triangles of a binary STL, (n, 3 corners, 3) float."""
    data = Path(path).read_bytes()
    count = int(np.frombuffer(data, np.uint32, 1, 80)[0])
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    return np.frombuffer(data, record, count, 84)["corners"].astype(float)


def stl_figure(triangles: np.ndarray, title: str = ""):
    """The triangles shaded by how squarely they meet a fixed light (as femopt's density.png)."""
    faces = triangles[:, :, [0, 2, 1]]  # matplotlib's (x, y, z) axes show (x, z, y)
    normals = np.cross(faces[:, 1] - faces[:, 0], faces[:, 2] - faces[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    light = np.array([-0.4, -0.6, 0.7]) / np.linalg.norm([-0.4, -0.6, 0.7])
    shade = 0.35 + 0.6 * np.abs(normals @ light)
    fig = plt.figure(figsize=(8, 4.5))
    ax = fig.add_subplot(projection="3d")
    surface = Poly3DCollection(faces, linewidths=0)
    surface.set_facecolor(np.column_stack([0.55 * shade, 0.62 * shade, 0.72 * shade, np.ones_like(shade)]))
    ax.add_collection3d(surface)
    lower, upper = faces.reshape(-1, 3).min(axis=0), faces.reshape(-1, 3).max(axis=0)
    for axis_limits, lo, hi in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), lower, upper):
        axis_limits(lo, hi)
    size = upper - lower
    ax.set_box_aspect(size, zoom=1.3)
    for axis, extent in zip((ax.xaxis, ax.yaxis, ax.zaxis), size):  # fewer ticks on short sides
        axis.set_major_locator(MaxNLocator(nbins=max(1, int(round(6 * extent / size.max())))))
    ax.view_init(elev=20, azim=-60)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
    ax.set_title(title)
    return fig


def main(argv: list[str]) -> int:
    outdir, target = Path(argv[0]), Path(argv[1])
    triangles = read_stl(outdir / "density.stl")
    fig = stl_figure(triangles, f"{outdir.name}: density.stl ({len(triangles)} triangles)")
    fig.savefig(target, dpi=100, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
