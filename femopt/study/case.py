"""One case of a study, as a Dask worker runs it: :func:`run_case`.

It is femopt.run on the case's merged problem, into the case's result folder, with the
same crash-safety as ``femopt run``; it resumes from the folder's checkpoint when an
earlier attempt left one. It returns plain data (pickled back to the client) and turns
every exception into a failure, so that one bad case never stops the others.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from threadpoolctl import threadpool_limits

from femopt.api import run
from femopt.config import parse_config
from femopt.errors import FemoptError
from femopt.output.checkpoint import CheckpointError
from femopt.solvers.mg_kernels import limit_threads


def run_case(problem: dict, source: str, outdir: str, summary: dict) -> dict:
    """Run the problem ``problem`` (its YAML data; ``source`` names it in messages) into
    ``outdir``, with ``summary`` added to summary.json. Returns {"status", "objective",
    "volume", "iterations", "wall_time", "error", "details"}: status "failed" with a
    one-line error (and the traceback in details) when it raised."""
    started = time.perf_counter()
    try:
        config = parse_config(problem, source=source)
        checkpoint = Path(outdir) / "checkpoint.npz"
        # One BLAS thread and one thread for mg's kernels: N cases on N cores must not fight
        # over them (Dask workers outside a LocalCluster do not get the environment
        # variables that say so, and the kernels' threads are femopt's own).
        with threadpool_limits(limits=1), limit_threads(1):
            try:
                result = run(config, outdir, resume=checkpoint.is_file(), extra_summary=summary)
            except CheckpointError:
                if not checkpoint.is_file():
                    raise
                # A checkpoint of an earlier version of the problem: start over.
                result = run(config, outdir, extra_summary=summary)
    except FemoptError as exc:
        return _failure(" ".join(str(exc).split()), started)
    except Exception as exc:  # a bug or the machine (MemoryError): recorded, the study goes on
        return _failure(f"{type(exc).__name__}: {' '.join(str(exc).split())}", started,
                        traceback.format_exc())
    return {"status": result.status, "objective": float(result.objective), "volume": float(result.volume),
            "iterations": int(result.iterations), "wall_time": float(result.wall_time),
            "error": None, "details": None}


def _failure(error: str, started: float, details: str | None = None) -> dict:
    return {"status": "failed", "objective": None, "volume": None, "iterations": None,
            "wall_time": time.perf_counter() - started, "error": error, "details": details}
