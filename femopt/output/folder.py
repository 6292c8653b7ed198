"""The output folder of a run: checked and locked before the numerics, replaced as a whole.

For OUTDIR = PARENT/NAME (all of it on one filesystem, so every rename is atomic):

- ``PARENT/NAME/``: the published result, nothing but femopt's files, and the
  ``checkpoint.npz`` of the last run that wrote one (:attr:`OutputFolder.checkpoint`).
- ``PARENT/.NAME.femopt-lock``: exists while a run holds OUTDIR (``flock``, released by
  the kernel even if the process is killed); holds the holder's PID.
- ``PARENT/.NAME.femopt-staging-PID-*``: a result being written.
- ``PARENT/.NAME.femopt-previous``: the result being replaced, during the swap only.

:meth:`OutputFolder.publish` writes into a staging folder, links the checkpoint
into it, syncs it to disk, renames OUTDIR to ``-previous``, renames the staging
folder to OUTDIR and deletes ``-previous``. Whatever the moment of an interruption,
a complete result exists: the old one (in OUTDIR, or in ``-previous`` between the
two renames) or the new one. The next run, holding the lock, puts ``-previous``
back or deletes it and removes staging folders left behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

from femopt.errors import OutputError
from femopt.output.files import CHECKPOINT, TEMPORARY, femopt_file


T = TypeVar("T")


class OutputFolder:
    """``with OutputFolder(path, expected_bytes=n) as folder: ... folder.publish(write)``

    Nothing is touched until the ``with`` block is entered; entering it is the
    preflight: OUTDIR is resolved and created, proven writable, locked for this
    process, cleaned of what interrupted runs left, and checked to hold only femopt's
    files and to have ``expected_bytes`` free. Any failure is one :class:`OutputError`.
    Leaving the block releases the lock (also on exceptions); a folder this run
    created and left empty is removed.
    """

    def __init__(self, path, expected_bytes: int = 0):
        self.requested = os.fspath(path)
        self.expected_bytes = int(expected_bytes)
        self.path: Path | None = None  # resolved, on entering
        self._lock_fd: int | None = None
        self._created: list[Path] = []  # folders this run made, deepest first
        self._published = False

    @property
    def checkpoint(self) -> Path:
        """Where a run keeps its checkpoint: OUTDIR/checkpoint.npz. It stays there across
        interruptions (the next run reads it) and :meth:`publish` keeps it. Write it under
        a name starting with one of TEMPORARY, then os.replace it into place."""
        return self.path / CHECKPOINT

    def __enter__(self) -> OutputFolder:
        try:
            self._preflight()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._release()

    def publish(self, write: Callable[[Path], T]) -> T:
        """Call ``write(staging)`` to write the result files into a fresh staging folder,
        then make them OUTDIR in place of the previous result, keeping OUTDIR's
        checkpoint; returns what ``write`` returns. An OSError (disk full …) becomes an OutputError, with the previous
        result left in place."""
        if self._lock_fd is None:
            raise RuntimeError("OutputFolder.publish needs the folder entered: `with folder: ...`")
        try:
            staging = Path(tempfile.mkdtemp(prefix=f"{self._sibling('staging')}-{os.getpid()}-",
                                            dir=self.path.parent))
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create a staging folder beside it: {exc.strerror}") from exc
        try:
            value = write(staging)
            self._carry_checkpoint(staging)
            _sync_tree(staging)
            self._swap(staging)
            return value
        except OSError as exc:
            raise OutputError(f"{self.path}: writing the results failed ({exc.strerror or exc}); "
                              f"the previous result is unchanged") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # already gone after a swap

    def _carry_checkpoint(self, staging: Path) -> None:
        # A hard link: OUTDIR keeps its own name for the file until the swap.
        source = self.path / CHECKPOINT
        if source.exists():
            try:
                os.link(source, staging / CHECKPOINT)
            except OSError:  # a filesystem without hard links
                shutil.copyfile(source, staging / CHECKPOINT)

    def _swap(self, staging: Path) -> None:
        previous = self._sibling_path("previous")
        had_result = self.path.exists()
        if had_result:
            os.rename(self.path, previous)
        try:
            os.rename(staging, self.path)
        except BaseException:
            if had_result:
                os.rename(previous, self.path)
            raise
        self._published = True  # from here on nothing may claim the old result is still there
        try:
            _sync(self.path.parent)
        except OSError:
            pass
        if had_result:
            shutil.rmtree(previous, ignore_errors=True)  # what is left, the next run removes

    # -- preflight ---------------------------------------------------------------------------

    def _preflight(self) -> None:
        if not self.requested.strip():
            raise OutputError("the output folder is an empty path")
        try:
            path = self.path = Path(self.requested).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise OutputError(f"{self.requested}: cannot resolve the output folder: {exc}") from exc
        for folder in (path, *path.parents):  # the nearest existing one must be a folder
            if folder.exists():
                if not folder.is_dir():
                    where = "is" if folder == path else f"is under {folder}, which is"
                    raise OutputError(f"{path}: {where} not a folder")
                break
        if os.path.ismount(path):  # a mount point cannot be renamed
            raise OutputError(f"{path}: is a mount point; femopt replaces its output folder "
                              f"as a whole, so name a folder inside it")
        cwd = Path.cwd()
        if path == cwd or path in cwd.parents:  # replacing it would pull the ground from under us
            raise OutputError(f"{path}: is the current folder or contains it; femopt replaces its "
                              f"output folder as a whole, so name a folder inside it")
        try:
            self._created = [folder for folder in (path, *path.parents) if not folder.exists()]
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{path}: cannot create the output folder: {exc.strerror}") from exc
        self._lock()
        try:
            self._recover()
            probe = path / f"{TEMPORARY[0]}probe"
            probe.write_bytes(b"femopt")
            probe.unlink()
            free = shutil.disk_usage(path).free
        except OSError as exc:
            raise OutputError(f"{path}: not writable: {exc.strerror or exc}") from exc
        self._check_only_femopt_files()
        if free < self.expected_bytes:
            raise OutputError(f"{path}: {free / 1e6:.1f} MB free on its disk, the results "
                              f"need about {self.expected_bytes / 1e6:.1f} MB")

    def _lock(self) -> None:
        lock = self._sibling_path("lock")
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create its lock file {lock}: {exc.strerror}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise OutputError(f"{self.path}: in use by another femopt run (PID {holder}); "
                                  f"wait for it to finish or choose another folder") from None
            except OSError as exc:
                os.close(fd)
                raise OutputError(f"{self.path}: cannot lock {lock}: {exc.strerror}") from exc
            # A holder deletes the file when it releases: the lock counts only if it is
            # still on the file at that name, else lock the new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write its lock file {lock}: {exc.strerror}") from exc

    def _recover(self) -> None:
        """Undo or finish what an interrupted run left; we hold the lock, so its owner is dead."""
        for entry in self.path.iterdir():  # probes, partial checkpoints, the old writer's staging
            if entry.name.startswith(TEMPORARY):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        staging = self._sibling("staging")
        for entry in self.path.parent.iterdir():
            if entry.name.startswith(f"{staging}-"):
                shutil.rmtree(entry)
        previous = self._sibling_path("previous")
        if os.path.lexists(previous):
            if any(self.path.iterdir()):  # the swap was done, deleting the old copy was not
                shutil.rmtree(previous)
            else:  # interrupted between the renames: the old result comes back
                self.path.rmdir()
                os.rename(previous, self.path)
                self._created = []

    def _check_only_femopt_files(self) -> None:
        foreign = sorted(p.name for p in self.path.iterdir() if not femopt_file(p.name))
        if foreign:
            names = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise OutputError(f"{self.path}: holds {names}, not written by femopt; femopt replaces "
                              f"its output folder as a whole, so choose a new or empty folder")

    def _release(self) -> None:
        if self._lock_fd is None:
            return
        try:
            os.unlink(self._sibling_path("lock"))  # before unlocking: see _lock
        except OSError:
            pass
        for folder in self._created if not self._published else ():
            try:
                folder.rmdir()  # only if empty: an interrupted run's checkpoint stays
            except OSError:
                break
        os.close(self._lock_fd)
        self._lock_fd = None

    def _sibling(self, role: str) -> str:
        return f".{self.path.name}.femopt-{role}"

    def _sibling_path(self, role: str) -> Path:
        return self.path.parent / self._sibling(role)


def _read_pid(fd: int) -> str:
    # The holder writes its PID just after locking: give it a moment.
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.005)
    return "unknown"


def _sync_tree(folder: Path) -> None:
    """fsync the files of ``folder`` and the folder: after a power cut the swapped-in
    result has its data, not empty files."""
    for entry in folder.iterdir():
        if entry.is_file():
            _sync(entry)
    _sync(folder)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
