"""Time the optimization loop per phase on MBB beams and print the figures.

    python scripts/bench.py                      # 300×100 and 600×200, CHOLMOD, 5 iterations
    python scripts/bench.py --sizes 60x20 --solver superlu --iterations 3

For each case it prints seconds per iteration for every phase and the ratio of
the whole iteration to (numeric factorization + solve): the overhead femopt
adds around the linear algebra. Target: ratio ≤ 1.15 with CHOLMOD at 600×200.
"""

from __future__ import annotations

import argparse
import resource
import time

from femopt.config import parse_config
from femopt.problem import build_problem
from femopt.solvers import make_solver
from femopt.topopt import PHASES, optimize


def mbb_config(nx: int, ny: int, filter_type: str, iterations: int):
    """The 88-line code's half MBB beam on nx × ny unit elements, filter radius scaled from 1.5 at 60×20."""
    return parse_config({
        "problem": f"mbb-{nx}x{ny}",
        "mesh": {"grid": [nx, ny]},
        "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": nx, "y": 0}, "fix": ["y"]}],
        "loads": [{"at": {"x": 0, "y": ny}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "filter": {"type": filter_type, "radius": 1.5 * nx / 60}},
        "optimizer": {"type": "oc", "max_iterations": iterations, "tolerance": 1e-9},
    }, source="bench")


def run_case(nx: int, ny: int, solver_name: str, filter_type: str, iterations: int) -> dict:
    config = mbb_config(nx, ny, filter_type, iterations)
    start = time.perf_counter()
    problem = build_problem(config)
    solver = make_solver(solver_name)
    result = optimize(problem, config.design, config.optimizer, solver)
    # The one-time symbolic analysis is setup, not part of an iteration.
    loop_phases = [p for p in PHASES if p != "analysis"]
    per_iteration = {phase: result.timings[phase] / result.iterations for phase in loop_phases}
    total = sum(per_iteration.values())
    return {
        "case": f"{nx}x{ny}", "solver": solver.name, "filter": filter_type,
        "setup_s": time.perf_counter() - start - result.wall_time + result.timings["analysis"],
        "per_iteration": per_iteration, "iteration_s": total,
        "ratio": total / (per_iteration["factorization"] + per_iteration["solve"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300x100,600x200", help="comma-separated NXxNY grids")
    parser.add_argument("--solver", default="cholmod", choices=["auto", "cholmod", "superlu"])
    parser.add_argument("--filter", default="density", choices=["density", "sensitivity"])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()

    loop_phases = [p for p in PHASES if p != "analysis"]
    header = f"{'case':>9} {'solver':>8} " + " ".join(f"{p[:8]:>8}" for p in loop_phases)
    print(f"seconds per iteration ({args.iterations} iterations, {args.filter} filter)")
    print(header + f" {'total':>8} {'ratio':>6} {'setup':>7} {'peakMB':>7}")
    for size in args.sizes.split(","):
        nx, ny = (int(v) for v in size.lower().split("x"))
        r = run_case(nx, ny, args.solver, args.filter, args.iterations)
        phases = " ".join(f"{r['per_iteration'][p]:8.4f}" for p in loop_phases)
        print(f"{r['case']:>9} {r['solver']:>8} {phases} {r['iteration_s']:8.4f} "
              f"{r['ratio']:6.3f} {r['setup_s']:7.2f} {r['peak_rss_mb']:7.0f}")
    print("ratio = whole iteration / (factorization + solve)")


if __name__ == "__main__":
    main()
