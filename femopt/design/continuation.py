"""Continuation: parameters (projection sharpness β, penalty) raised in stages during a run.

A :class:`Schedule` holds a parameter at ``start`` and raises it by
``× factor`` (or ``+ step``) after ``every`` iterations — or sooner, as soon as the
design has converged at the current value — until it reaches ``end``. A plain
number is a constant. The run may only stop on convergence once every schedule
has reached its end value (:attr:`Continuation.finished`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """A continuation parameter: ``start``, raised ``× factor`` (or ``+ step``) after ``every``
    iterations — or as soon as the design converges — until it reaches ``end``.
    Exactly one of factor and step is set."""

    start: float
    end: float
    every: int = 50
    factor: float | None = None
    step: float | None = None


def schedule_value(schedule: Schedule | float, stage: int) -> float:
    """The value of ``schedule`` (a Schedule or a number) after ``stage`` raises."""
    if not isinstance(schedule, Schedule):
        return float(schedule)
    if schedule.factor is not None:
        value = schedule.start * schedule.factor**stage
    else:
        value = schedule.start + schedule.step * stage
    return min(value, schedule.end)


def schedule_end(schedule: Schedule | float) -> float:
    return schedule.end if isinstance(schedule, Schedule) else float(schedule)


class Continuation:
    """The current values of named schedules, advanced once per iteration.

    schedules: name -> Schedule or constant, e.g. ``{"beta": Schedule(1, 32, 40, factor=2)}``.
    ``STATE``: what changes as it advances (checkpoints save it).
    """

    STATE = ("stage", "iterations_in_stage")

    def __init__(self, schedules: dict):
        self.schedules = dict(schedules)
        self.stage = {name: 0 for name in self.schedules}
        self.iterations_in_stage = {name: 0 for name in self.schedules}

    @property
    def values(self) -> dict[str, float]:
        return {name: schedule_value(s, self.stage[name]) for name, s in self.schedules.items()}

    @property
    def finished(self) -> bool:
        """True when every parameter is at its end value."""
        return all(self._done(name) for name in self.schedules)

    def advance(self, converged: bool) -> bool:
        """Count one iteration; raise each unfinished parameter whose stage is over
        (``every`` iterations, or ``converged``). Returns True when a value changed."""
        changed = False
        for name, schedule in self.schedules.items():
            if self._done(name):
                continue
            self.iterations_in_stage[name] += 1
            if converged or self.iterations_in_stage[name] >= schedule.every:
                self.stage[name] += 1
                self.iterations_in_stage[name] = 0
                changed = True
        return changed

    def _done(self, name: str) -> bool:
        schedule = self.schedules[name]
        return schedule_value(schedule, self.stage[name]) >= schedule_end(schedule)
