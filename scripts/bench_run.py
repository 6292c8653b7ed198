"""Time ``femopt run`` end to end on a large 3D cantilever: from the problem file to every
output file, in a fresh process, and print the figures (issue 21's targets).

    python scripts/bench_run.py                          # 100×100×100 H8 (10⁶), mg, 3 iterations
    python scripts/bench_run.py --grid 200x200x250       # 10⁷ H8: NOT for CI (minutes, ~11 GB)

The problem is scripts/bench.py's cantilever (x = 0 clamped, a unit downward force along
the free end's bottom edge, volume fraction 0.3, density filter of radius 1.5 elements)
written to a problem file; ``femopt run --solver mg`` runs it into a temporary folder.
Printed: the setup phases as femopt reports them, seconds of each iteration (from
history.csv), the mean of iterations 2 and 3 (the issue's measure), the whole run's wall
time, the peak memory of the femopt process (its own maximum RSS, from wait4), the files
written and their sizes, the load average before and after (figures measured under load
are upper bounds), and the compliance after the last iteration.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def problem(nx: int, ny: int, nz: int, iterations: int) -> dict:
    return {
        "problem": f"cantilever-{nx}x{ny}x{nz}",
        "mesh": {"grid": [nx, ny, nz]},
        "supports": [{"at": {"x": 0}, "fix": "all"}],
        "loads": [{"at": {"x": nx, "y": 0}, "force": [0.0, -1.0, 0.0]}],
        "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5}},
        "optimizer": {"type": "oc", "max_iterations": iterations, "tolerance": 1e-9},
        "solver": "mg",
        "checkpoint": {"every": 1000, "seconds": 1.0e6},   # the final checkpoint only
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", default="100x100x100", help="NXxNYxNZ elements (default 100x100x100)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--force", action="store_true", help="pass --force (run beyond the memory estimate)")
    args = parser.parse_args()
    nx, ny, nz = (int(n) for n in args.grid.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="femopt-bench-run-") as folder:
        config, out = Path(folder) / "problem.yaml", Path(folder) / "out"
        config.write_text(yaml.safe_dump(problem(nx, ny, nz, args.iterations)))
        command = [sys.executable, "-m", "femopt", "run", str(config), "-o", str(out), *(["--force"] * args.force)]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in process.stdout:   # femopt's own progress, as it comes
            print("  | " + line, end="", flush=True)
            lines.append(line)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"femopt run exited with {code}")
        with open(out / "history.csv") as f:
            seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
        summary = json.loads((out / "summary.json").read_text())
        files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    n = nx * ny * nz
    print(f"\n{nx}×{ny}×{nz} = {n:,} H8 elements, solver mg, {len(seconds)} iterations")
    print("seconds per iteration: " + ", ".join(f"{s:.2f}" for s in seconds))
    if len(seconds) >= 3:
        print(f"mean of iterations 2-3: {(seconds[1] + seconds[2]) / 2:.2f} s")
    print(f"whole run (problem file to every output file): {wall:.1f} s")
    print(f"peak memory of the femopt process: {usage.ru_maxrss / 1024**2:.2f} GB")
    print("files: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in files.items()))
    print("seconds per iteration by phase: " + ", ".join(
        f"{phase} {total / len(seconds):.2f}" for phase, total in summary["timings_s"].items()))
    print(f"compliance after the last iteration: {summary['objective']:.6g}")
    print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
