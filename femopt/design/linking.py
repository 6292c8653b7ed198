"""Symmetry and extrusion: a sparse linking map from fewer design variables to the elements.

Elements that must have the same density form a *group*: the orbit of an element under
the mirror planes of ``design.symmetry`` and the line of elements along the axis of
``design.extrusion``. The optimizer works on one variable per group of designable
elements, z (n_variables,), and the elements see

    x = P z      (P: (n_active, n_variables), one 1 per row: the element's group)

with the gradient Pᵀ g. Filters can break the linking near the domain's boundary (a 3D
filter at the end faces of an extrusion sees fewer neighbours there), so after the
filter the evaluator also averages the filtered densities over each group, weighted by
element volume (:meth:`Linking.average`, a projector onto the linked fields, with its
exact VJP): the physical densities after filter, projection (elementwise) and the AM
filter (which commutes with mirrors about planes along the build direction) are linked
to round-off. For a mirror-symmetric grid that average changes only round-off (a
symmetric filter commutes with the mirror); for an extrusion it makes the filter act in
the cross-section, with the 3D weights averaged along the axis.

Groups are found from element centroids, so grids and mesh files share one path: mirror
partners by a KD-tree (scipy.spatial.cKDTree) of the centroids, extrusion lines by
clustering the cross-section coordinates. A mesh that is not symmetric (or not an
extrusion) within ``TOLERANCE`` element sizes raises :class:`LinkingError`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

TOLERANCE = 1e-4   # in element sizes: how far a mirrored centroid may be from its partner's


class LinkingError(ValueError):
    """The mesh or the passive regions do not allow the requested linking (one line);
    key: the design key it is about, "symmetry" or "extrusion"."""

    def __init__(self, message: str, key: str = "symmetry"):
        super().__init__(message)
        self.key = key


def mirror_partners(centers: np.ndarray, axis: int, at: float, tolerance: float) -> np.ndarray:
    """(n,) the element whose centroid is the mirror image of each centroid (n, dim) about
    the plane ``x[axis] = at``; elements on the plane are their own partners.
    Raises LinkingError naming how many elements found no partner within ``tolerance``."""
    mirrored = centers.copy()
    mirrored[:, axis] = 2.0 * at - mirrored[:, axis]
    distance, partner = cKDTree(centers).query(mirrored, distance_upper_bound=tolerance)
    found = np.isfinite(distance)
    partner = np.where(found, partner, 0)
    found &= partner[partner] == np.arange(len(centers))  # a pairing, both ways
    if not found.all():
        raise LinkingError(f"{int((~found).sum())} of {len(centers)} elements found no mirror partner "
                           f"within {tolerance:.3g} of the plane {'xyz'[axis]} = {at:g} (the mesh is "
                           "not symmetric about it)")
    return partner


def _clusters(values: np.ndarray, tolerance: float) -> np.ndarray:
    """(n,) cluster ids of 1D values: sorted, a new cluster starts at each gap > tolerance."""
    order = np.argsort(values, kind="stable")
    ids = np.empty(len(values), np.int64)
    ids[order] = np.concatenate([[0], np.cumsum(np.diff(values[order]) > tolerance)])
    return ids


def extrusion_lines(centers: np.ndarray, axis: int, tolerance: float) -> np.ndarray:
    """(n,) the line of each element along ``axis``: elements whose centroids (n, dim)
    agree in the other coordinates within ``tolerance``. Raises LinkingError unless every
    line has the same number of elements (an extruded mesh has equal cross-sections)."""
    others = [a for a in range(centers.shape[1]) if a != axis]
    ids = np.stack([_clusters(centers[:, a], tolerance) for a in others], axis=1)
    _, line = np.unique(ids, axis=0, return_inverse=True)
    line = line.ravel()
    counts = np.bincount(line)
    if counts.min() != counts.max():
        raise LinkingError(f"the mesh is not an extrusion along {'xyz'[axis]}: its {len(counts)} lines "
                           f"of elements along {'xyz'[axis]} hold {counts.min()} to {counts.max()} "
                           "elements (an extruded mesh has equal cross-sections)", "extrusion")
    return line


def linked_groups(n: int, partners=(), line: np.ndarray | None = None) -> np.ndarray:
    """(n,) group labels 0..n_groups−1: the orbits of the mirror maps ``partners`` (each (n,))
    together with the lines ``line`` (n,) (None: no extrusion). Labels spread as minima
    until nothing changes (a few sweeps: the maps commute)."""
    label = np.arange(n)
    while True:
        new = label.copy()
        for partner in partners:
            new = np.minimum(new, new[partner])
        if line is not None:
            lowest = np.full(line.max() + 1, n)
            np.minimum.at(lowest, line, new)
            new = lowest[line]
        if np.array_equal(new, label):
            break
        label = new
    return np.unique(label, return_inverse=True)[1].ravel()


class Linking:
    """The linking map of element groups.

    group: (n_elements,) the group of each element; weights: (n_elements,) element
    volumes for the averages; active_mask: (n_elements,) the designable elements (each
    group entirely designable or entirely passive). P: (n_active, n_variables) CSR.
    """

    def __init__(self, group: np.ndarray, weights: np.ndarray, active_mask: np.ndarray):
        self.group = np.asarray(group)
        self.weights = np.asarray(weights, float)
        n_groups = int(self.group.max()) + 1
        # the groups with a designable element, sorted (np.unique of n_elements labels hashes:
        # seconds at 10⁶, a bincount is one pass)
        active_groups = np.flatnonzero(np.bincount(self.group[active_mask], minlength=n_groups))
        column = np.full(n_groups, -1)
        column[active_groups] = np.arange(len(active_groups))
        rows = column[self.group[active_mask]]
        n_active = len(rows)
        self.P = sp.csr_matrix((np.ones(n_active), (np.arange(n_active), rows)),
                               shape=(n_active, len(active_groups)))
        self._PT = self.P.T.tocsr()
        self._counts = np.asarray(self.P.sum(axis=0)).ravel()
        self._group_weight = np.bincount(self.group, self.weights, minlength=n_groups)

    @property
    def n_variables(self) -> int:
        return self.P.shape[1]

    def expand(self, z: np.ndarray) -> np.ndarray:
        """(n_active,) the designable elements' densities x = P z of z (n_variables,)."""
        return self.P @ z

    def restrict(self, x_bar: np.ndarray) -> np.ndarray:
        """(n_variables,) the gradient Pᵀ x̄ of x̄ (n_active,)."""
        return self._PT @ x_bar

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """(n_variables,) the group means of x (n_active,): z with P z = x for a linked x."""
        return self.restrict(x) / self._counts

    def average(self, rho: np.ndarray) -> np.ndarray:
        """(n_elements,) the volume-weighted mean of rho (n_elements,) over each group."""
        mean = np.bincount(self.group, self.weights * rho, minlength=len(self._group_weight))
        return (mean / self._group_weight)[self.group]

    def average_vjp(self, rho_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) the cotangent of :meth:`average`: w_e Σ_{e' ∈ g(e)} ρ̄_e' / W_g."""
        total = np.bincount(self.group, rho_bar, minlength=len(self._group_weight))
        return self.weights * (total / self._group_weight)[self.group]


def build_linking(mesh, symmetry=(), extrusion: int | None = None, fixed: np.ndarray | None = None):
    """The :class:`Linking` of ``mesh`` for mirror planes ``symmetry`` ((axis, at) pairs,
    at None: the bounding box's centre) and an extrusion ``axis`` (None: none), or None
    without either. fixed: (n_elements,) passive densities, NaN for designable elements.
    Raises LinkingError (an asymmetric or non-extruded mesh, passive regions that differ
    between linked elements)."""
    if not symmetry and extrusion is None:
        return None
    centers = mesh.element_centers
    tolerance = TOLERANCE * mesh.characteristic_size
    lower, upper = mesh.bounds
    partners = [mirror_partners(centers, axis, 0.5 * (lower[axis] + upper[axis]) if at is None else at,
                                tolerance) for axis, at in symmetry]
    line = None if extrusion is None else extrusion_lines(centers, extrusion, tolerance)
    group = linked_groups(mesh.n_elements, partners, line)
    fixed = np.full(mesh.n_elements, np.nan) if fixed is None else np.asarray(fixed, float)
    # Every group must be designable throughout or passive at one value throughout.
    code = np.where(np.isnan(fixed), -1.0, fixed)
    low = np.full(group.max() + 1, np.inf)
    high = np.full(group.max() + 1, -np.inf)
    np.minimum.at(low, group, code)
    np.maximum.at(high, group, code)
    mixed = low[group] != high[group]
    if mixed.any():
        raise LinkingError(f"{int(mixed.sum())} elements are linked to elements with another passive "
                           "state (the passive regions must be symmetric / the same along the "
                           "extrusion)", "symmetry" if symmetry else "extrusion")
    weights = np.ones(mesh.n_elements) if mesh.structured else mesh.element_volumes
    return Linking(group, weights, np.isnan(fixed))


class LinkedSpace:
    """A :class:`femopt.design.DesignSpace` whose variables are the linking's z
    (n_variables,): ``embed`` expands them, ``restrict`` sums the gradient back; the
    rest is the inner space's."""

    def __init__(self, space, linking: Linking):
        self.inner, self.linking = space, linking

    def __getattr__(self, name):  # fix, zero_fixed, active, passive, … of the inner space
        return getattr(self.inner, name)

    @property
    def n_variables(self) -> int:
        return self.linking.n_variables

    def initial_design(self, volume_fraction: float, volumes: np.ndarray | None = None) -> np.ndarray:
        return self.linking.reduce(self.inner.initial_design(volume_fraction, volumes))

    def embed(self, z: np.ndarray) -> np.ndarray:
        return self.inner.embed(self.linking.expand(z))

    def restrict(self, full_bar: np.ndarray) -> np.ndarray:
        return self.linking.restrict(self.inner.restrict(full_bar))
