"""Langelaar's AM filter on an unstructured mesh: slices along the build direction, and
the supports of an element found in the cone under it.

A mesh file has no rows of elements, so the layers and supports of the grid filter
(:mod:`femopt.design.overhang`) are built from the element centroids c_e:

- **Slices.** With s_e = c_e · d the height of a centroid along the build direction d and
  s₀ the lowest node's, element e lies in slice k_e = ⌊(s_e − s₀) / h⌋. The layer height h
  defaults to the mesh's typical element size along d: the median over the elements of
  their nodes' extent along d (a grid's element size). Slice 0 stands on the baseplate.
- **Supports.** The supports S_e of an element in slice k are the elements of slice k − 1
  whose centroids lie in the cone under e's centroid with half-angle 90° − α about −d
  (α: the overhang angle, the shallowest down-facing surface that prints without support,
  45° by default), cut at the height of slice k − 1: the elements whose centroid lies
  within the lateral distance r = h · cot α of e's (a segment in 2D, a disc in 3D). This
  is Gaynor and Guest's support region (a 45° cone or wedge under each element) on
  Langelaar's layers. On a grid with square elements and α = 45° it finds the grid
  filter's supports: the 3 below in 2D, the 5 of the cross in 3D.
- **Smooth max and min.** Langelaar's, with the number of supports N_e per element:
  Q_e = P + log N_e / log ξ₀ and BACKSHIFT_e = 0.95 · N_e^(1/Q_e) · SHIFT^(P/Q_e). Where
  the cone holds fewer centroids than a regular grid of size h would put there (N_grid: 3
  in 2D, 5 in 3D at 45°; at a domain's side, or a sparse spot of the mesh), the missing
  ones count as void, as the grid filter pads its sides: N_e = max(n_e, N_grid). So on a
  mesh that is a grid this is the grid filter, to round-off.

The forward map runs slice by slice, the VJP back from the top slice, each a sparse
matrix-vector product with that slice's support block (scipy.sparse, no loop over
elements). References: Langelaar, Struct Multidisc Optim 55 (2017) 871–883 and Additive
Manufacturing 12 (2016) 60–70 (the layer-by-layer filter); Gaynor and Guest, Struct
Multidisc Optim 54 (2016) 1157–1172 (support regions under an element for any overhang
angle); van de Ven et al., Struct Multidisc Optim 57 (2018) 2075–2091 and 64 (2021)
761–778 (front propagation on unstructured meshes, and its comparison with the
layer-by-layer filter).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from femopt.design.overhang import DIRECTIONS, XI_0

DEFAULT_ANGLE = 45.0   # degrees from the baseplate: the usual self-supporting angle of SLM
_TOLERANCE = 1e-6      # relative: a grid's diagonal neighbours sit exactly on the cone


def grid_support_count(dim: int, angle: float) -> int:
    """N_grid: the centroids of a regular grid (spacing h) in the cone of ``angle`` (degrees)
    one layer below an element: 1 + 2⌊cot α⌋ in 2D, the lattice points in a disc of radius
    cot α in 3D (3 and 5 at 45°)."""
    reach = 1.0 / np.tan(np.radians(angle)) * (1.0 + _TOLERANCE)
    n = int(np.floor(reach))
    if dim == 2:
        return 1 + 2 * n
    a = np.arange(-n, n + 1)
    return int(np.sum(a[:, None] ** 2 + a[None, :] ** 2 <= reach ** 2))


class MeshOverhangFilter:
    """The AM filter on any mesh: ``apply`` maps a blueprint to the printed design.

    centroids: (n_elements, dim) element centroids. extents: (n_elements,) each element's
    extent along the build direction's axis (length units), for the default layer height.
    base: the lowest node's height along the build direction (signed: −max y for "-y").
    build_direction: "+x", "-x", "+y", "-y" ("+z", "-z" in 3D). angle: the overhang angle α
    in degrees, in (0, 90). layer: the slice thickness h (default: the median extent).
    p, epsilon: as for :class:`femopt.design.overhang.OverhangFilter`.
    """

    active = True

    def __init__(self, centroids, extents, base: float, build_direction: str = "+y",
                 angle: float = DEFAULT_ANGLE, layer: float | None = None, p: float = 40.0,
                 epsilon: float = 1.0e-4):
        centroids = np.asarray(centroids, float)
        n, dim = centroids.shape
        if build_direction not in DIRECTIONS[:2 * dim]:
            raise ValueError(f"build direction {build_direction!r} on a {dim}D mesh "
                             f"(use one of {', '.join(DIRECTIONS[:2 * dim])})")
        if not 0.0 < angle < 90.0:
            raise ValueError(f"overhang angle {angle} (use a value in (0, 90) degrees)")
        axis = "xyz".index(build_direction[1])
        sign = 1.0 if build_direction[0] == "+" else -1.0
        self.build_direction, self.angle = build_direction, float(angle)
        self.p, self.epsilon = float(p), float(epsilon)
        self.layer = float(np.median(extents)) if layer is None else float(layer)
        if not self.layer > 0:
            raise ValueError(f"layer height {self.layer} (must be positive)")
        heights = sign * centroids[:, axis] - base
        self.slices = np.maximum(np.floor(heights / self.layer), 0).astype(np.int64)
        lateral = np.delete(centroids, axis, axis=1)
        self.radius = self.layer / np.tan(np.radians(angle))
        self.supports = _supports(lateral, self.slices, self.radius * (1.0 + _TOLERANCE))
        self.n_supports = np.diff(self.supports.indptr)
        # The smooth maximum's constants per element: the missing supports are void.
        count = np.maximum(self.n_supports, grid_support_count(dim, angle))
        self._pad = count - self.n_supports
        self.shift = 100.0 * np.finfo(float).tiny ** (1.0 / self.p)
        self.q = self.p + np.log(count) / np.log(XI_0)
        self.backshift = 0.95 * count ** (1.0 / self.q) * self.shift ** (self.p / self.q)
        # Slice by slice in a permuted numbering: elements sorted by slice, one support
        # block (rows: slice k, columns: slice k − 1) per slice, and its transpose.
        self._order = np.argsort(self.slices, kind="stable")
        bounds = np.searchsorted(self.slices[self._order], np.arange(self.slices.max() + 2))
        self._ranges = [(int(bounds[k]), int(bounds[k + 1])) for k in range(len(bounds) - 1)]
        self._permuted = permuted = self.supports[self._order][:, self._order].tocsr()
        self._blocks = [None] + [permuted[a:b, self._ranges[k - 1][0]:self._ranges[k - 1][1]].tocsr()
                                 for k, (a, b) in enumerate(self._ranges) if k > 0]
        self._blocks_t = [None] + [block.T.tocsr() for block in self._blocks[1:]]

    @classmethod
    def from_mesh(cls, mesh, build_direction: str = "+y", **options) -> "MeshOverhangFilter":
        """The filter on ``mesh`` (a femopt Mesh): its centroids, extents and lowest node."""
        axis = "xyz".index(build_direction[1])
        sign = 1.0 if build_direction[0] == "+" else -1.0
        along = mesh.node_coords[:, axis]
        corners = along[mesh.cells]
        extents = corners.max(axis=1) - corners.min(axis=1)
        return cls(mesh.element_centers, extents, float(np.min(sign * along)), build_direction, **options)

    # -- the stage: forward map and VJP -----------------------------------------------------

    def apply(self, blueprint: np.ndarray) -> np.ndarray:
        """(n_elements,) the printed densities ξ of the blueprint x (n_elements,)."""
        x = np.asarray(blueprint, float)[self._order]
        pad, q, back = self._per_slice()
        printed = np.empty_like(x)
        a, b = self._ranges[0]
        printed[a:b] = x[a:b]  # slice 0 stands on the baseplate
        root_eps = np.sqrt(self.epsilon)
        for k in range(1, len(self._ranges)):
            (a, b), (c, d) = self._ranges[k], self._ranges[k - 1]
            if a == b:
                continue
            keep = self._blocks[k] @ (printed[c:d] + self.shift) ** self.p + pad[a:b] * self.shift ** self.p
            smax = keep ** (1.0 / q[a:b]) - back[a:b]
            diff = x[a:b] - smax
            printed[a:b] = 0.5 * (x[a:b] + smax - np.sqrt(diff * diff + self.epsilon) + root_eps)
        return self._unpermute(printed)

    def vjp(self, blueprint: np.ndarray, printed: np.ndarray, printed_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) x̄ = (∂ξ/∂x)ᵀ ξ̄ at the blueprint x and its printed design ξ = apply(x)
        (n_elements,), for the cotangent ξ̄ (n_elements,) of the printed densities.

        What does not depend on the cotangent (the smooth functions' derivatives) is computed
        for all elements at once; the cotangent λ that slice k passes down through its smooth
        maxima then goes back one slice at a time."""
        x = np.asarray(blueprint, float)[self._order]
        xi = np.asarray(printed, float)[self._order]
        bar = np.asarray(printed_bar, float)[self._order]
        pad, q, back = self._per_slice()
        base = xi + self.shift
        powered_less = base ** (self.p - 1.0)              # ∂(ξ + SHIFT)^P/∂ξ / P
        keep = self._permuted @ (powered_less * base) + pad * self.shift ** self.p
        smax = keep ** (1.0 / q) - back
        diff = x - smax
        ratio = diff / np.sqrt(diff * diff + self.epsilon)
        d_x = 0.5 * (1.0 - ratio)                          # ∂smin/∂x
        d_keep = 0.5 * (1.0 + ratio) * (self.p / q) * keep ** (1.0 / q - 1.0)
        a, b = self._ranges[0]
        d_x[a:b], d_keep[a:b] = 1.0, 0.0                   # the base slice is printed as designed
        x_bar = np.empty_like(x)
        lam = np.zeros_like(x)
        for k in range(len(self._ranges) - 1, 0, -1):
            (a, b), (c, d) = self._ranges[k], self._ranges[k - 1]
            total = bar[a:b] + lam[a:b]
            x_bar[a:b] = total * d_x[a:b]
            if a < b and c < d:
                lam[c:d] = powered_less[c:d] * (self._blocks_t[k] @ (total * d_keep[a:b]))
        a, b = self._ranges[0]
        x_bar[a:b] = bar[a:b] + lam[a:b]
        return self._unpermute(x_bar)

    def _per_slice(self):
        """(pad, Q, BACKSHIFT) per element, in the slice-sorted numbering."""
        return self._pad[self._order], self.q[self._order], self.backshift[self._order]

    def _unpermute(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self._order] = values
        return out

    # -- printability ------------------------------------------------------------------------

    def unsupported(self, rho: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """(n_elements,) bool: the solid elements (ρ > threshold) above the base slice with no
        solid element among their supports in the slice below."""
        solid = np.asarray(rho) > threshold
        supported = (self.supports @ solid.astype(float)) > 0
        return solid & ~supported & ~self.base_layer()

    def base_layer(self) -> np.ndarray:
        """(n_elements,) bool: the elements of slice 0 (on the baseplate)."""
        return self.slices == 0

    def describe(self) -> str:
        """One line for ``femopt validate``: slices, layer height, supports per element."""
        above = self.n_supports[~self.base_layer()]
        none = int(np.sum(above == 0))
        median = int(np.median(above)) if above.size else 0
        return (f"overhang filter on the mesh: {self.slices.max() + 1} slices of {self.layer:.4g}, "
                f"{self.angle:g}° cone, median {median} supports per element"
                + (f", {none} elements above the base slice with none in their cone" if none else ""))


def _supports(lateral: np.ndarray, slices: np.ndarray, radius: float) -> sp.csr_matrix:
    """(n, n) 0/1 CSR: row e holds the elements of slice k_e − 1 whose lateral coordinates
    (n, dim − 1) lie within ``radius`` of e's. One KD-tree query for all slices: each slice
    is placed at its own height, 4 radii apart, so that only the slice below is in reach."""
    spacing = 4.0 * radius
    points = np.c_[lateral, slices * spacing]
    queries = np.c_[lateral, (slices - 1) * spacing]
    pairs = cKDTree(queries).sparse_distance_matrix(cKDTree(points), radius, output_type="ndarray")
    n = len(slices)
    return sp.csr_matrix((np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(n, n))
