"""Running a study on Dask: :func:`run_study` and its :class:`StudyResult`.

The cases that have no complete result yet (:mod:`femopt.study.state`) are submitted
as Dask futures of :func:`femopt.study.case.run_case`, on a ``distributed.LocalCluster``
(one single-threaded worker process per case that fits in cores and memory) or on the
workers of an existing scheduler; results are taken as they complete
(``distributed.as_completed``). Dask does the scheduling, the retries after a dead worker
and the bookkeeping of running tasks; this module only records what comes back.

The study's folder is an :class:`~femopt.output.folder.OutputFolder` entered for the
whole study (preflight, refusal of foreign files, lock) whose own files are the state
and the report; each case publishes its own run folder below it, ``cases/<case>/``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from femopt.build import memory_estimate
from femopt.config import ProblemConfig, parse_config
from femopt.errors import FemoptError
from femopt.output.folder import OutputFolder, check_name_lengths
from femopt.study import cluster
from femopt.solvers import memory
from femopt.study.case import run_case
from femopt.study.records import CaseRecord
from femopt.study.report import write_study_outputs
from femopt.study.spec import Case, StudySpec
from femopt.study.state import FOLDER_FILES, SUMMARY_KEY, StudyState, case_hash, failed_record

# A worker that dies running a case is replaced, and the case is tried once more (a
# neighbour may have caused the out-of-memory kill); a second death records the failure.
ALLOWED_FAILURES = 1
# How long a study on a scheduler waits for its first worker before it gives up (seconds).
WORKER_WAIT = 60.0
# How long a study waits for the answer of the scheduler at --scheduler (seconds).
CONNECT_TIMEOUT = 5.0


class StudyInterrupted(FemoptError):
    """The study was stopped by a signal (``signal``: its number) and its workers shut
    down; the finished cases are kept, and running the study again goes on. Exit code
    128 + signal, the shell's convention (130 for Ctrl-C)."""

    def __init__(self, signal: int):
        super().__init__("interrupted; finished cases are kept")
        self.signal = signal
        self.exit_code = 128 + signal


@dataclass(frozen=True)
class Progress:
    """Where a study stands after a case finished: counts of this run's cases, seconds
    since the first was submitted and the estimated seconds left (None before any
    finished)."""

    done: int
    failed: int
    running: int
    queued: int
    elapsed: float
    eta: float | None


@dataclass
class StudyResult:
    """The outcome of a study: one record per case, in the study's order.

    ran: names of the cases run this time (the others had results already, or recorded
    failures that were not retried); outputs: the files of the study's report; notes:
    what the study changed of what it was asked (e.g. fewer workers).
    """

    spec: StudySpec
    outdir: Path
    records: list[CaseRecord]
    ran: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseRecord]:
        """The records of the failed cases."""
        return [r for r in self.records if r.failed]

    def to_pandas(self):
        """The records as a pandas DataFrame, one row per case, the varied paths as
        columns (needs pandas)."""
        import pandas as pd  # optional (the test extra), so imported only here

        return pd.DataFrame([{"name": r.name, **r.parameters, "objective": r.objective, "volume": r.volume,
                              "iterations": r.iterations, "status": r.status, "wall_time": r.wall_time,
                              "error": r.error, "outdir": str(r.outdir)} for r in self.records])


def case_config(spec: StudySpec, case: Case) -> ProblemConfig:
    """The validated problem of ``case`` (named in messages as the study's case)."""
    return parse_config(case.problem, source=case_source(spec, case))


def case_source(spec: StudySpec, case: Case) -> str:
    return f"{spec.source}: case {case.name}"


def memory_estimates(spec: StudySpec) -> dict[str, object]:
    """Case name → its :class:`femopt.solvers.memory.MemoryEstimate`."""
    return {case.name: memory_estimate(case_config(spec, case)) for case in spec.cases}


def local_workers(spec: StudySpec, cases: list[Case] | None = None) -> int:
    """How many local workers to start: one per core, no more than the cases, and no
    more than the largest case's memory estimate fits into the memory available."""
    return worker_count(spec, spec.cases if cases is None else cases)[0]


def worker_count(spec: StudySpec, cases: list[Case], requested: int | None = None) -> tuple[int, str | None]:
    """(local workers to start for ``cases``, a note when fewer than ``requested``): the
    requested number (default: one per core), no more than the cases, the cores, and what
    the largest case's memory estimate fits into the memory available (at least one:
    femopt.run then says whether that one fits)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    peak = max(memory_estimate(case_config(spec, case)).total_bytes for case in cases)
    fit = max(1, int(memory.available_bytes() // peak)) if peak > 0 else cores
    wanted = min(cores if requested is None else requested, len(cases))
    n = max(1, min(wanted, cores, fit))
    if requested is None or n == wanted:
        return n, None
    reason = (f"the memory available fits {n} case{'s' if n != 1 else ''} at a time" if fit < cores
              else f"the machine has {cores} core{'s' if cores != 1 else ''}")
    return n, f"--workers {requested} lowered to {n}: {reason}"


def run_study(spec: StudySpec, outdir: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, retry_failed: bool = False,
              on_start: Callable[[list[Case], int, str], None] | None = None,
              on_case: Callable[[CaseRecord, Progress], None] | None = None,
              on_note: Callable[[str], None] | None = None) -> StudyResult:
    """Run the cases of ``spec`` that have no complete result in ``outdir`` yet (and its
    recorded failures when ``retry_failed``), then write the report
    (:func:`femopt.study.report.write_study_outputs`).

    outdir is checked and locked first, like femopt.run's (:class:`OutputFolder`: created,
    proven writable, not the current folder nor a mount point, holding femopt's study
    files only), and stays locked until the report is written: a second study into it
    fails at once. workers: local worker processes (default: :func:`local_workers`; more
    than the cores or the memory allow are lowered, with a note); scheduler: the address
    of a Dask scheduler to use instead (``tcp://host:8786``). on_start(cases to run,
    workers, where) before the first is submitted; on_case(record, progress) after each
    finished case, in the order they finish; on_note(text) for each note. SIGINT/SIGTERM
    shut the workers down and raise :class:`StudyInterrupted`; finished cases are kept.
    """
    cluster.refuse_unguarded_call()  # in a worker importing the caller's script: exit quietly
    if workers is not None and scheduler is not None:
        raise FemoptError("--workers: the scheduler's workers run the cases; give one of --workers, --scheduler")
    if workers is not None and workers < 1:
        raise FemoptError(f"--workers: expected at least 1, got {workers}")
    outdir = Path(outdir)
    check_name_lengths(outdir)
    received: list[int] = []
    try:
        with cluster.signals_raise(received), OutputFolder(outdir, allowed=FOLDER_FILES):
            return _run_locked(spec, outdir, workers, scheduler, retry_failed, on_start, on_case, on_note)
    except KeyboardInterrupt:
        raise StudyInterrupted(received[0] if received else signal.SIGINT) from None


def _run_locked(spec, outdir, workers, scheduler, retry_failed, on_start, on_case, on_note) -> StudyResult:
    """:func:`run_study` once ``outdir`` is checked and locked."""
    state = StudyState(outdir)
    hashes = {case.name: case_hash(case, case_config(spec, case)) for case in spec.cases}
    records: dict[str, CaseRecord] = {}
    todo = []
    for case in spec.cases:
        earlier = state.finished(case, hashes[case.name]) or (
            None if retry_failed else state.failure(case, hashes[case.name]))
        if earlier is not None:
            records[case.name] = earlier
        else:
            todo.append(case)

    notes = []
    if todo:
        if scheduler is None:
            workers, note = worker_count(spec, todo, workers)
            if note is not None:
                notes.append(note)
                if on_note is not None:
                    on_note(note)
        with _client(scheduler, workers) as (client, n, where):
            if on_start is not None:
                on_start(todo, n, where)
            for record, details, progress in _run(client, spec, todo, state, hashes, n):
                state.record(record, hashes[record.name], details)
                records[record.name] = record
                if on_case is not None:
                    on_case(record, progress)
    ordered = [records[case.name] for case in spec.cases]
    outputs = write_study_outputs(outdir, spec, ordered)
    return StudyResult(spec, outdir, ordered, [case.name for case in todo], outputs, notes)


def _run(client, spec: StudySpec, todo: list[Case], state: StudyState, hashes: dict, n_workers: int):
    """Submit ``todo`` and yield (record, details, progress) as each completes."""
    from distributed import as_completed  # here, not at the top: distributed takes seconds to import

    token = uuid.uuid4().hex[:8]  # a fresh key each run: a scheduler may remember old ones
    started = time.perf_counter()
    futures = {}
    for case in todo:
        folder = state.case_folder(case)
        folder.parent.mkdir(parents=True, exist_ok=True)
        summary = {SUMMARY_KEY: {"name": spec.name, "case": case.name, "hash": hashes[case.name],
                                 "parameters": case.values}}
        future = client.submit(run_case, case.problem, case_source(spec, case), str(folder.resolve()),
                               summary, key=f"femopt-case-{case.name}-{token}", pure=False)
        futures[future] = case
    done = failed = 0
    for future in as_completed(futures):
        case = futures[future]
        record, details = _record(future, case, state.case_folder(case))
        done += 1
        failed += record.failed
        left = len(todo) - done
        elapsed = time.perf_counter() - started
        running = min(left, n_workers)
        yield record, details, Progress(done, failed, running, left - running, elapsed,
                                        elapsed / done * left)


def _record(future, case: Case, folder: Path) -> tuple[CaseRecord, str | None]:
    """The record of a finished future, and the details of its failure."""
    from distributed import KilledWorker  # here, not at the top: see _run

    if future.status == "finished":
        out = future.result()
        if out["status"] == "failed":
            return failed_record(case, out["error"], folder, out["wall_time"]), out["details"]
        return CaseRecord(case.name, dict(case.values), out["objective"], out["volume"], out["iterations"],
                          out["status"], out["wall_time"], None, folder), None
    try:
        exc = future.exception()
    except Exception as lost:  # cancelled: the scheduler went away
        exc = lost
    if isinstance(exc, KilledWorker):
        error = "the worker running it died (killed by the operating system? out of memory?)"
    else:
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return failed_record(case, error, folder), repr(exc)


@contextmanager
def _client(scheduler: str | None, workers: int | None):
    """(a distributed.Client, its number of workers, a description) on the scheduler at
    ``scheduler``, or on a new LocalCluster of ``workers`` single-threaded processes."""
    # Here, not at the top: dask and distributed take seconds to import, which only a
    # study that runs cases pays (femopt study --dry-run, memory estimates do not).
    import dask
    from distributed import Client, LocalCluster

    quiet = logging.ERROR
    if scheduler is not None:
        cluster.check_scheduler(scheduler, CONNECT_TIMEOUT)  # else a silent port hangs Client()
        try:
            client = Client(scheduler, timeout=f"{max(CONNECT_TIMEOUT, 10.0)}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise FemoptError(f"--scheduler: cannot connect to {scheduler}: {' '.join(str(exc).split())}") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT)
            except TimeoutError:
                raise FemoptError(f"--scheduler: no worker joined {scheduler} within {WORKER_WAIT:g} s; "
                                  f"start some with `dask worker {scheduler}`") from None
            yield client, len(client.scheduler_info().get("workers", {})), f"the scheduler at {scheduler}"
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "logging.distributed": "error"}):
        # No dashboard; the scheduler's HTTP server (health routes) starts all the same, on
        # 8787 by default: a free port instead, so that a second study does not warn.
        with ExitStack() as stack:
            stack.callback(logging.disable, logging.root.manager.disable)  # last: see below
            with cluster.starting_local_workers():  # a Ctrl-C waits until the cluster can be closed
                local = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, silence_logs=quiet,
                    dashboard_address=None, preload=[cluster.__name__],  # workers ignore Ctrl-C
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(local))
            try:
                yield client, workers, f"{workers} local worker{'s' if workers != 1 else ''}"
            except KeyboardInterrupt:
                # Closing a cluster in the middle of its tasks logs errors (cancelled
                # calls, workers gone) that say nothing to the user: silence until closed.
                logging.disable(logging.CRITICAL)
                raise
