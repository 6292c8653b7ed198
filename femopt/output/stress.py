"""The stress of a result with a stress response: arrays, summary entries and stress.png.

A run whose objective or a constraint is a :class:`femopt.responses.stress.Stress` writes, for the
first such response (:func:`stress_field`):

- ``result.npz``: ``von_mises`` (n_elements, n_cases), the solid's von Mises stress
  σ_vm at each element centre; ``von_mises_relaxed`` (n_elements, n_cases), ρ^q σ_vm;
  ``stress_included`` (n_elements,), the elements the response covers (not passive, not
  excluded);
- ``density.vtu``: the cell data ``von_mises_relaxed`` of the first load case (beside
  ``von_mises``, the solid's, which every VTU carries);
- ``summary.json``: ``stress`` — the largest relaxed stress over the included elements
  and the load cases, its element, load case and centroid, the limit and σ_max / limit;
- ``stress.png``: the relaxed stress, max over the load cases (2D: every element,
  elements with ρ < 0.5 faded; 3D: on the boundary of the cells with ρ ≥ 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402

from femopt.output.plots import element_field, finish_plane, plane_figure  # noqa: E402
from femopt.responses.stress import Stress  # noqa: E402

LEVEL = 0.5  # the density drawn as solid (femopt.output.volume.LEVEL)


@dataclass(frozen=True)
class StressField:
    """The stress of one result for one stress response.

    solid, relaxed: (n_elements, n_cases) σ_vm and ρ^q σ_vm (stress units).
    included: (n_elements,) the elements the response covers. q, p: its exponents.
    limit: the constraint's limit (None for an objective); label: "objective",
    "constraints[0]", ….
    """

    solid: np.ndarray
    relaxed: np.ndarray
    included: np.ndarray
    q: float
    p: float
    limit: float | None
    label: str

    @property
    def maximum(self) -> tuple[float, int, int]:
        """(max relaxed stress over the included elements and the cases, element, case)."""
        masked = np.where(self.included[:, None], self.relaxed, -np.inf)
        e, c = np.unravel_index(np.argmax(masked), masked.shape)
        return float(masked[e, c]), int(e), int(c)

    def arrays(self) -> dict:
        """The arrays result.npz holds (module docstring)."""
        return {"von_mises": self.solid, "von_mises_relaxed": self.relaxed,
                "stress_included": self.included}

    def summary(self, mesh) -> dict:
        """summary.json's ``stress`` entry."""
        value, element, case = self.maximum
        entry = {"response": self.label, "q": self.q, "p": self.p, "max_relaxed": value,
                 "element": element, "load_case": case,
                 "centroid": [float(v) for v in mesh.element_centers[element]],
                 "max_solid_in_design": float(np.max(self.solid[self.included]))}
        if self.limit is not None:
            entry.update(limit=self.limit, max_over_limit=value / self.limit)
        return entry


def stress_field(objective, constraints, rho: np.ndarray, u: np.ndarray) -> StressField | None:
    """The :class:`StressField` of the first stress response among ``objective`` and
    ``constraints`` (:class:`femopt.loop.evaluator.Constraint` s) at densities rho (n_elements,) and
    displacements u (n_dofs, n_cases); None without one."""
    labelled = [("objective", objective, None)] + [(c.label, c.response, c.limit) for c in constraints]
    for label, response, limit in labelled:
        if isinstance(response, Stress):
            relaxed, solid = response.relaxed(rho, np.asarray(u).reshape(len(np.asarray(u)), -1))
            return StressField(solid, relaxed, response.included.copy(), response.q, response.p,
                               limit, label)
    return None


def stress_figure(mesh, rho: np.ndarray, field: StressField, title: str = ""):
    """Figure of the relaxed von Mises stress (max over the load cases) per element, on a
    colour scale from 0 to the limit (or the maximum) — above it in the top colour."""
    value = field.relaxed.max(axis=1)
    top = field.limit if field.limit is not None else max(field.maximum[0], 1e-300)
    if mesh.dim == 3:
        return _figure_3d(mesh, rho, value, top, title)
    fig, ax = plane_figure(mesh, extra_width=1.2)
    # Void elements' relaxed stress is small by construction; fade them so the shape reads.
    alpha = np.where(np.asarray(rho) >= LEVEL, 1.0, 0.25)
    image = element_field(ax, mesh, value, "turbo", top, alpha)
    fig.colorbar(image, ax=ax, label="relaxed von Mises stress ρ^q σ_vm")
    return finish_plane(fig, ax, title)


def _figure_3d(mesh, rho: np.ndarray, value: np.ndarray, top: float, title: str):
    """The boundary faces of the cells with ρ ≥ 0.5, coloured by their cell's stress, from
    the view of femopt.output.volume.density_figure_3d."""
    facets = np.array(mesh.cell_type.facets)
    solid = np.flatnonzero(np.asarray(rho) >= LEVEL)
    faces = mesh.cells[solid][:, facets].reshape(-1, facets.shape[1])
    owner = np.repeat(solid, len(facets))
    _, first, count = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
    keep = first[count == 1]
    drawn = [0, 2, 1]  # matplotlib's (x, y, z) axes show femopt's (x, z, y)
    fig = plt.figure(figsize=(9, 6))
    ax = fig.add_subplot(projection="3d")
    colours = plt.get_cmap("turbo")(np.clip(value[owner[keep]] / top, 0.0, 1.0))
    corners = mesh.cell_type.facet_type.n_corners
    surface = Poly3DCollection(mesh.node_coords[:, drawn][faces[keep][:, :corners]], linewidths=0)
    surface.set_facecolor(colours)
    ax.add_collection3d(surface)
    lower, upper = (b[drawn] for b in mesh.bounds)
    ax.set_xlim(lower[0], upper[0])
    ax.set_ylim(lower[1], upper[1])
    ax.set_zlim(lower[2], upper[2])
    ax.set_box_aspect(upper - lower, zoom=1.2)
    ax.view_init(elev=20, azim=-60)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
    mappable = plt.cm.ScalarMappable(cmap="turbo", norm=plt.Normalize(0.0, top))
    fig.colorbar(mappable, ax=ax, shrink=0.7, pad=0.12, label="relaxed von Mises stress ρ^q σ_vm")
    ax.set_title(title)
    return fig
