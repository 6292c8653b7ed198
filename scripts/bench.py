"""Time the optimization loop per phase on MBB beams (2D) and cantilevers (3D) and print the figures.

    python scripts/bench.py                      # 300×100 and 600×200, CHOLMOD, 5 iterations
    python scripts/bench.py --sizes 60x20 --solver superlu --iterations 3
    python scripts/bench.py --sizes 48x24x24 --solver cholmod,reuse,amg --iterations 100
    python scripts/bench.py --million            # 100×100×100 H8, mg, 5 iterations: NOT for CI
    python scripts/bench.py --million --solver amg --iterations 2   # the same with AMG-CG
                                                 # (peak 17.5 GB, ~140 s per iteration, ~6 min)
    python scripts/bench.py --sizes 64x32x32 --solver mg,cholmod --iterations 100
    python scripts/bench.py --sizes bracket3d    # the unstructured 3D bracket (57,172 T4, configs/bracket3d.yaml)
    python scripts/bench.py --sizes 600x200,configs/crank.yaml --iterations 10

For each case it prints seconds per iteration for every phase and the ratio of
the whole iteration to (numeric factorization + solve): the overhead femopt
adds around the linear algebra. Target: ratio ≤ 1.15 with CHOLMOD at 600×200.
It also prints the peak memory of the case (each runs in a fresh process), the
number of numeric factorizations (AMG setups for amg), the CG iterations of the
iterative solvers and the compliance after the last iteration; with several
solvers, each one's speed-up per iteration over cholmod (refactorizing every
iteration) and its final compliance relative to cholmod's. For mg it also prints, per
iteration: the coarse-operator build (the "factorization" phase: Galerkin element matrices,
diagonals, smoother bounds and the coarsest factor), CG iterations per solve, seconds per
CG iteration, and the total.

A 3D case NXxNYxNZ is a cantilever: the x = 0 face clamped, a unit downward force
spread along the free end's bottom edge, volume fraction 0.3, density filter of
radius 1.5 elements.

Any other case is a problem file read from a mesh file (unstructured: per-element
matrices, a filter over centroid distances), run as written except for the optimizer's
iteration count and tolerance and the solver; a bare name stands for configs/<name>.yaml
(``bracket3d``: the 3D engine-mount bracket, 57,172 tetrahedra, two load cases). Its
filter setting is the file's, so --filter does not apply to it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from pathlib import Path

import yaml

from femopt.build import build
from femopt.config import parse_config
from femopt.solvers import SOLVERS
from femopt.loop.driver import optimize
from femopt.loop.evaluator import PHASES


def mbb_config(nx: int, ny: int, filter_type: str, iterations: int, solver_name: str):
    """The 88-line code's half MBB beam on nx × ny unit elements, filter radius scaled from 1.5 at 60×20."""
    return parse_config({
        "problem": f"mbb-{nx}x{ny}",
        "mesh": {"grid": [nx, ny]},
        "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": nx, "y": 0}, "fix": ["y"]}],
        "loads": [{"at": {"x": 0, "y": ny}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "filter": {"type": filter_type, "radius": 1.5 * nx / 60}},
        "optimizer": {"type": "oc", "max_iterations": iterations, "tolerance": 1e-9},
        "solver": solver_name,
    }, source="bench")


def cantilever3d_config(nx: int, ny: int, nz: int, filter_type: str, iterations: int, solver_name: str):
    """A top3d-like cantilever on nx × ny × nz unit cubes (see the module docstring)."""
    return parse_config({
        "problem": f"cantilever-{nx}x{ny}x{nz}",
        "mesh": {"grid": [nx, ny, nz]},
        "supports": [{"at": {"x": 0}, "fix": "all"}],
        "loads": [{"at": {"x": nx, "y": 0}, "force": [0.0, -1.0, 0.0]}],
        "design": {"volume_fraction": 0.3, "filter": {"type": filter_type, "radius": 1.5}},
        "optimizer": {"type": "oc", "max_iterations": iterations, "tolerance": 1e-9},
        "solver": solver_name,
    }, source="bench")


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def file_config(path: str, iterations: int, solver_name: str):
    """The problem file ``path`` (or configs/<path>.yaml for a bare name), with the
    optimizer's iteration count and tolerance and the solver replaced."""
    file = Path(path) if path.endswith((".yaml", ".yml")) else CONFIGS / f"{path}.yaml"
    data = yaml.safe_load(file.read_text())
    data["optimizer"] = {**data.get("optimizer", {}), "max_iterations": iterations, "tolerance": 1e-9}
    data["solver"] = solver_name
    return parse_config(data, source=str(file))  # a relative mesh path reads from the file's folder


def parse_case(text: str):
    """'300x100' → (300, 100); anything else names a problem file (kept as a string)."""
    try:
        return tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        return text


def run_case(grid: tuple[int, ...] | str, solver_name: str, filter_type: str, iterations: int,
             rtol: float | None = None, options: dict | None = None) -> dict:
    # Solver options (--option) go to the solvers that take them.
    taken = {k: v for k, v in (options or {}).items() if k in SOLVERS[solver_name].options}
    solver_name = {"type": solver_name, **taken} if taken else solver_name
    if isinstance(grid, str):
        config = file_config(grid, iterations, solver_name)
        filter_type = config.design.filter.type
    else:
        config = (mbb_config(*grid, filter_type, iterations, solver_name) if len(grid) == 2
                  else cantilever3d_config(*grid, filter_type, iterations, solver_name))
    start = time.perf_counter()
    model = build(config, rtol=rtol)
    solver = model.solver
    result = optimize(model.evaluator(), model.optimizer, model.x0,
                      max_iterations=iterations, tolerance=config.optimizer.tolerance,
                      continuation=model.continuation())
    # The one-time symbolic analysis is setup, not part of an iteration.
    loop_phases = [p for p in PHASES if p != "analysis"]
    per_iteration = {phase: result.timings[phase] / result.iterations for phase in loop_phases}
    total = sum(per_iteration.values())
    cg_iterations = getattr(solver, "cg_iterations", getattr(solver, "total_iterations", None))
    case = Path(grid).stem if isinstance(grid, str) else "x".join(map(str, grid))
    return {
        "case": case, "solver": solver.name, "filter": filter_type, "elements": model.mesh.n_elements,
        # Everything outside the loop's phases: problem, assembler pattern, filter, analysis.
        "setup_s": time.perf_counter() - start - total * result.iterations,
        "per_iteration": per_iteration, "iteration_s": total,
        "ratio": total / (per_iteration["factorization"] + per_iteration["solve"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "factorizations": result.factorizations, "cg_iterations": cg_iterations,
        "iterations": result.iterations, "compliance": result.objective,
        "solves": getattr(solver, "n_solves", None),
    }


def run_isolated(*args) -> dict:
    """run_case in a fresh process, so that its peak memory is its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_case, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300x100,600x200",
                        help="comma-separated grids: NXxNY (2D MBB) or NXxNYxNZ (3D cantilever), "
                             "or problem files (bracket3d = configs/bracket3d.yaml)")
    parser.add_argument("--solver", default="cholmod",
                        help=f"comma-separated solvers among {', '.join(SOLVERS.names)}")
    parser.add_argument("--filter", default="density", choices=["density", "sensitivity"])
    parser.add_argument("--iterations", type=int, default=None, help="default 5 (2 with --million)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="CG tolerance of amg and reuse (default: each solver's own)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a solver option for the solvers that take it, e.g. operator=assembled "
                             "or levels=3 for mg (repeatable)")
    parser.add_argument("--million", action="store_true",
                        help="100x100x100 H8 elements with mg (not for CI: minutes, ~10 GB)")
    args = parser.parse_args()
    if args.million:
        args.sizes, args.solver = "100x100x100", args.solver if args.solver != "cholmod" else "mg"
    iterations = args.iterations or 5
    solver_names = args.solver.split(",")
    for name in solver_names:
        if name not in SOLVERS:
            parser.error(f"--solver: unknown solver {name!r}; choose among {', '.join(SOLVERS.names)}")

    options = dict(yaml.safe_load(f"{{{o.replace('=', ': ', 1)}}}").popitem() for o in args.option)
    loop_phases = [p for p in PHASES if p != "analysis"]
    header = f"{'case':>11} {'elements':>9} {'solver':>8} " + " ".join(f"{p[:8]:>8}" for p in loop_phases)
    print(f"seconds per iteration ({iterations} iterations, {args.filter} filter)")
    print(header + f" {'total':>8} {'ratio':>6} {'setup':>7} {'peakMB':>7} {'factor':>6} {'CG it':>6} "
          f"{'compliance':>12}", flush=True)
    rows = []
    for size in args.sizes.split(","):
        grid = parse_case(size)
        for name in solver_names:
            r = run_isolated(grid, name, args.filter, iterations, args.rtol, options)
            rows.append(r)
            phases = " ".join(f"{r['per_iteration'][p]:8.4f}" for p in loop_phases)
            cg = "-" if r["cg_iterations"] is None else str(r["cg_iterations"])
            print(f"{r['case']:>11} {r['elements']:9d} {r['solver']:>8} {phases} {r['iteration_s']:8.4f} "
                  f"{r['ratio']:6.3f} {r['setup_s']:7.2f} {r['peak_rss_mb']:7.0f} "
                  f"{r['factorizations']:6d} {cg:>6} {r['compliance']:12.6g}", flush=True)
    print("ratio = whole iteration / (factorization + solve); factor = numeric factorizations "
          "(AMG setups for amg, hierarchy updates for mg)")
    for r in rows:
        if r["solves"]:  # mg: the per-iteration figures of the issue
            per = r["per_iteration"]
            cg = r["cg_iterations"]
            print(f"{r['case']} mg per iteration: coarse operators {per['factorization']:.3f} s, "
                  f"{cg / r['solves']:.1f} CG iterations per solve, "
                  f"{per['solve'] * r['iterations'] / max(cg, 1):.4f} s per CG iteration, "
                  f"total {r['iteration_s']:.3f} s; peak {r['peak_rss_mb']:.0f} MB")
    for case in dict.fromkeys(r["case"] for r in rows):
        direct = [r for r in rows if r["case"] == case and r["solver"] == "cholmod"]
        if not direct:
            continue
        for r in rows:
            if r["case"] == case and r["solver"] != "cholmod":
                print(f"{case}: {r['solver']} is {direct[0]['iteration_s'] / r['iteration_s']:.2f}x "
                      f"cholmod's speed per iteration; final compliance "
                      f"{100 * (r['compliance'] / direct[0]['compliance'] - 1):+.3f} % vs cholmod")


if __name__ == "__main__":
    main()
