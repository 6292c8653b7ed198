"""What a study needs around Dask: a scheduler address checked with a timeout, local
workers that leave Ctrl-C to the study, signals turned into one exception, and scripts
that call a study without ``if __name__ == "__main__":``.

- :func:`check_scheduler`: distributed's handshake has no timeout of its own, so an
  address where something else listens (or nothing answers) would hang for minutes.
- :func:`starting_local_workers`: a Ctrl-C while the local cluster starts waits until
  it exists and can be shut down; :func:`dask_setup` (the local workers' preload): a
  terminal's Ctrl-C reaches every process of its group, and the workers leave it to the
  study's process, which shuts them down in order.
- :func:`signals_raise`: SIGINT and SIGTERM raise KeyboardInterrupt in the study's main
  thread and say which signal it was.
- :func:`refuse_unguarded_call`: Dask starts its local workers with ``spawn``, which
  imports the user's script again in every worker; a call at the script's top level then
  runs once more there.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from femopt.errors import FemoptError
from femopt.signals import handling_signals

GUARD = 'if __name__ == "__main__":'


def check_scheduler(address: str, timeout: float) -> None:
    """Raise a FemoptError (``--scheduler: ...``) unless a Dask scheduler answers at
    ``address`` within ``timeout`` seconds."""
    # Imported here, not at the top: distributed takes seconds to import, and only --scheduler needs it.
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, location = parse_address(address)
        if scheme not in backends:
            raise ValueError(f"unknown protocol {scheme!r} (expected tcp://HOST:PORT)")
        if scheme in ("tcp", "tls"):  # a refused or unreachable port, in words the user knows
            socket.create_connection(parse_host_port(location), timeout=timeout).close()
    except (OSError, ValueError, TypeError) as exc:
        raise FemoptError(f"--scheduler: cannot connect to {address}: {exc}") from None

    async def identity():
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    # In a thread of its own: the caller may be inside a running event loop (Jupyter).
    with ThreadPoolExecutor(1) as pool:
        try:
            reply = pool.submit(asyncio.run, asyncio.wait_for(identity(), timeout)).result()
        except (TimeoutError, asyncio.TimeoutError):
            reason = f"nothing came back within {timeout:g} s"
        except Exception as exc:  # garbage: a wrong frame length (MemoryError), a closed stream ...
            reason = f"it sent something else ({type(exc).__name__})"
        else:
            kind = reply.get("type") if isinstance(reply, dict) else None
            if kind == "Scheduler":
                return
            reason = f"a Dask {kind} listens there" if isinstance(kind, str) else "it sent something else"
    raise FemoptError(f"--scheduler: {address} did not answer as a Dask scheduler: {reason}")


@contextmanager
def starting_local_workers():
    """Start local workers inside this.

    SIGINT is blocked in the calling (main) thread meanwhile, so that a Ctrl-C cannot
    leave a half-started cluster nobody closes: it is delivered when the block ends, the
    cluster in hand. (Child processes do not inherit the block: subprocess clears it.) A
    failure to start, after a worker found the main script calling the study unguarded
    (:func:`refuse_unguarded_call`), becomes a FemoptError saying what to add.
    """
    mark = _mark(os.getpid())
    mark.unlink(missing_ok=True)  # a mark of an earlier process with this PID
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if main_thread else None
    try:
        yield
    except Exception:
        if not mark.exists():
            raise
        mark.unlink(missing_ok=True)
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        script = f"the script {Path(main).name}" if main else "the main script"
        raise FemoptError(f"femopt.study: {script} calls it while Dask's worker processes import it; "
                          f"put the call under `{GUARD}`") from None
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def dask_setup(worker) -> None:
    """Run by each local worker as it starts (``LocalCluster(preload=[this module])``):
    SIGINT ignored, so that a Ctrl-C at the terminal does not stop the worker under its
    nanny's feet while the study shuts the cluster down (logging errors about it)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def signals_raise(received: list[int]):
    """While inside, SIGINT and SIGTERM append their number to ``received`` and raise
    KeyboardInterrupt (in the main thread; elsewhere signals cannot be handled); the old
    handlers come back after."""

    def handler(number, frame):
        received.append(number)
        raise KeyboardInterrupt

    return handling_signals(handler)


def refuse_unguarded_call() -> None:
    """In a process that multiprocessing is starting and that is importing the main
    script (the script calls the study at its top level): leave a mark for the parent
    (:func:`starting_local_workers`) and exit quietly, before a second study starts."""
    if not _importing_main_script():
        return
    try:
        _mark(os.getppid()).touch()  # the process starting the workers
    except OSError:
        pass
    os._exit(3)  # nothing of the half-imported script may run on (no atexit, no flush)


def _importing_main_script() -> bool:
    """Whether the call comes from the top level of the main script being imported by
    multiprocessing (as ``__mp_main__``, while the process is being prepared: before
    that import returns, multiprocessing.parent_process() is still None)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _mark(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"femopt-unguarded-study-{pid}"
