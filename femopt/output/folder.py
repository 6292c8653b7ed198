"""The output folder of a run: checked and locked before the numerics, replaced as a whole.

For OUTDIR = PARENT/NAME (all of it on one filesystem, so every rename is atomic):

- ``PARENT/NAME/``: the published result, nothing but femopt's files, the
  ``checkpoint.npz`` of the last run that wrote one (:attr:`OutputFolder.checkpoint`) and
  femopt's marker ``.femopt`` (:data:`MARKER`): what tells a folder femopt may replace
  from a user's folder that merely holds files of the same names.
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
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Collection, TypeVar

from femopt import __version__
from femopt.errors import OutputError
from femopt.output.files import CHECKPOINT, TEMPORARY, femopt_file

# The longest name a file may have on Linux, macOS and Windows (check_name_lengths asks the
# file system for its own).
NAME_MAX = 255

# femopt's mark on a folder it uses: a small JSON file {"tool": "femopt", "version", "kind"}
# written into every result it publishes and into the empty folder a run starts in (so that
# the checkpoint-only folder of an interrupted run is femopt's too). Only a folder with the
# mark, or a result of femopt from before the mark (see _check_unmarked), is replaced.
MARKER = ".femopt"
# The longest thing femopt adds to OUTDIR's name for its siblings (".NAME.femopt-staging-PID-XXXXXXXX",
# PIDs up to 4194304) and to OUTDIR's path for the files inside it.
_SIBLING_EXTRA = len("..femopt-staging-4194304-XXXXXXXX")
_INSIDE_EXTRA = len(f"/{TEMPORARY[0]}{CHECKPOINT}.XXXXXXXX")
# The longest OUTDIR name (or a study's case folder): its staging folder must fit in NAME_MAX too.
LONGEST_NAME = NAME_MAX - _SIBLING_EXTRA

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

    def __init__(self, path, expected_bytes: int = 0, kind: str = "run",
                 allowed: Collection[str] | None = None):
        self.requested = os.fspath(path)
        self.expected_bytes = int(expected_bytes)
        self.kind = kind  # what the marker says the folder holds
        self._marked = False  # this run put the marker into an empty folder
        # The names femopt writes into this folder (default: a run's result files, checked
        # with the marker); a study holds its folder locked, with its own files and folders,
        # and publishes nothing into it itself.
        self.allowed = None if allowed is None else frozenset(allowed)
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
            write_marker(staging, self.kind)
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
        check_name_lengths(path)  # before anything is created (or stat()ed: ENAMETOOLONG)
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
            _remove_empty(self._created)  # the parents it made before failing
            raise OutputError(f"{path}: cannot create the output folder: {exc.strerror}") from exc
        self._lock()
        try:
            self._recover()
        except OSError as exc:
            raise OutputError(f"{path}: not writable: {exc.strerror or exc}") from exc
        self._check_only_femopt_files()  # before the probe: a refused folder is not touched
        try:
            probe = path / f"{TEMPORARY[0]}probe"
            probe.write_bytes(b"femopt")
            probe.unlink()
            free = shutil.disk_usage(path).free
            if not any(path.iterdir()):  # femopt's from now on, checkpoint or not
                write_marker(path, self.kind)
                self._marked = True
        except OSError as exc:
            raise OutputError(f"{path}: not writable: {exc.strerror or exc}") from exc
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
        """Refuse (OutputError) a folder femopt may not replace: one holding a name femopt
        does not write, something other than a regular file under one of its names (a
        folder ``history.csv/``, a link), a marker that is not femopt's or of another kind,
        or, without a marker, anything but a result or checkpoint femopt wrote before it
        marked its folders (:meth:`_check_unmarked`)."""
        entries = sorted(self.path.iterdir())
        allowed = femopt_file if self.allowed is None else self.allowed.__contains__
        foreign = [p.name for p in entries if p.name != MARKER and not allowed(p.name)]
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise OutputError(f"{self.path}: holds {listed}, not written by femopt; {_REPLACED}")
        if self.allowed is not None:  # a study's folder: its own names, cases/ among them
            return
        for entry in entries:
            if entry.is_symlink() or not entry.is_file():
                what = ("a link" if entry.is_symlink() else "a folder" if entry.is_dir()
                        else "not a regular file")
                raise OutputError(f"{entry}: is {what} where femopt writes a file, so not femopt's; "
                                  f"{_REPLACED}")
        if not entries:
            return
        marker = read_marker(self.path)
        if marker is None:
            self._check_unmarked([p.name for p in entries])
        elif marker.get("kind") != self.kind:
            raise OutputError(f"{self.path}: holds a femopt {marker.get('kind')}, not a "
                              f"{self.kind}'s result (see its {MARKER}); choose another folder")

    def _check_unmarked(self, names: list[str]) -> None:
        """A folder without the marker: femopt's only if it is a result of a femopt from
        before the marker (a summary.json that is femopt's: a JSON object with its
        "problem", "objective" and "femopt_version") or an interrupted run's lone
        checkpoint.npz that is femopt's (a zip of arrays with the checkpoint's ``meta``)."""
        if "summary.json" in names:
            try:
                summary = json.loads((self.path / "summary.json").read_text())
            except (OSError, ValueError):
                summary = None
            if not (isinstance(summary, dict) and {"problem", "objective", "femopt_version"} <= set(summary)):
                raise OutputError(f"{self.path / 'summary.json'}: not a summary femopt wrote, and the "
                                  f"folder has no femopt marker ({MARKER}); {_REPLACED}")
        elif names == [CHECKPOINT]:
            if not _is_checkpoint(self.path / CHECKPOINT):
                raise OutputError(f"{self.path / CHECKPOINT}: not a femopt checkpoint (unreadable, or "
                                  f"another program's), and the folder has no femopt marker "
                                  f"({MARKER}); {_REPLACED}")
        else:
            listed = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            raise OutputError(f"{self.path}: holds {listed} without femopt's summary.json or its "
                              f"marker ({MARKER}), so not a result femopt wrote; {_REPLACED}")

    def _release(self) -> None:
        if self._lock_fd is None:
            return
        try:
            os.unlink(self._sibling_path("lock"))  # before unlocking: see _lock
        except OSError:
            pass
        if self._marked and not self._published:  # a run that left nothing: the folder as it was
            try:
                if [p.name for p in self.path.iterdir()] == [MARKER]:
                    (self.path / MARKER).unlink()
            except OSError:
                pass
        if not self._published:
            _remove_empty(self._created)  # an interrupted run's checkpoint stays
        os.close(self._lock_fd)
        self._lock_fd = None

    def _sibling(self, role: str) -> str:
        return f".{self.path.name}.femopt-{role}"

    def _sibling_path(self, role: str) -> Path:
        return self.path.parent / self._sibling(role)


_REPLACED = "femopt replaces its output folder as a whole, so choose a new or empty folder"


def write_marker(folder: Path, kind: str = "run") -> None:
    """Write femopt's :data:`MARKER` into ``folder`` (a temporary name, then a rename)."""
    temporary = folder / f"{TEMPORARY[0]}marker"
    temporary.write_text(json.dumps({"tool": "femopt", "version": __version__, "kind": kind}) + "\n")
    os.replace(temporary, folder / MARKER)


def read_marker(folder: Path) -> dict | None:
    """The contents of ``folder``'s :data:`MARKER` (None without one); OutputError when
    the file is there but is not femopt's."""
    marker = Path(folder) / MARKER
    if not os.path.lexists(marker):
        return None
    try:
        content = json.loads(marker.read_text()) if marker.is_file() and not marker.is_symlink() else None
    except (OSError, ValueError):
        content = None
    if not isinstance(content, dict) or content.get("tool") != "femopt":
        raise OutputError(f"{marker}: not femopt's marker; {_REPLACED}")
    return content


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a checkpoint femopt wrote: an npz whose ``meta`` is a JSON
    object with the checkpoint's format and fingerprint (femopt.output.checkpoint)."""
    import numpy as np  # here: only pre-marker folders need it, and numpy takes a while to import

    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    except Exception:  # a zip, numpy or JSON error of any kind: not one
        return False
    return isinstance(meta, dict) and {"format", "fingerprint", "iteration"} <= set(meta)


def check_name_lengths(path) -> None:
    """OutputError unless every name of ``path`` (an output folder, made absolute) fits the
    file system, with room for the siblings femopt puts beside it and the files it writes
    into it. Touches nothing: a dry run checks what a run would create."""
    path = Path(os.path.abspath(os.fspath(path)))
    existing = next(folder for folder in (path, *path.parents) if os.path.exists(folder))
    name_max = _pathconf(existing, "PC_NAME_MAX", 255)
    path_max = _pathconf(existing, "PC_PATH_MAX", 4096)
    for part in path.parts[1:-1]:
        if len(os.fsencode(part)) > name_max:
            raise OutputError(f"{_abbreviated(path)}: the folder name {_abbreviated(part)!r} has "
                              f"{len(os.fsencode(part))} bytes, more than the {name_max} the file "
                              f"system allows")
    size, room = len(os.fsencode(path.name)), name_max - _SIBLING_EXTRA
    if size > room:
        raise OutputError(f"{_abbreviated(path)}: the output folder's name has {size} bytes; with the "
                          f"{_SIBLING_EXTRA} femopt adds for its temporary folders beside it the file "
                          f"system's limit of {name_max} allows at most {room}")
    if len(os.fsencode(str(path))) + _INSIDE_EXTRA >= path_max:
        raise OutputError(f"{_abbreviated(path)}: the output folder's path has "
                          f"{len(os.fsencode(str(path)))} bytes; the files femopt writes into it "
                          f"would pass the file system's limit of {path_max}")


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name)
    except (OSError, ValueError):
        return default


def _abbreviated(text, keep: int = 60) -> str:
    """``text`` (a path or name) cut to about ``keep`` characters for a message."""
    text = str(text)
    return text if len(text) <= keep else f"{text[:keep // 2]}…{text[-keep // 2:]}"


def _remove_empty(folders: list[Path]) -> None:
    """rmdir ``folders`` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:  # not made after all (mkdir failed before it)
            continue
        except OSError:
            break


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
