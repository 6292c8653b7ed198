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
element is taken once, whole, in two passes (even element planes, then odd ones). 2D grids
run as 3D ones with one element and one node along the middle axis (the corner table says
which corners exist). The compiled code is in :mod:`femopt.solvers._mg_numba`, imported on
first use.

numba is optional: without it (``USE_NUMBA`` False: not importable, switched off by a test
or by the environment variable FEMOPT_NUMBA=0), :mod:`femopt.solvers.multigrid` keeps the
numpy path. The kernels are compiled on first use for float32 and float64 (``cache=True``:
once per machine and source version, seconds each; docs/solvers.md gives the times). They
release the GIL and run on :func:`threads` Python threads (the cores this process may use,
or NUMBA_NUM_THREADS; :func:`limit_threads` for one-thread study workers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# numba is a dependency, but the numpy path stays correct without it; found, not imported.
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
# The switch the multigrid reads at each product; tests set it False to run the numpy path.
USE_NUMBA = HAVE_NUMBA and os.environ.get("FEMOPT_NUMBA", "1") != "0"
# Below this many elements a product runs on the calling thread: waking the others costs more
# than it saves (and on a busy machine a parallel region waits for its slowest thread).
PARALLEL_ELEMENTS = 20000


def enabled() -> bool:
    """Whether the multigrid uses the numba kernels now."""
    return USE_NUMBA and HAVE_NUMBA


def default_threads() -> int:
    """Threads for the kernels: NUMBA_NUM_THREADS when set, else the cores this process may
    use."""
    setting = os.environ.get("NUMBA_NUM_THREADS", "")
    if setting.strip().isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_limit = threading.local()   # limit_threads' setting, per calling thread
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def threads() -> int:
    """The number of threads a product runs on now (:func:`limit_threads` within its block)."""
    return getattr(_limit, "n", None) or default_threads()


@contextlib.contextmanager
def limit_threads(n: int):
    """Run the kernels on at most ``n`` threads inside the block, for the calling thread (a
    study worker's case sets 1, so that N cases on N cores do not oversubscribe)."""
    before = getattr(_limit, "n", None)
    _limit.n = max(1, min(int(n), threads()))
    try:
        yield
    finally:
        _limit.n = before


def run_ranges(function, ranges, *args) -> None:
    """function(lo, hi, *args) for every (lo, hi) in ranges: the first on the calling thread,
    the others on the pool's threads (the kernels release the GIL); returns when all are done."""
    global _pool
    if not ranges:
        return
    if len(ranges) > 1:
        with _pool_lock:
            if _pool is None or _pool._max_workers < len(ranges) - 1:
                _pool = ThreadPoolExecutor(max_workers=len(ranges) - 1, thread_name_prefix="femopt-mg")
        futures = [_pool.submit(function, lo, hi, *args) for lo, hi in ranges[1:]]
    function(ranges[0][0], ranges[0][1], *args)
    if len(ranges) > 1:
        for future in futures:
            future.result()


def _split(n: int, parts: int, step: int = 1, start: int = 0) -> list[tuple[int, int]]:
    """≤ parts contiguous ranges (lo, hi) covering start, start + step, … < n, each nonempty."""
    count = max(0, (n - start + step - 1) // step)
    parts = max(1, min(parts, count))
    cuts = [start + step * ((count * i) // parts) for i in range(parts + 1)]
    cuts[-1] = n
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if lo < hi]


def _kernels():
    """The compiled kernels' module (imports numba; loads or compiles on first use)."""
    # Here, not at the top: importing numba takes a third of a second and most runs need no kernels.
    from femopt.solvers import _mg_numba
    return _mg_numba


def _threads_for(n_elements: int) -> int:
    """One thread for a small product, else :func:`threads`."""
    return 1 if n_elements < PARALLEL_ELEMENTS else threads()


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
    run_ranges(_kernels().shared_planes, _split(x.shape[0], _threads_for(np.size(E))),
         _as3d(x, dim), _as3d(np.asarray(E, dtype), dim), np.ascontiguousarray(K0, dtype), _corners(dim),
         _as3d(np.asarray(free, dtype), dim), _as3d(np.asarray(extra if has_extra else free, dtype), dim),
         has_extra, _as3d(out, dim))
    return out


def apply_elements(x: np.ndarray, K: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = Σ_e K_e u_e for element matrices K (n_elements, m, m) (symmetric, in the
    lexicographic local order, fixed rows already zero) and nodal arrays x, out
    (N0, N1[, N2], c) of K's dtype. Returns out.

    Each element matrix is read once (they are the level's bytes): an element plane adds into
    both of its node planes, so the even element planes go in one pass and the odd ones in a
    second, each pass split among the threads; every node value sums its contributions in the
    same order whatever the number of threads."""
    dim = x.ndim - 1
    n_planes = x.shape[0] - 1
    parts = _threads_for(len(K))
    out[...] = 0
    arrays = (_as3d(x, dim), K.reshape((-1,) + K.shape[-2:]), _corners(dim), _as3d(out, dim))
    for parity in (0, 1):
        run_ranges(_kernels().element_planes, _split(n_planes, parts, 2, parity), *arrays)
    return out


def element_energies(lam: np.ndarray, u: np.ndarray, K0: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out += λ_eᵀ K0 u_e for every element of a structured grid: lam, u nodal arrays
    (N0, N1[, N2], c) in float64, K0 (m, m) in the lexicographic local order, out (N0−1,
    N1−1[, N2−1]) float64. Returns out. (The sensitivity of K = Σ_e s_e K0 without the
    (n_elements, m) gathers of λ_e and u_e.)"""
    dim = u.ndim - 1
    run_ranges(_kernels().energy_planes, _split(out.shape[0], _threads_for(out.size)),
         _as3d(lam, dim), _as3d(u, dim), np.ascontiguousarray(K0, float), _corners(dim), _as3d(out, dim))
    return out
