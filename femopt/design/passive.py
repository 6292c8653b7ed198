"""Passive regions: elements held at solid (ρ = 1) or void (ρ = 0) and left out of the design.

The optimizer sees only the designable ("active") elements. Every evaluation
embeds its variables into a full element field (passive elements at their
values, so the filter sees the fixed material around them), and after filter and
projection sets the passive densities again, exactly: both maps would otherwise
blur a solid pad or a hole. Their gradient is zero, which :meth:`DesignSpace.restrict`
and :meth:`DesignSpace.zero_fixed` make explicit.
"""

from __future__ import annotations

import numpy as np

from femopt.mesh import AXES


def on_centers(shape):
    """A factory (mesh, **options) of ``shape`` (element centers (n, dim), tolerance, **options):
    the mask of the elements whose centers lie in the shape, within 0.1 % of the element size."""
    def factory(mesh, **options):
        return shape(mesh.element_centers, 1e-3 * mesh.characteristic_size, **options)
    return factory


def in_group(mesh, group: str) -> np.ndarray:
    """(n_elements,) True for the elements of the mesh's cell group ``group``."""
    if group not in mesh.cell_groups:
        raise ValueError(f"the mesh has no cell group {group!r}")
    inside = np.zeros(mesh.n_elements, bool)
    inside[mesh.cell_groups[group]] = True
    return inside


def in_box(centers: np.ndarray, tolerance: float, box) -> np.ndarray:
    """(n,) True for the centers (n, dim) in every (axis, lo, hi) range of ``box``."""
    inside = np.ones(len(centers), bool)
    for axis, lo, hi in box:
        c = centers[:, AXES.index(axis)]
        inside &= (c >= lo - tolerance) & (c <= hi + tolerance)
    return inside


def in_ball(centers: np.ndarray, tolerance: float, center, radius: float, axis: int | None = None):
    """(n,) True for the centers (n, dim) within ``radius`` of ``center``; with ``axis``, of
    the axis through it (a cylinder, unbounded along the axis)."""
    offset = centers - np.asarray(center, float)
    if axis is not None:  # a cylinder: no extent along its axis
        offset[:, axis] = 0.0
    return np.einsum("ed,ed->e", offset, offset) <= (radius + tolerance) ** 2


class DesignSpace:
    """The split of elements into design variables and passive elements.

    fixed: (n_elements,) the fixed density of each passive element (0 or 1) and NaN
    for the designable ones; None: every element is designable.
    """

    def __init__(self, fixed: np.ndarray | None, n_elements: int):
        fixed = np.full(n_elements, np.nan) if fixed is None else np.asarray(fixed, float)
        self.active_mask = np.isnan(fixed)
        self.active = np.flatnonzero(self.active_mask)
        self.passive = np.flatnonzero(~self.active_mask)
        self.passive_values = fixed[self.passive]
        self.n_elements = n_elements

    @property
    def n_variables(self) -> int:
        return len(self.active)

    def initial_design(self, volume_fraction: float, volumes: np.ndarray | None = None) -> np.ndarray:
        """(n_variables,) a uniform design whose full field has the volume fraction
        ``volume_fraction``, counting passive solids (clipped to [0, 1]).
        volumes: (n_elements,) element volumes; None for equal elements."""
        volumes = np.ones(self.n_elements) if volumes is None else np.asarray(volumes, float)
        free_volume = volume_fraction * volumes.sum() - self.passive_values @ volumes[self.passive]
        value = free_volume / max(volumes[self.active].sum(), np.finfo(float).tiny)
        return np.full(self.n_variables, float(np.clip(value, 0.0, 1.0)))

    def embed(self, x: np.ndarray) -> np.ndarray:
        """(n_elements,) the full field: x (n_variables,) on the designable elements."""
        if not len(self.passive):
            return x
        full = np.empty(self.n_elements)
        full[self.active] = x
        full[self.passive] = self.passive_values
        return full

    def fix(self, rho: np.ndarray) -> np.ndarray:
        """(n_elements,) rho with the passive densities set exactly."""
        if not len(self.passive):
            return rho
        rho = rho.copy()
        rho[self.passive] = self.passive_values
        return rho

    def zero_fixed(self, rho_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) the cotangent of :meth:`fix`: passive entries set to zero."""
        if not len(self.passive):
            return rho_bar
        rho_bar = rho_bar.copy()
        rho_bar[self.passive] = 0.0
        return rho_bar

    def restrict(self, full_bar: np.ndarray) -> np.ndarray:
        """(n_variables,) the cotangent of :meth:`embed`: the designable entries."""
        return full_bar[self.active] if len(self.passive) else full_bar
