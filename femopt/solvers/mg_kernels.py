"""Fused, multi-threaded element kernels of the matrix-free multigrid (numba).

The numpy V-cycle applies an operator Σ_e K_e u_e in three passes over (n_elements, m)
work arrays: gather u_e, one matrix product, scatter-add (:mod:`femopt.solvers.mg_hierarchy`).
At 10⁶ H8 elements each pass streams 100–200 MB on one core. The kernels here do the three
in one pass, per block of elements held in L1/L2, on every core, and keep no element-sized
work arrays:

- :func:`apply_shared`: y = mask · Σ_e E_e K0 u_e (+ extra · x), one shared element
  matrix K0 and element scales E (the fine level);
- :func:`apply_elements`: y = Σ_e K_e u_e, one matrix per element (the coarse levels).

Race-free without atomics, and the same sums in the same order on any number of threads:
on the fine level the threads split the *node* planes along the slowest axis, and each node
plane p pulls the rows of its own corners from the two element planes that touch it (p − 1
and p), so every element's product is computed once in two halves and each output value is
written by one thread only; on the coarse levels, whose bytes are the element matrices, each
element is taken once, whole, in two passes (even element planes, then odd ones). 2D grids run as 3D ones with one element and
one node along the middle axis (the corner table says which corners exist).

numba is optional: without it (``USE_NUMBA`` False: not importable, or switched off by a
test), :mod:`femopt.solvers.multigrid` keeps the numpy path. The kernels are compiled on
first use for float32 and float64 (``cache=True``: once per machine, a few seconds each)
and run on ``numba.get_num_threads()`` threads (all cores, or NUMBA_NUM_THREADS;
:func:`limit_threads` for one-thread study workers).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency, but the numpy path stays correct
    numba = None

HAVE_NUMBA = numba is not None
# The switch the multigrid reads at each product; tests set it False to run the numpy path.
USE_NUMBA = HAVE_NUMBA and os.environ.get("FEMOPT_NUMBA", "1") != "0"
# Elements per block of the fine kernel: its node rows (12, BLOCK) and products (12, BLOCK)
# stay in L1/L2 (2 · 12 · 256 · 8 B = 48 KB in double).
BLOCK = 256
# Below this many elements a product runs on the calling thread: waking the others costs more
# than it saves (and on a busy machine a parallel region waits for its slowest thread).
PARALLEL_ELEMENTS = 20000


def enabled() -> bool:
    """Whether the multigrid uses the numba kernels now."""
    return USE_NUMBA and HAVE_NUMBA


@contextlib.contextmanager
def limit_threads(n: int):
    """Run the kernels on at most ``n`` threads inside the block (thread-local in numba:
    a study worker's case sets 1 so that N cases on N cores do not oversubscribe)."""
    if not HAVE_NUMBA:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _threads_for(n_elements: int):
    """One thread for a small product, else the current number (a context manager)."""
    return limit_threads(1) if n_elements < PARALLEL_ELEMENTS else contextlib.nullcontext()


def _as3d(a: np.ndarray, dim: int) -> np.ndarray:
    """A 2D nodal (N0, N1, c) or element (n0, n1) array as a 3D one with a unit middle axis."""
    return a if dim == 3 else a[:, None]


def _corners(dim: int) -> np.ndarray:
    """(2^d, 3) corner offsets (lexicographic, axis 0 slowest) in the kernels' 3D axes."""
    offsets = np.array(list(np.ndindex(*(2,) * dim)), np.int64)
    return offsets if dim == 3 else np.insert(offsets, 1, 0, axis=1)


def apply_shared(x: np.ndarray, E: np.ndarray, K0: np.ndarray, free: np.ndarray,
                 extra: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """out = free · Σ_e E_e K0 u_e + extra · x on a structured grid.

    x, free, extra, out: nodal arrays (N0, N1[, N2], c) of one dtype (float32 or float64);
    E: (N0−1, N1−1[, N2−1]) element scales, K0: (m, m) symmetric, in the hierarchy's
    lexicographic local order (:func:`femopt.solvers.mg_hierarchy.corner_offsets`); extra:
    diagonal terms beyond the elements (None: none). Returns out."""
    dim = x.ndim - 1
    dtype = x.dtype
    has_extra = extra is not None
    with _threads_for(np.size(E)):
        _apply_shared(_as3d(x, dim), _as3d(np.asarray(E, dtype), dim), np.ascontiguousarray(K0, dtype),
                      _corners(dim), _as3d(np.asarray(free, dtype), dim),
                      _as3d(np.asarray(extra if has_extra else free, dtype), dim), has_extra, _as3d(out, dim))
    return out


def apply_elements(x: np.ndarray, K: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = Σ_e K_e u_e for element matrices K (n_elements, m, m) (symmetric, in the
    lexicographic local order, fixed rows already zero) and nodal arrays x, out
    (N0, N1[, N2], c) of K's dtype. Returns out."""
    dim = x.ndim - 1
    with _threads_for(len(K)):
        _apply_elements(_as3d(x, dim), K.reshape((-1,) + K.shape[-2:]), _corners(dim), _as3d(out, dim))
    return out


if HAVE_NUMBA:
    from numba import njit, prange

    # No reassociation: the sums keep their order (float32 rounding of the V-cycle is as
    # the numpy path's up to the product's own order); FMA contraction is allowed.
    _FAST = {"contract", "nsz", "arcp", "nnan", "ninf"}

    @njit(parallel=True, cache=True, fastmath=_FAST)
    def _apply_shared(x, E, K0, corners, free, extra, has_extra, y):  # pragma: no cover - compiled
        N0, N1, N2, c = x.shape
        e0, e1, e2 = E.shape
        n_corners = corners.shape[0]
        m = n_corners * c
        h = m // 2                        # rows of one face's corners (axis-0 offset 0 or 1)
        n_rows = n_corners // 2           # node rows (axis-0, axis-1 offsets) of an element row
        # An element row's corners (…, 0) and (…, 1) read the same node row shifted by one:
        # copied once, component by component, with one padding column per element row, so
        # that both are contiguous views of R and a block of rows is one long vector.
        stride = e2 + 1
        rows = max(1, BLOCK // stride)    # element rows per block
        width = rows * stride
        for p in prange(N0):
            R = np.zeros((n_rows * c, width + 1), x.dtype)   # node rows of a block, per component
            V = np.empty((h, width), x.dtype)                # the face's rows of K0 u_e
            Y = np.zeros((N1, c, N2), x.dtype)               # node plane p, per component
            for side in range(2):
                ie = p - 1 + side                # element plane; node plane p is its face oi
                if ie < 0 or ie >= e0:
                    continue
                oi = 1 - side
                for j0 in range(0, e1, rows):
                    nr = min(rows, e1 - j0)
                    nb = nr * stride
                    for t in range(n_rows):
                        oa, ob = corners[2 * t, 0], corners[2 * t, 1]
                        for jj in range(nr):
                            xr = x[ie + oa, j0 + jj + ob]
                            for q in range(c):
                                Rq = R[t * c + q, jj * stride:]
                                for k in range(N2):
                                    Rq[k] = xr[k, q]
                    # V = K0[face rows] @ U, two rows and four columns of K0 per pass
                    for r in range(0, h, 2):
                        row = oi * h + r
                        V0 = V[r]
                        V1 = V[r + 1]
                        for e in range(nb):
                            V0[e] = 0
                            V1[e] = 0
                        for b in range(0, m, 4):
                            k0, k1, k2, k3 = K0[row, b], K0[row, b + 1], K0[row, b + 2], K0[row, b + 3]
                            l0, l1, l2, l3 = K0[row + 1, b], K0[row + 1, b + 1], K0[row + 1, b + 2], K0[row + 1, b + 3]
                            a0, a1, a2, a3 = b // c, (b + 1) // c, (b + 2) // c, (b + 3) // c
                            U0 = R[(a0 // 2) * c + b % c, a0 % 2:]
                            U1 = R[(a1 // 2) * c + (b + 1) % c, a1 % 2:]
                            U2 = R[(a2 // 2) * c + (b + 2) % c, a2 % 2:]
                            U3 = R[(a3 // 2) * c + (b + 3) % c, a3 % 2:]
                            for e in range(nb):
                                u0, u1, u2, u3 = U0[e], U1[e], U2[e], U3[e]
                                V0[e] += k0 * u0 + k1 * u1 + k2 * u2 + k3 * u3
                                V1[e] += l0 * u0 + l1 * u1 + l2 * u2 + l3 * u3
                    for r in range(h):
                        a = oi * n_rows + r // c
                        ob, oc = corners[a, 1], corners[a, 2]
                        Vr = V[r]
                        for jj in range(nr):
                            Ej = E[ie, j0 + jj]
                            Yr = Y[j0 + jj + ob, r % c, oc:]
                            off = jj * stride
                            for k in range(e2):
                                Yr[k] += Ej[k] * Vr[off + k]
            for j in range(N1):
                for k in range(N2):
                    for q in range(c):
                        v = Y[j, q, k] * free[p, j, k, q]
                        if has_extra:
                            v += extra[p, j, k, q] * x[p, j, k, q]
                        y[p, j, k, q] = v

    @njit(cache=True, fastmath=_FAST)
    def _element_planes(x, K, corners, lo, hi, y):  # pragma: no cover - compiled
        """y += Σ K_e u_e over the element planes [lo, hi), one element at a time: each K_e
        is read once, whole (symmetric: its column b is row b, contiguous)."""
        N0, N1, N2, c = x.shape
        e1, e2 = max(N1 - 1, 1), N2 - 1    # 2D: one element along the unit middle axis
        n_corners = corners.shape[0]
        m = n_corners * c
        u = np.empty(m, x.dtype)
        v = np.empty(m, x.dtype)
        for ie in range(lo, hi):
            for j in range(e1):
                for k in range(e2):
                    Ke = K[(ie * e1 + j) * e2 + k]
                    for a in range(n_corners):
                        for q in range(c):
                            u[a * c + q] = x[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q]
                    for r in range(m):
                        v[r] = 0
                    for b in range(m):
                        ub = u[b]
                        for r in range(m):
                            v[r] += Ke[b, r] * ub
                    for a in range(n_corners):
                        for q in range(c):
                            y[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q] += v[a * c + q]

    @njit(parallel=True, cache=True, fastmath=_FAST)
    def _apply_elements(x, K, corners, y):  # pragma: no cover - compiled
        # Each element matrix is read once (they are the level's bytes): an element plane adds
        # into both of its node planes, so the even element planes go in one parallel pass and
        # the odd ones in a second (no two of a pass share a node plane); every node value
        # sums its contributions in the same order whatever the number of threads.
        N0, N1, N2, c = x.shape
        e0 = N0 - 1
        for p in prange(N0):
            for j in range(N1):
                for k in range(N2):
                    for q in range(c):
                        y[p, j, k, q] = 0
        for parity in range(2):
            for i in prange((e0 - parity + 1) // 2):
                ie = 2 * i + parity
                _element_planes(x, K, corners, ie, ie + 1, y)

else:  # pragma: no cover
    _apply_shared = _apply_elements = _element_planes = None
