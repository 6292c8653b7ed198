"""One row of a study's table: :class:`CaseRecord`, what a finished (or failed) case left.

This is the interface between the study runner (:mod:`femopt.study.runner`), which makes
the records, and the report (:mod:`femopt.study.report`), which turns them into tables
and plots. Neither knows how the other works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The statuses a record can have: those of femopt.loop.driver.Result, and "failed" for a case
# that raised (its message is in ``error``).
STATUSES = ("converged", "iteration_limit", "stopped", "failed")


@dataclass(frozen=True)
class CaseRecord:
    """The outcome of one case of a study.

    name: the case's name, also its folder's name under OUTDIR/cases/.
    parameters: dotted path → value, the values this case sets (in the study's
        ``varied`` order).
    objective, volume, iterations, wall_time: those of the run's result; None when it
        failed.
    status: "converged", "iteration_limit", "stopped" or "failed".
    error: the one-line error of a failed case, else None.
    outdir: the case's result folder (density.png, summary.json, ...); a failed case's
        folder holds error.txt only.
    """

    name: str
    parameters: dict[str, object]
    objective: float | None
    volume: float | None
    iterations: int | None
    status: str
    wall_time: float | None
    error: str | None
    outdir: Path

    @property
    def failed(self) -> bool:
        """True for a case that raised instead of producing a result."""
        return self.status == "failed"
