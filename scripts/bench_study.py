"""Time a study on Dask workers against the same cases run one after another.

    python scripts/bench_study.py                                   # configs/studies/mbb_tradeoff.yaml, 2 workers
    python scripts/bench_study.py configs/studies/mbb_refinement.yaml --workers 2
    python scripts/bench_study.py --keep out/bench-tradeoff       # keep the parallel run's outputs

sequential: ``femopt.run`` of each case's merged problem in this process, one after
another, each writing its result folder (as a study's case does); the study's report
is not written, which favours this side. parallel: ``femopt.study`` with ``--workers``
local worker processes into a fresh folder, everything included: starting the Dask
cluster, the workers' imports, the cases, the report (study.csv, study.png,
montage.png, study.json) and closing the cluster.

Prints both wall times, the sum of the cases' own times on each side (when the cases
take longer on the workers than in this process, something else had the cores),
their ratio (parallel / sequential; target for the tradeoff study on 2 cores: < 0.65)
and the load average before and after, since a busy machine distorts both figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import femopt  # noqa: E402
from femopt.study.spec import load_study  # noqa: E402

TARGET = 0.65


def run_sequential(spec, folder: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of running every case with femopt.run into folder/<case>, one after
    another, and each case's own seconds."""
    per_case = {}
    started = time.perf_counter()
    for case in spec.cases:
        t0 = time.perf_counter()
        femopt.run(case.problem, folder / case.name)
        per_case[case.name] = time.perf_counter() - t0
    return time.perf_counter() - started, per_case


def run_parallel(path: Path, folder: Path, workers: int):
    """Wall seconds of femopt.study(path, folder, workers=workers), and its result."""
    started = time.perf_counter()
    result = femopt.study(path, folder, workers=workers)
    return time.perf_counter() - started, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", default=str(ROOT / "configs/studies/mbb_tradeoff.yaml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="run the parallel side into DIR (which must not exist) and keep it")
    args = parser.parse_args(argv)
    path = Path(args.study)
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep: {args.keep} exists; the parallel run needs a fresh folder")
    spec = load_study(path)
    print(f"{spec.name}: {len(spec.cases)} cases, {os.cpu_count()} cores, "
          f"load average before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-study-") as scratch:
        scratch = Path(scratch)
        sequential, per_case = run_sequential(spec, scratch / "sequential")
        for name, seconds in per_case.items():
            print(f"  {name:40s} {seconds:6.2f} s")
        parallel, result = run_parallel(path, args.keep or scratch / "parallel", args.workers)
    ratio = parallel / sequential
    print(f"sequential (femopt.run, one after another): {sequential:7.2f} s "
          f"(cases alone {sum(per_case.values()):.2f} s)")
    print(f"parallel (femopt.study, {args.workers} workers):        {parallel:7.2f} s "
          f"(cases alone {sum(r.wall_time or 0.0 for r in result.records):.2f} s; "
          f"{len(result.records)} cases, {len(result.failed)} failed)")
    print(f"ratio parallel/sequential: {ratio:.3f} (target < {TARGET}: "
          f"{'met' if ratio < TARGET else 'NOT met'}); load average after {os.getloadavg()[0]:.2f}")
    return 0 if not result.failed else 1


if __name__ == "__main__":
    sys.exit(main())
