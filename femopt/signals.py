"""Ctrl-C and SIGTERM handled for a block: ``with handling_signals(handler): ...``."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def handling_signals(handler):
    """While inside, SIGINT and SIGTERM call ``handler(number, frame)``; the old handlers
    come back after. Outside the main thread nothing changes: Python sets handlers only there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in HANDLED}
    for number in HANDLED:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
