"""Checkpoints: the state of an optimization between two iterations, on disk.

A checkpoint holds everything the loop needs to go on as if it had never
stopped: the design variables, the iteration count and history, the optimizer's
state (MMA's past designs and asymptotes, L-BFGS's multipliers and penalty; OC
has none), the continuation stages, the solver's warm start (iterative solvers),
the evaluator's state (the robust formulation's scale and volume limit), the
seconds spent, and a fingerprint of the problem so that a changed problem file is
not resumed by mistake. With a direct solver a resumed run repeats the
uninterrupted one to round-off; iterative solvers to their tolerance.

``checkpoint.npz`` (numpy's zip of arrays, no pickles) keeps arrays under their
names — ``x``, ``optimizer.low``, … — and everything else as one JSON document
under ``meta``. It is written to a temporary name and renamed into place, so a
crash leaves the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from femopt import __version__
from femopt.errors import FemoptError
from femopt.output.atomic import write_atomically
from femopt.loop.driver import IterationRecord, LoopState, Result, resumed_result
from femopt.output.files import CHECKPOINT

FILENAME = CHECKPOINT  # in the output folder (femopt.output.files)
FORMAT = 1


class CheckpointError(FemoptError):
    """A checkpoint is missing, unreadable, or belongs to another problem."""


class Interrupted(FemoptError):
    """The run was stopped by a signal after writing a checkpoint (``signal`` is its number)."""

    def __init__(self, message: str, signal: int):
        super().__init__(message)
        self.signal = signal


def save(path, state: LoopState, fingerprint: str) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    arrays, meta = {"x": np.asarray(state.x, float)}, {
        "format": FORMAT, "femopt_version": __version__, "fingerprint": fingerprint,
        "iteration": state.iteration, "history": state.history, "continuation": state.continuation,
        "elapsed": state.elapsed, "timings": state.timings}
    parts = {part: getattr(state, part) for part in ("optimizer", "solver", "evaluator")}
    if state.result is not None:  # an ended run: its result, bit for bit
        parts["result"] = _result_entries(state.result)
    for part, entries in parts.items():
        meta[part] = {}
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                arrays[f"{part}.{name}"] = value
                meta[part][name] = {"array": f"{part}.{name}"}
            else:
                meta[part][name] = {"value": _plain(value)}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)

    write_atomically(path, write)


def load(path, fingerprint: str, max_iterations: int | None = None) -> LoopState:
    """The LoopState saved at ``path``; CheckpointError when it is missing, unreadable, was
    written for a problem with another fingerprint, or (given ``max_iterations``) cannot
    give the result of a run with that iteration limit (:func:`femopt.loop.driver.resumed_result`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from (run without --resume to start)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not {FORMAT}")
        if meta["fingerprint"] != fingerprint:
            raise CheckpointError(f"{path}: the checkpoint belongs to a different problem (the problem "
                                  "file changed since it was written); run without --resume to start over")
        parts = {part: {name: arrays[entry["array"]] if "array" in entry else entry["value"]
                        for name, entry in meta.get(part, {}).items()}
                 for part in ("optimizer", "solver", "evaluator", "result")}
        history = meta["history"]
        saved = parts.pop("result")
        result = _result(saved, history) if saved else None
        state = LoopState(iteration=meta["iteration"], x=arrays["x"], history=history,
                          continuation=meta["continuation"], elapsed=meta["elapsed"],
                          timings=meta["timings"], result=result, **parts)
    except CheckpointError:
        raise
    except Exception as exc:  # a truncated or foreign file fails in many ways (zip, numpy, JSON, keys)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise CheckpointError(f"{path}: unreadable checkpoint ({reason}); run without --resume "
                              "to start over") from None
    if max_iterations is not None:
        try:
            resumed_result(state, max_iterations)
        except ValueError:
            why = ("ends before it" if state.iteration > max_iterations else
                   "ends there, with a result this checkpoint does not hold")
            raise CheckpointError(
                f"{path}: the checkpoint is after iteration {state.iteration}, and an uninterrupted run "
                f"with the iteration limit {max_iterations} {why}; raise the limit "
                f"(--max-iterations) or run without --resume to start over") from None
    return state


def _result_entries(result: Result) -> dict:
    """The Result's fields for a checkpoint (its history is the state's own)."""
    entries = {name: getattr(result, name) for name in _RESULT_FIELDS}
    entries.update({f"fields.{name}": value for name, value in result.fields.items()})
    entries["warnings"] = list(result.warnings)
    return entries


def _result(entries: dict, history: list[dict]) -> Result:
    """The Result saved by :func:`_result_entries`."""
    fields = {name.removeprefix("fields."): entries.pop(name) for name in list(entries)
              if name.startswith("fields.")}
    return Result(**{name: entries[name] for name in _RESULT_FIELDS}, fields=fields,
                  warnings=tuple(entries["warnings"]),
                  history=[IterationRecord(**record) for record in history])


_RESULT_FIELDS = ("x", "rho", "u", "objective", "volume", "iterations", "status", "timings", "wall_time",
                  "solver", "factorizations", "parameters", "responses")


class Checkpointer:
    """Decides when the loop writes a checkpoint, and writes it.

    Every ``every`` iterations or ``seconds`` seconds, whichever comes first, and at
    once when a stop was requested (:meth:`request_stop`, from a signal handler):
    then :meth:`after_iteration` writes the checkpoint and raises :class:`Interrupted`.
    clock: () -> seconds (injected in tests).
    """

    def __init__(self, path, fingerprint: str, every: int = 10, seconds: float = 60.0,
                 clock=time.monotonic):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.every, self.seconds = every, seconds
        self.clock = clock
        self.stop_signal: int | None = None
        self.saved_iteration = None
        self._last_time = clock()

    def request_stop(self, signal: int) -> None:
        """Ask the loop to checkpoint and stop at the end of the current iteration."""
        self.stop_signal = signal

    def after_iteration(self, iteration: int, state: Callable[[], LoopState], final: bool = False) -> None:
        """Called by the loop after each iteration; ``state()`` gives the LoopState to save
        (always saved when ``final``)."""
        now = self.clock()
        due = iteration % self.every == 0 or now - self._last_time >= self.seconds
        if due or final or self.stop_signal is not None:
            save(self.path, state(), self.fingerprint)
            self.saved_iteration, self._last_time = iteration, now
        if self.stop_signal is not None:
            raise Interrupted(f"interrupted after iteration {iteration}; checkpoint written to "
                              f"{self.path}", self.stop_signal)


def _plain(value):
    """A JSON-able copy of numbers, None, and dicts of them (numpy scalars included)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot checkpoint a {type(value).__name__}")
