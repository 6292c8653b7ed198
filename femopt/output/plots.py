"""Matplotlib figures of a result: the density field and the convergence history."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.tri import Triangulation  # noqa: E402


def plane_figure(mesh, extra_width: float = 0.0):
    """(figure, axes) sized to a 2D mesh's true aspect ratio, 8 inches wide plus
    ``extra_width`` (a colour bar)."""
    lower, upper = mesh.bounds
    lx, ly = (upper - lower)[:2]
    width = 8.0
    return plt.subplots(figsize=(width + extra_width, max(1.5, width * ly / lx) + 0.6))


def element_field(ax, mesh, values: np.ndarray, cmap: str, vmax: float, alpha=None):
    """Draw a per-element field (n_elements,) on [0, vmax], y up: an image on a structured
    mesh (element numbers run y fastest), the cells themselves on any other. alpha:
    None or (n_elements,) opacities. Returns the artist (for a colour bar)."""
    lower, upper = mesh.bounds
    values = np.asarray(values, float)
    if mesh.structured:
        nx, ny = mesh.grid[:2]
        lx, ly = upper - lower
        return ax.imshow(values.reshape(nx, ny).T, cmap=cmap, vmin=0.0, vmax=vmax, origin="lower",
                         extent=(0, lx, 0, ly), interpolation="nearest",
                         alpha=None if alpha is None else np.asarray(alpha).reshape(nx, ny).T)
    cells = PolyCollection(mesh.node_coords[mesh.cells[:, :mesh.cell_type.n_corners]], array=values,
                           cmap=cmap, edgecolors="face", linewidths=0.2, alpha=alpha)
    cells.set_clim(0.0, vmax)
    ax.add_collection(cells)
    ax.set_xlim(lower[0], upper[0])
    ax.set_ylim(lower[1], upper[1])
    return cells


def finish_plane(fig, ax, title: str = ""):
    """Equal axes, labels and the title; returns fig."""
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def density_figure(mesh, rho: np.ndarray, title: str = ""):
    """Figure of a 2D density field (n_elements,): solid black, void white, y up, true
    aspect ratio. A structured mesh is drawn as an image, any other as its cells."""
    fig, ax = plane_figure(mesh)
    element_field(ax, mesh, rho, "gray_r", 1.0)
    return finish_plane(fig, ax, title)


def temperature_figure(mesh, temperature: np.ndarray, title: str = ""):
    """Figure of a 2D nodal temperature field (n_nodes,): a colour map, y up, true aspect
    ratio, with a colour bar. A structured mesh is drawn as an image of its nodes, any
    other mesh by linear interpolation over its cells' corners split into triangles."""
    lower, upper = mesh.bounds
    lx, ly = upper - lower
    fig, ax = plane_figure(mesh, extra_width=1.2)
    temperature = np.asarray(temperature, float)
    if mesh.structured:
        nx, ny = mesh.grid[:2]
        shown = ax.imshow(temperature.reshape(nx + 1, ny + 1).T, cmap="inferno", origin="lower",
                          extent=(0, lx, 0, ly), interpolation="bilinear")
    else:
        corners = mesh.cells[:, :mesh.cell_type.n_corners]
        # A fan from each cell's first corner: 1 triangle per T3, 2 per Q4 (convex cells).
        triangles = np.concatenate([corners[:, [0, i, i + 1]] for i in range(1, corners.shape[1] - 1)])
        shown = ax.tripcolor(Triangulation(*mesh.node_coords.T, triangles), temperature,
                             cmap="inferno", shading="gouraud")
        ax.set_xlim(lower[0], upper[0])
        ax.set_ylim(lower[1], upper[1])
    fig.colorbar(shown, ax=ax, label="temperature")
    return finish_plane(fig, ax, title)


def convergence_figure(objective: np.ndarray, volume: np.ndarray, title: str = ""):
    """Figure of objective (left axis) and volume fraction (right axis) per iteration."""
    iterations = np.arange(1, len(objective) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(iterations, objective, color="tab:blue")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective", color="tab:blue")
    if len(objective) and np.all(objective > 0) and objective.max() > 10 * objective.min():
        ax.set_yscale("log")
    right = ax.twinx()
    right.plot(iterations, volume, color="tab:orange")
    right.set_ylabel("volume fraction", color="tab:orange")
    right.set_ylim(0.0, max(1.0, float(np.max(volume, initial=0.0))))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
