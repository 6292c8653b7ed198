"""Setup progress: which phase a run is in and how long each took, so that a large run
(10⁷ elements: minutes before the first iteration) never sits silent.

:class:`SetupProgress` times phases with an injectable clock and hands
``report(phase, seconds)`` each phase twice: on entry with seconds None, on exit with
the seconds it took. ``femopt run`` prints them; without ``report`` it does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

Report = Callable[[str, "float | None"], None]


class SetupProgress:
    """Times named phases. report: called (phase, None) on entry and (phase, seconds) on
    exit (not on an exception); clock: seconds, monotonic (tests inject their own)."""

    def __init__(self, report: Report | None = None, clock: Callable[[], float] = time.perf_counter):
        self.report, self.clock = report, clock

    @contextmanager
    def phase(self, name: str):
        if self.report is None:
            yield
            return
        self.report(name, None)
        start = self.clock()
        yield
        self.report(name, self.clock() - start)


SILENT = SetupProgress()
