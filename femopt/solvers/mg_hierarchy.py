"""The nested grid hierarchy of geometric multigrid on a structured grid: levels, transfers
and Galerkin coarse element matrices, all by array slicing and small dense products.

Layout. A field on a grid of ``nx × ny [× nz]`` elements with ``components`` values per
node is held as a *nodal array* of shape (nx+1, ny+1, c) in 2D and (nz+1, nx+1, ny+1, c)
in 3D: the axes of :mod:`femopt.mesh.structured`'s numbering, slowest first, so that its
C-order ravel is femopt's DOF vector (``components · node + component``). Element arrays
are (nx, ny) and (nz, nx, ny) likewise. Inside the hierarchy an element's local nodes are
in lexicographic order (:func:`corner_offsets`; :func:`local_order` maps femopt's), so that
gathering the elements' nodal values is one copy of a sliding-window view of the nodal
array, and scattering them back 2^d slice additions: no index arrays, nothing sorted, and
the same code runs on any array library with strided views.

Coarsening. Each axis of N elements becomes ⌈N/2⌉: coarse element i covers the fine
elements 2i and 2i+1; when N is odd the last coarse element covers the one fine element
N−1 (its nodes are both fine nodes, interpolation is the identity there). So every grid
coarsens, and the boundary nodes of the fine grid stay nodes of every coarse grid.
Interpolation P is (bi/tri)linear within each coarse element.

Galerkin operators. With K = Σ_e K_e and nested grids, Pᵀ K P = Σ_C Σ_{children c of C}
P_cᵀ K_c P_c, P_c the fixed (m × m) interpolation from a coarse element's DOFs to its child
c's; a coarse element matrix is a sum of small dense products. On the fine level
K_c = E_c K_0, so K_C = Σ_c E_c (P_cᵀ K_0 P_c): one (n, 2^d) × (2^d, m²) product.

Dirichlet conditions. Fixed DOFs are zero on every level; a coarse DOF is fixed iff the
fine DOF at the same node is. The coarse operator is the exact Galerkin operator of the
reduced one, A_c = Z_c Pᵀ Z_f A Z_f P Z_c (Z: zero the fixed DOFs), computed element-wise
from element matrices with their fixed rows and columns zeroed. It is SPD: the fine DOF
at a free coarse node is free and interpolates from that coarse DOF alone, so Z_f P Z_c
has full column rank. The V-cycle is symmetric (same smoother before and after).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


def corner_offsets(dim: int) -> np.ndarray:
    """(2^d, d) offsets of an element's local nodes in array-axis order, lexicographic (the
    last axis fastest): the multigrid's own local order, in which an element's nodal values
    are one window of the nodal array (femopt's counter-clockwise order: :func:`local_order`)."""
    return np.array(list(np.ndindex(*(2,) * dim)))


def local_order(dim: int, c: int) -> np.ndarray:
    """(2^d · c,) femopt's local DOF (counter-clockwise nodes, bottom face first; c per node)
    of each DOF in the lexicographic order of :func:`corner_offsets`:
    ``K_lex = K[order][:, order]``."""
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    femopt = square if dim == 2 else np.array([[k, i, j] for k in (0, 1) for i, j in square])
    lex = np.ravel_multi_index(tuple(femopt.T), (2,) * dim)
    nodes = np.argsort(lex)                      # femopt node at each lexicographic position
    return (c * nodes[:, None] + np.arange(c)).ravel()


def array_shape(grid) -> tuple[int, ...]:
    """Element counts (nx, ny[, nz]) → element-array shape in array-axis order."""
    grid = tuple(int(n) for n in grid)
    return grid if len(grid) == 2 else (grid[2], grid[0], grid[1])


def gather(nodal: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(n_elements, 2^d · c) element vectors from a nodal array (N0+1, …, c), lexicographic
    local order (:func:`corner_offsets`), c values per node.

    Like ``nodal.reshape(-1)[element_dofs]``, but one copy of a strided window view."""
    dim = nodal.ndim - 1
    shape = tuple(s - 1 for s in nodal.shape[:-1])
    c = nodal.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(nodal, (2,) * dim, axis=tuple(range(dim)))
    # windows: (n0, …, c, 2, …, 2) → (n0, …, 2, …, 2, c)
    windows = np.moveaxis(windows, dim, -1)
    if out is None:
        out = np.empty(shape + (2,) * dim + (c,), nodal.dtype)
    np.copyto(out.reshape(shape + (2,) * dim + (c,)), windows)
    return out.reshape(-1, 2**dim * c)


def scatter(element_values: np.ndarray, shape: tuple[int, ...], c: int,
            out: np.ndarray | None = None, scales: np.ndarray | None = None,
            work: np.ndarray | None = None) -> np.ndarray:
    """Nodal array (N0+1, …, c) = Σ over elements of their (n_elements, 2^d · c) values
    (times ``scales`` (n_elements,) when given): the transpose of :func:`gather`
    (``np.add.at`` on the DOFs, by 2^d slice additions).

    The values are first copied (and scaled) local-node-major into ``work`` (2^d, n0, …, c),
    one pass over them, so that each addition reads a contiguous block instead of every
    cache line of the element array again."""
    dim = len(shape)
    values = np.moveaxis(element_values.reshape(tuple(shape) + (2**dim, c)), dim, 0)
    if work is None:
        work = np.empty((2**dim,) + tuple(shape) + (c,), element_values.dtype)
    work = work.reshape((2**dim,) + tuple(shape) + (c,))
    if scales is None:
        np.copyto(work, values)
    else:
        np.multiply(values, scales.reshape((1,) + tuple(shape) + (1,)), out=work)
    if out is None:
        out = np.zeros(tuple(n + 1 for n in shape) + (c,), element_values.dtype)
    else:
        out[...] = 0
    for a, o in enumerate(corner_offsets(dim)):
        out[tuple(slice(oi, oi + n) for oi, n in zip(o, shape))] += work[a]
    return out


def scatter_corners(values: np.ndarray, scales: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nodal array (N0+1, …, c) = Σ_e scales_e · values placed at element e's corners:
    :func:`scatter` of the same (2^d, c) values for every element, without element arrays
    (e.g. the fine level's diagonal Σ_e E_e diag(K0)); the same sums in the same order."""
    dim = len(shape)
    values = np.asarray(values)
    E = np.asarray(scales).reshape(tuple(shape) + (1,))
    out = np.zeros(tuple(n + 1 for n in shape) + (values.shape[-1],), np.result_type(values, E))
    for a, o in enumerate(corner_offsets(dim)):
        out[tuple(slice(oi, oi + n) for oi, n in zip(o, shape))] += E * values[a]
    return out


def coarse_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """⌈N/2⌉ per axis: the next coarser element array."""
    return tuple((n + 1) // 2 for n in shape)


def prolong(coarse: np.ndarray, fine_shape: tuple[int, ...]) -> np.ndarray:
    """Nodal array on the fine grid (fine_shape elements) interpolated (bi/trilinearly,
    axis by axis) from a nodal array on the coarse grid. Fixed DOFs are the caller's."""
    out = coarse
    for axis, n in enumerate(fine_shape):
        out = _prolong_axis(out, axis, n)
    return out


def restrict(fine: np.ndarray, fine_shape: tuple[int, ...]) -> np.ndarray:
    """The transpose of :func:`prolong`: fine nodal array → coarse nodal array."""
    out = fine
    for axis, n in enumerate(fine_shape):
        out = _restrict_axis(out, axis, n)
    return out


def _prolong_axis(coarse: np.ndarray, axis: int, n: int) -> np.ndarray:
    half = n // 2
    shape = list(coarse.shape)
    shape[axis] = n + 1
    fine = np.empty(shape, coarse.dtype)
    f = np.moveaxis(fine, axis, 0)
    c = np.moveaxis(coarse, axis, 0)
    f[0:2 * half + 1:2] = c[0:half + 1]
    f[1:2 * half:2] = c[0:half] + c[1:half + 1]
    f[1:2 * half:2] *= 0.5
    if n % 2:  # the odd axis's last fine node is the last coarse node
        f[n] = c[half + 1]
    return fine


def _restrict_axis(fine: np.ndarray, axis: int, n: int) -> np.ndarray:
    half = n // 2
    shape = list(fine.shape)
    shape[axis] = (n + 1) // 2 + 1
    coarse = np.empty(shape, fine.dtype)
    f = np.moveaxis(fine, axis, 0)
    c = np.moveaxis(coarse, axis, 0)
    c[0:half + 1] = f[0:2 * half + 1:2]
    odd = 0.5 * f[1:2 * half:2]
    c[0:half] += odd
    c[1:half + 1] += odd
    if n % 2:
        c[half + 1] = f[n]
    return coarse


def _weights_1d(kind: str, s: int) -> np.ndarray:
    """(2, 2) W[t, q]: weight of coarse local node q at the child's local node t (0, 1),
    along one axis. kind "pair": a coarse element of 2 fine ones, child s (0 or 1);
    "single": a coarse element of one fine element (an odd axis's last)."""
    if kind == "single":
        return np.eye(2)
    positions = np.array([s, s + 1]) / 2.0  # the child's nodes in the coarse element, in [0, 1]
    return np.stack([1 - positions, positions], axis=1)


def child_interpolation(kinds: tuple[str, ...], child: tuple[int, ...], c: int) -> np.ndarray:
    """(m, m) P_c: a coarse element's DOFs (node-major, c per node) → its child's DOFs, for
    per-axis kinds ("pair"/"single") and child offsets (0/1) in array-axis order."""
    offsets = corner_offsets(len(kinds))
    W = [_weights_1d(k, s) for k, s in zip(kinds, child)]
    nodes = np.ones((len(offsets), len(offsets)))
    for axis in range(len(kinds)):
        nodes *= W[axis][offsets[:, axis][:, None], offsets[:, axis][None, :]]
    return np.kron(nodes, np.eye(c))


@dataclass
class ChildBlock:
    """The fine elements of one kind of child: ``fine`` slices of the fine element array,
    ``coarse`` slices of the coarse element array (their parents, one each), and P_c."""

    fine: tuple[slice, ...]
    coarse: tuple[slice, ...]
    P: np.ndarray


def child_blocks(shape: tuple[int, ...], c: int) -> list[list[ChildBlock]]:
    """For each region of the coarse element array (per axis: the paired elements, and the
    single last one of an odd axis), its children: a list of ChildBlocks per region; the
    regions' coarse slices tile the coarse array and each region's children are disjoint."""
    per_axis = []
    for n in shape:
        half = n // 2
        options = [("pair", slice(0, half), [(s, slice(s, 2 * half, 2)) for s in (0, 1)])] if half else []
        if n % 2:
            options.append(("single", slice(half, half + 1), [(0, slice(n - 1, n))]))
        per_axis.append(options)
    regions = []
    for combo in itertools.product(*per_axis):
        kinds = tuple(o[0] for o in combo)
        coarse = tuple(o[1] for o in combo)
        blocks = []
        for children in itertools.product(*(o[2] for o in combo)):
            child = tuple(s for s, _ in children)
            blocks.append(ChildBlock(tuple(sl for _, sl in children), coarse,
                                     child_interpolation(kinds, child, c)))
        regions.append(blocks)
    return regions


def project_elements(K: np.ndarray, shape: tuple[int, ...], regions,
                     out: np.ndarray | None = None, run=None, parts: int = 1) -> np.ndarray:
    """Coarse element matrices (n_coarse, m, m) = Σ_children P_cᵀ K_child P_c from fine
    ones K (n_fine, m, m) on the element array ``shape``: two GEMMs per kind of child
    (each on a contiguous copy of the children: numpy's batched small products are slower),
    in slabs of about PROJECT_ROWS coarse elements along the first axis (small temporaries).
    out: an (n_coarse, m, m) array to write into (kept between designs: no page faults).
    run(work, ranges): runs work(lo, hi) for ``parts`` ranges of coarse planes, e.g. on
    threads (numpy's copies and GEMMs release the GIL); each coarse element sums its children
    in the same order either way. None: all on the calling thread."""
    m = K.shape[-1]
    fine = K.reshape(tuple(shape) + (m, m))
    cshape = coarse_shape(shape)
    out = np.zeros(cshape + (m, m), K.dtype) if out is None else out.reshape(cshape + (m, m))
    rows = max(1, PROJECT_ROWS // max(1, int(np.prod(cshape[1:]))))

    def work(lo: int, hi: int) -> None:
        out[lo:hi] = 0
        for start in range(lo, hi, rows):
            stop = min(hi, start + rows)
            for blocks in regions:
                first = blocks[0].coarse[0]
                a, z = max(start - first.start, 0), min(stop, first.stop) - first.start
                if a >= z:
                    continue
                for b in blocks:
                    child = np.ascontiguousarray(fine[b.fine][a:z])          # (…, m, m)
                    P = b.P.astype(K.dtype)
                    KP = (child.reshape(-1, m) @ P).reshape(child.shape)
                    # Pᵀ K P = (K P)ᵀ P since K is symmetric: one more GEMM on the transposed block.
                    KPt = np.ascontiguousarray(np.swapaxes(KP, -1, -2))
                    out[b.coarse][a:z] += (KPt.reshape(-1, m) @ P).reshape(child.shape)

    n = cshape[0]
    parts = max(1, min(int(parts), n))
    ranges = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
    if run is None:
        for lo, hi in ranges:
            work(lo, hi)
    else:
        run(work, ranges)
    return out.reshape(-1, m, m)


PROJECT_ROWS = 4096  # coarse elements per block of project_scaled's product (18 MB in double)


def project_scaled(scales: np.ndarray, K0: np.ndarray, shape: tuple[int, ...], regions,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Coarse element matrices (n_coarse, m, m) = Σ_children E_c P_cᵀ K0 P_c for fine element
    scales (n_fine,) and one shared K0 (m, m): per region, (n, children) @ (children, m²).
    out: an (n_coarse, m, m) array to write into.

    The product runs in blocks of PROJECT_ROWS coarse elements along the first axis, in the
    scales' precision, each block written (and rounded) straight into ``out``: at 10⁶ fine
    elements a whole-level product in double would be a 576 MB temporary (and its page
    faults cost more than the product)."""
    m = K0.shape[0]
    E = scales.reshape(shape)
    cshape = coarse_shape(shape)
    if out is None:
        out = np.empty(cshape + (m * m,), np.result_type(scales, K0))
    out = out.reshape(cshape + (m * m,))
    for blocks in regions:
        A = np.stack([(b.P.T @ K0 @ b.P).ravel() for b in blocks])          # (children, m²)
        children = np.stack([E[b.fine] for b in blocks], axis=-1)           # (…, children)
        block = out[blocks[0].coarse]
        step = max(1, PROJECT_ROWS // max(1, int(np.prod(block.shape[1:-1]))))
        for i in range(0, block.shape[0], step):
            part = children[i:i + step]
            block[i:i + step] = (part.reshape(-1, len(blocks)) @ A).reshape(part.shape[:-1] + (m * m,))
    return out.reshape(-1, m, m)


@dataclass
class Level:
    """One grid of the hierarchy.

    shape: element array (array-axis order); c: components per node; free: (N0+1, …, c)
    float mask, 1 on free DOFs and 0 on fixed ones; regions: its children blocks towards
    the next coarser level (None on the coarsest).
    """

    shape: tuple[int, ...]
    c: int
    free: np.ndarray
    regions: list | None = None
    K: np.ndarray | None = field(default=None, repr=False)       # (n_el, m, m), coarse levels
    inverse_diagonal: np.ndarray | None = field(default=None, repr=False)
    lambda_max: float | None = None    # bound of λmax(D⁻¹A), for the Chebyshev smoother

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def node_shape(self) -> tuple[int, ...]:
        return tuple(n + 1 for n in self.shape) + (self.c,)

    @property
    def n_dofs(self) -> int:
        return int(np.prod(self.node_shape))


def coarse_free_mask(free: np.ndarray, fine_shape: tuple[int, ...]) -> np.ndarray:
    """The coarse level's free mask: a coarse DOF is free iff the fine DOF at its node is."""
    out = free
    for axis, n in enumerate(fine_shape):
        half = n // 2
        f = np.moveaxis(out, axis, 0)
        picked = [f[0:2 * half + 1:2]] + ([f[n:n + 1]] if n % 2 else [])
        out = np.moveaxis(np.concatenate(picked, axis=0), 0, axis)
    return np.ascontiguousarray(out)


def build_levels(shape: tuple[int, ...], c: int, free: np.ndarray, n_levels: int) -> list[Level]:
    """``n_levels`` grids from the fine element array ``shape`` with free mask ``free``."""
    levels = [Level(tuple(shape), c, free)]
    while len(levels) < n_levels:
        fine = levels[-1]
        fine.regions = child_blocks(fine.shape, c)
        levels.append(Level(coarse_shape(fine.shape), c, coarse_free_mask(fine.free, fine.shape)))
    return levels


def auto_levels(shape: tuple[int, ...], c: int, coarse_dofs: int) -> int:
    """The number of grids: coarsen until the coarsest has at most ``coarse_dofs`` DOFs
    (or a single element per axis)."""
    n = 1
    while np.prod([s + 1 for s in shape]) * c > coarse_dofs and max(shape) > 1:
        shape = coarse_shape(shape)
        n += 1
    return n


def max_levels(shape: tuple[int, ...]) -> int:
    """The most grids a hierarchy of the element array ``shape`` may have: each level halves
    every axis (⌈N/2⌉), down to a single element (a further grid would repeat it, at the cost
    of a V-cycle level each). :func:`auto_levels` never goes beyond it."""
    n = 1
    while max(shape) > 1:
        shape = coarse_shape(shape)
        n += 1
    return n
