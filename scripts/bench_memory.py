"""Measure peak memory against femopt's estimate (:mod:`femopt.solvers.memory`) and print the table.

    python scripts/bench_memory.py                        # the calibration cases below, ~3 minutes
    python scripts/bench_memory.py --sizes 600x200 --solver cholmod --iterations 5
    python scripts/bench_memory.py --stages               # also each stage's own peak, per part
    python scripts/bench_memory.py --sizes 200x100,16x16x16 --solver reuse,superlu

Each case runs in a fresh process. ``measured`` is that process's peak resident
memory (ru_maxrss) after ``--iterations`` optimization iterations of the
scripts/bench.py problems (2D: half MBB beam; 3D: cantilever, x = 0 face
clamped; density filter). ``--stages`` runs the pipeline pieces one by one in
another fresh process — StructuredMesh and supports (build_problem), Assembler,
make_filter, K, solver analyze + factorize + solve — and prints, per stage, the
memory it kept and the peak above what was resident when it began (Linux:
/proc/self/status, peak reset through /proc/self/clear_refs), with nnz(L) for
cholmod: the numbers the constants of femopt/solvers/memory.py were fitted to.
"""

from __future__ import annotations

import argparse
import inspect
import multiprocessing
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = ("200x100,400x200,800x400,24x24x24,32x16x16,40x20x20")
MB = 2.0**20


def _status() -> tuple[float, float]:
    """(resident, peak resident since the last reset) in bytes."""
    text = Path("/proc/self/status").read_text()
    return tuple(float(re.search(rf"{key}:\s+(\d+)", text).group(1)) * 1024 for key in ("VmRSS", "VmHWM"))


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def stages(grid: tuple[int, ...], solver_name: str) -> dict:
    """Per stage (kept bytes, peak bytes above the resident memory when it began), in a fresh process."""
    import numpy as np

    from bench import cantilever3d_config, mbb_config
    from femopt.fem.assembly import Assembler
    from femopt.design import make_filter
    from femopt.solvers import make_solver
    try:  # build_problem moves to femopt.build on main
        from femopt.build import build_problem
    except ImportError:
        from femopt.problem import build_problem

    make = mbb_config if len(grid) == 2 else cantilever3d_config
    args = (*grid, "density", 1)
    if "solver_name" in inspect.signature(make).parameters:  # bench.py's newer signature
        args += (solver_name,)
    config = make(*args)
    out = {"baseline": (_status()[0], _status()[1])}
    objects = {}

    def stage(name, make):
        before = _status()[0]
        _reset_peak()
        objects[name] = make()
        after, peak = _status()
        out[name] = (after - before, peak - before)

    stage("mesh", lambda: build_problem(config))
    problem = objects["mesh"]
    mesh = problem.mesh
    free = problem.free_dofs
    stage("assembly", lambda: Assembler(problem.dofmap.element_dofs, problem.element_matrix, free, problem.dofmap.n_dofs))
    assembler = objects["assembly"]
    stage("filter", lambda: (lambda f: (f, f.apply(np.full(mesh.n_elements, 0.5))))(
        make_filter("density", mesh, config.design.filter.radius)))
    scales = 1e-9 + np.random.default_rng(0).random(mesh.n_elements) ** 3
    stage("matrix", lambda: assembler.matrix(scales))
    K = objects["matrix"]
    solver = make_solver(solver_name, node_coords=mesh.node_coords, free_dofs=free)

    def solve():
        solver.analyze(K)
        solver.factorize(K)
        return solver.solve(problem.forces[free])

    stage("solver", solve)
    out["n_free"] = len(free)
    out["nnz_K"] = assembler.nnz
    if solver_name == "cholmod":
        out["nnz_L"] = solver._factor.L().nnz
    return out


def run_isolated(function, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def end_to_end(grid, solver_name, iterations):
    from bench import run_case
    return run_case(grid, solver_name, "density", iterations)["peak_rss_mb"] * MB


def main():
    from femopt.solvers.memory import estimate_for_grid

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=CASES, help="comma-separated NXxNY or NXxNYxNZ")
    parser.add_argument("--solver", default="cholmod,amg", help="comma-separated solvers")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--stages", action="store_true", help="also measure each stage (second process)")
    args = parser.parse_args()

    print(f"{'case':>10} {'solver':>8} {'estimate MiB':>12} {'measured MiB':>12} {'est/meas':>8}", flush=True)
    rows = []
    for size in args.sizes.split(","):
        grid = tuple(int(v) for v in size.lower().split("x"))
        for name in args.solver.split(","):
            estimate = estimate_for_grid(grid, name)
            measured = run_isolated(end_to_end, grid, name, args.iterations)
            rows.append((size, name, estimate, measured))
            print(f"{size:>10} {name:>8} {estimate.total_bytes / MB:12.0f} {measured / MB:12.0f} "
                  f"{estimate.total_bytes / measured:8.2f}", flush=True)
            if args.stages:
                measured_stages = run_isolated(stages, grid, name)
                parts = ", ".join(f"{k} {v[0] / MB:.0f}/{v[1] / MB:.0f}" for k, v in measured_stages.items()
                                  if isinstance(v, tuple))
                counts = ", ".join(f"{k} {v}" for k, v in measured_stages.items() if not isinstance(v, tuple))
                print(f"{'':>10} stages (kept/peak MB): {parts}; {counts}", flush=True)
                print(f"{'':>10} estimate: {estimate.describe()}", flush=True)
    print(f"estimate: femopt.solvers.memory.estimate_for_grid(grid, solver); measured: peak RSS after "
          f"{args.iterations} iterations of scripts/bench.py's problem, density filter, fresh process")


if __name__ == "__main__":
    main()
