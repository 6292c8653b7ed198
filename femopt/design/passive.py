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
from femopt.registry import Option, Registry


def region_mask(mesh, shape: str, **options) -> np.ndarray:
    """(n_elements,) True where the element's center lies in the region (boundary included).

    shape: one of PASSIVE_SHAPES, with its options — ``box`` (``box``: (axis, lo, hi)
    ranges), ``circle`` (2D) / ``sphere`` (3D) with ``center`` and ``radius``,
    ``cylinder`` (3D) with ``center`` (a point on its axis), ``radius`` and ``axis``
    (0, 1, 2), unbounded along the axis, or ``group`` (the name of one of the mesh's
    cell groups: its elements, wherever their centers are). A point within 0.1 % of
    the element size of the boundary counts as inside.
    """
    return PASSIVE_SHAPES.create(shape, mesh, **options)


def _centers(shape):
    """A factory (mesh, **options) of ``shape`` (element centers (n, dim), tolerance, **options)."""
    def factory(mesh, **options):
        return shape(mesh.element_centers, 1e-3 * mesh.characteristic_size, **options)
    return factory


def _group(mesh, group: str) -> np.ndarray:
    if group not in mesh.cell_groups:
        raise ValueError(f"the mesh has no cell group {group!r}")
    inside = np.zeros(mesh.n_elements, bool)
    inside[mesh.cell_groups[group]] = True
    return inside


def _box(centers: np.ndarray, tolerance: float, box) -> np.ndarray:
    inside = np.ones(len(centers), bool)
    for axis, lo, hi in box:
        c = centers[:, AXES.index(axis)]
        inside &= (c >= lo - tolerance) & (c <= hi + tolerance)
    return inside


def _ball(centers: np.ndarray, tolerance: float, center, radius: float, axis: int | None = None):
    offset = centers - np.asarray(center, float)
    if axis is not None:  # a cylinder: no extent along its axis
        offset[:, axis] = 0.0
    return np.einsum("ed,ed->e", offset, offset) <= (radius + tolerance) ** 2


# Factories take (mesh, **options) and return the mask (n_elements,). A shape whose one
# option has the shape's name (box, group) takes the shape's value itself.
PASSIVE_SHAPES = Registry("passive shape")
_CENTER, _RADIUS = Option(kind="point"), Option(bounds={"gt": 0})
PASSIVE_SHAPES.register("box", _centers(_box), box=Option(kind="selection"))
PASSIVE_SHAPES.register("circle", _centers(_ball), dims=(2,), center=_CENTER, radius=_RADIUS)
PASSIVE_SHAPES.register("sphere", _centers(_ball), dims=(3,), center=_CENTER, radius=_RADIUS)
PASSIVE_SHAPES.register("cylinder", _centers(_ball), dims=(3,), center=_CENTER, radius=_RADIUS,
                        axis=Option(kind="component"))
PASSIVE_SHAPES.register("group", _group, group=Option(kind="group"))


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
