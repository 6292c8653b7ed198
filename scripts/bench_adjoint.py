"""Time the differentiable sparse solve and its VJP on an MBB stiffness matrix.

    python scripts/bench_adjoint.py                    # 60×20 smoke run (a second or so)
    python scripts/bench_adjoint.py --nx 600 --ny 200  # the figures of docs/adjoint.md and the README

Builds the reduced stiffness K of the half MBB beam (Q4, ν = 0.3; x fixed on the
left edge, y at the bottom-right node; element scales uniform in [0.01, 1]) as a
full symmetric CSC matrix K = L + tril(L, −1)ᵀ, then times

* ``x, vjp = femopt.adjoint.solve(K, f)``: symmetry test + CHOLMOD factorization + solve,
* ``A_bar, b_bar = vjp(x_bar)``: one solve with the same factor + Ā on K's pattern,

and reports peak memory — Python/numpy allocations by tracemalloc (a separate,
untimed run) and the process's maxrss — against the n² doubles a dense Ā would take.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from femopt.adjoint import is_symmetric, solve
from femopt.fem.assembly import Assembler
from femopt.fem.elasticity import q4_stiffness
from femopt.mesh import StructuredMesh
from femopt.fem.dofs import DofMap


def mbb_stiffness(nx: int, ny: int, seed: int = 0):
    """(K full symmetric CSC (n, n), f (n,), nnz of the stored lower triangle)."""
    mesh = StructuredMesh((nx, ny), (float(nx), float(ny)))
    dofmap = DofMap(mesh, mesh.dim)
    coords = mesh.node_coords
    nodes = np.arange(mesh.n_nodes)
    left = nodes[np.isclose(coords[:, 0], 0.0)]
    corner = nodes[np.isclose(coords[:, 0], nx) & np.isclose(coords[:, 1], 0.0)]
    free = np.setdiff1d(np.arange(dofmap.n_dofs), np.union1d(2 * left, 2 * corner + 1))
    assembler = Assembler(dofmap.element_dofs, q4_stiffness(1.0, 0.3), free, dofmap.n_dofs)
    scales = np.random.default_rng(seed).uniform(0.01, 1.0, mesh.n_elements)
    lower = assembler.matrix(scales)
    K = (lower + sp.tril(lower, -1, format="csc").T).tocsc()
    forces = np.zeros(dofmap.n_dofs)
    top_left = mesh.node_number(np.array([0, ny]))
    forces[2 * top_left + 1] = -1.0
    return K, forces[free], lower.nnz


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nx", type=int, default=60, help="elements along x (default 60)")
    parser.add_argument("--ny", type=int, default=20, help="elements along y (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions; best is shown")
    args = parser.parse_args()

    (K, f, nnz_lower), t_build = timed(mbb_stiffness, args.nx, args.ny)
    n = K.shape[0]
    x_bar = np.random.default_rng(1).standard_normal(n)
    rss_before = rss_mb()

    solve_s, vjp_s, backsolve_s, symmetry_s = [], [], [], []
    for _ in range(args.repeat):
        (x, vjp), t = timed(solve, K, f)
        solve_s.append(t)
        (A_bar, b_bar), t = timed(vjp, x_bar)
        vjp_s.append(t)
        backsolve_s.append(timed(vjp.solver.solve_transpose, x_bar)[1])
        symmetry_s.append(timed(is_symmetric, K)[1])
    assert np.array_equal(A_bar.indptr, K.indptr) and np.array_equal(A_bar.indices, K.indices)
    backend = vjp.solver.name
    del x, vjp, A_bar, b_bar

    # Memory: a separate run under tracemalloc (it slows allocation, so it is not timed).
    tracemalloc.start()
    x, vjp = solve(K, f)
    _, solve_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    A_bar, b_bar = vjp(x_bar)
    _, vjp_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    dense_bytes = 8.0 * n * n
    t_solve, t_vjp, t_back = min(solve_s), min(vjp_s), min(backsolve_s)
    print(f"MBB {args.nx}×{args.ny}: n = {n:,} unknowns, nnz(K) = {K.nnz:,} full "
          f"({nnz_lower:,} lower), backend {backend}; built in {t_build:.2f} s")
    print(f"  solve(K, f)     {1e3 * t_solve:9.1f} ms   symmetry test {1e3 * min(symmetry_s):.1f} ms"
          f" + factorize + solve (best of {args.repeat})")
    print(f"  vjp(x_bar)      {1e3 * t_vjp:9.1f} ms   one solve with the factor "
          f"{1e3 * t_back:.1f} ms + Ā on K's pattern")
    print(f"  vjp / solve     {t_vjp / t_solve:9.3f}      (solve + vjp = {1e3 * (t_solve + t_vjp):.1f} ms)")
    print(f"  Ā: csc on K's pattern, {A_bar.nnz:,} stored entries = {A_bar.data.nbytes / 2**20:.1f} MiB")
    print(f"  peak traced Python/numpy memory: solve {solve_peak / 2**20:.1f} MiB, "
          f"vjp {vjp_peak / 2**20:.1f} MiB")
    print(f"  maxrss {rss_mb():.0f} MiB (after building K: {rss_before:.0f} MiB; "
          "includes CHOLMOD's factor, which tracemalloc does not see)")
    print(f"  a dense n×n Ā would be {dense_bytes / 1e9:,.1f} GB; the vjp's peak is "
          f"{vjp_peak / dense_bytes:.1e} of that")


if __name__ == "__main__":
    main()
