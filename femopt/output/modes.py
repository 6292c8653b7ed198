"""modes.png: the first vibration or buckling modes drawn on the deformed design, and the
summary entries of the eigenvalues (a run or analysis with a frequency or buckling response,
whose evaluation carries them in ``fields``: :mod:`femopt.loop.eigen`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402

from femopt.output.volume import solid_boundary  # noqa: E402

MODES_SHOWN = 4          # at most this many modes in modes.png
AMPLITUDE = 0.08         # the largest displacement drawn, as a share of the domain's largest side
SHOWN_DENSITY = 0.1      # cells below this density are not drawn (void)
# (fields key of the modes, fields key of the eigenvalues, how a panel names one)
KINDS = (("vibration_modes", "eigenfrequencies_hz", "f{j} = {value:.4g} Hz"),
         ("buckling_modes", "buckling_load_factors", "λ{j} = {value:.4g}"))


def has_modes(fields) -> bool:
    return any(key in fields for key, _, _ in KINDS)


def mode_summary(fields) -> dict:
    """summary.json's ``eigenfrequencies_hz`` and/or ``buckling_load_factors`` (lists; a
    mode that does not buckle under the load, λ = ∞, as null)."""
    out = {}
    for _, values, _ in KINDS:
        if values in fields:
            out[values] = [float(v) if np.isfinite(v) else None for v in np.asarray(fields[values])]
    return out


def mode_point_data(mesh, fields) -> dict:
    """Point data for density.vtu: ``vibration_mode_1`` … / ``buckling_mode_1`` …, each
    (n_nodes, 3) (2D: z = 0), as normalized in the analysis."""
    out = {}
    for key, _, _ in KINDS:
        if key in fields:
            modes = np.asarray(fields[key]).reshape(mesh.n_nodes, mesh.dim, -1)
            for j in range(modes.shape[2]):
                out[f"{key[:-1]}_{j + 1}"] = np.pad(modes[:, :, j], ((0, 0), (0, 3 - mesh.dim)))
    return out


def modes_figure(mesh, rho: np.ndarray, fields, title: str = ""):
    """Figure of the first MODES_SHOWN modes of every kind in ``fields``, each on the design
    (cells with ρ ≥ SHOWN_DENSITY, grey by density in 2D) deformed by the mode."""
    panels = []
    for key, values, label in KINDS:
        if key in fields:
            modes = np.asarray(fields[key]).reshape(mesh.n_nodes * mesh.dim, -1)
            for j in range(min(MODES_SHOWN, modes.shape[1])):
                panels.append((modes[:, j], label.format(j=j + 1, value=float(np.asarray(fields[values])[j]))))
    lower, upper = mesh.bounds
    extent = upper - lower
    shown = np.asarray(rho) >= SHOWN_DENSITY
    if mesh.dim == 2:  # tall domains side by side, wide ones one above the other
        ratio = extent[1] / extent[0]
        tall = ratio > 1
        if tall:
            width = min(3.0, 12.0 / len(panels))
            size = (width * len(panels) + 0.4, min(9.0, width * ratio) + 0.8)
        else:
            size = (8.0, len(panels) * (max(1.0, 8.0 * ratio) + 0.6) + 0.6)
        fig, axes = plt.subplots(1 if tall else len(panels), len(panels) if tall else 1, figsize=size,
                                 squeeze=False)
        axes = axes.reshape(-1, 1)
    else:
        fig = plt.figure(figsize=(8, 4.5 * len(panels)))
        axes = [[fig.add_subplot(len(panels), 1, i + 1, projection="3d")] for i in range(len(panels))]
    for (mode, label), (ax,) in zip(panels, axes):
        displacement = mode.reshape(mesh.n_nodes, mesh.dim)
        peak = np.abs(displacement).max()
        coords = mesh.node_coords + displacement * (AMPLITUDE * extent.max() / peak if peak > 0 else 0.0)
        if mesh.dim == 2:
            _draw_plane(ax, mesh, coords, np.asarray(rho), shown, lower, upper, extent)
        else:
            _draw_volume(ax, mesh, coords, np.asarray(rho), lower, extent)
        ax.set_title(label, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_plane(ax, mesh, coords, rho, shown, lower, upper, extent):
    corners = mesh.cells[shown][:, :mesh.cell_type.n_corners]
    cells = PolyCollection(coords[corners], array=rho[shown], cmap="gray_r", edgecolors="face", linewidths=0.2)
    cells.set_clim(0.0, 1.0)
    ax.add_collection(cells)
    margin = AMPLITUDE * extent.max() * 1.2
    ax.set_xlim(lower[0] - margin, upper[0] + margin)
    ax.set_ylim(lower[1] - margin, upper[1] + margin)
    ax.set_aspect("equal")


def _draw_volume(ax, mesh, coords, rho, lower, extent):
    drawn = [0, 2, 1]  # y up, as density.png
    faces = coords[:, drawn][solid_boundary(mesh, rho)]
    if len(faces):
        ax.add_collection3d(Poly3DCollection(faces, facecolor=(0.55, 0.62, 0.72), edgecolor=(0.3, 0.3, 0.35),
                                             linewidths=0.1))
    margin = AMPLITUDE * extent.max() * 1.2
    low, size = lower[drawn] - margin, extent[drawn] + 2 * margin
    ax.set_xlim(low[0], low[0] + size[0])
    ax.set_ylim(low[1], low[1] + size[1])
    ax.set_zlim(low[2], low[2] + size[2])
    ax.set_box_aspect(size)
    ax.view_init(elev=20, azim=-60)
