"""The multigrid's fine-level product K u = Σ_e E_e K0 u_e: numpy path against the fused numba
kernel, in one run (so that the ratio is measured under the same conditions).

    python scripts/bench_kernels.py                  # 10⁵ and 10⁶ H8 elements (46³, 100³)
    python scripts/bench_kernels.py --sizes 20,46 --repeat 3

For each size and precision it prints the best wall time of ``--repeat`` products, the
effective bandwidth (the bytes a product must move at least, "MB min": read x, the free mask
and the element scales, write y; the numpy path moves several times more through its element
work arrays), the arithmetic rate (2 · 24² flops per H8 element), the ratio numpy / numba,
the kernel's time on one thread, and, as the machine's references, numpy's copy bandwidth
on a 256 MB array and how many cores the run really got (two threads of a compiled loop
against one: on a shared machine the second core is often busy). numpy's BLAS runs on one
thread (as in ``femopt run``), the kernels on ``mg_kernels.threads()`` threads
(NUMBA_NUM_THREADS), and once more on one thread. The first numba call compiles (or loads
the cache): its time is printed apart.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from femopt.fem.elasticity import stiffness_matrices  # noqa: E402
from femopt.mesh import StructuredMesh  # noqa: E402
from femopt.solvers import mg_kernels  # noqa: E402
from femopt.solvers.multigrid import MGSolver  # noqa: E402


def fine_solver(n: int) -> MGSolver:
    """An n³ H8 cantilever (x = 0 clamped, random SIMP scales) with its hierarchy."""
    grid = (n, n, n)
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    nodes = np.flatnonzero(mesh.node_coords[:, 0] == 0)
    fixed = (3 * nodes[:, None] + np.arange(3)).ravel()
    free = np.setdiff1d(np.arange(mesh.n_dofs), fixed)
    solver = MGSolver(grid, stiffness_matrices(mesh, 0.3), free)
    E = 1e-9 + np.random.default_rng(0).uniform(0, 1, mesh.n_elements) ** 3
    solver.factorize(None, element_scales=E)
    return solver


def cores_available(threads: int) -> float:
    """How many cores ``threads`` threads of a compiled loop really got just now: the same
    work per thread, one thread's time × threads / all threads' time."""
    from femopt.solvers import _mg_numba  # noqa: F401 - numba loaded, as the kernels need it
    from numba import njit

    @njit(nogil=True, cache=False)
    def spin(n):
        s = 0.0
        for i in range(n):
            s += (i % 7) * 0.5
        return s

    spin(10)
    n = 50_000_000
    one = best(lambda: spin(n), 3)

    def together():
        pool = [threading.Thread(target=spin, args=(n,)) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    return threads * one / best(together, 3)


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="46,100", help="elements per axis, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not mg_kernels.HAVE_NUMBA:
        sys.exit("error: numba is not importable: nothing to compare")
    threads = mg_kernels.threads()
    block = np.ones(2**25)  # 256 MB
    target = np.empty_like(block)
    copy = best(lambda: np.copyto(target, block), args.repeat)
    print(f"numpy copy of 256 MB: {2 * block.nbytes / copy / 1e9:.1f} GB/s (read + write); kernel threads: "
          f"{threads}; cores this run got: {cores_available(threads):.1f} of {threads}")
    del block, target
    print(f"{'elements':>9} {'dtype':>7} {'MB min':>6} {'numpy s':>8} {'GB/s':>5} {'GF/s':>5} {'numba s':>8} "
          f"{'GB/s':>5} {'GF/s':>5} {'ratio':>6} {'1 thread':>8}")
    with threadpool_limits(limits=1):
        for n in (int(s) for s in args.sizes.split(",")):
            solver = fine_solver(n)
            fine = solver.levels[0]
            for dtype in (np.float64, np.float32):
                x = (np.random.default_rng(1).standard_normal(fine.node_shape) * fine.free).astype(dtype)
                nbytes = (3 * x.nbytes + fine.n_elements * x.itemsize)  # x, free, y; E
                mg_kernels.USE_NUMBA = False
                reference = solver._matvec(0, x).copy()
                numpy_s = best(lambda: solver._matvec(0, x), args.repeat)
                mg_kernels.USE_NUMBA = True
                start = time.perf_counter()
                fused = solver._matvec(0, x)
                first = time.perf_counter() - start
                error = np.abs(fused - reference).max() / np.abs(reference).max()
                numba_s = best(lambda: solver._matvec(0, x), args.repeat)
                with mg_kernels.limit_threads(1):
                    single_s = best(lambda: solver._matvec(0, x), args.repeat)
                flops = 2 * solver.K0.size * fine.n_elements   # the element products' multiply-adds
                print(f"{fine.n_elements:>9} {np.dtype(dtype).name:>7} {nbytes / 1e6:>6.0f} {numpy_s:>8.4f} "
                      f"{nbytes / numpy_s / 1e9:>5.1f} {flops / numpy_s / 1e9:>5.1f} {numba_s:>8.4f} "
                      f"{nbytes / numba_s / 1e9:>5.1f} {flops / numba_s / 1e9:>5.1f} {numpy_s / numba_s:>6.2f} "
                      f"{single_s:>8.4f}   (first numba call {first:.2f} s, rel. difference {error:.1e})")
            del solver


if __name__ == "__main__":
    main()
