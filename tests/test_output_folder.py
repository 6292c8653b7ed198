"""OutputFolder: preflight errors before any numerics, one lock per folder, and a result
folder that is the old result or the new one whatever the moment of an interruption."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from femopt.errors import OutputError
from femopt.output import folder as folder_module
from femopt.output.files import CHECKPOINT
from femopt.output.folder import MARKER, OutputFolder

ROOT = Path(__file__).resolve().parents[1]
OLD = {"density.png": "old", "result.npz": "old", "density.vtu": "old", "summary.json": "old"}
NEW = {"density.png": "new", "result.npz": "new", "summary.json": "new"}


def writing(files):
    """A write function for publish: the files {name: text}."""
    def write(staging):
        for name, text in files.items():
            (staging / name).write_text(text)
        return sorted(files)
    return write


def contents(path):
    """The files of ``path`` but femopt's marker (tests/test_output_marker.py checks it)."""
    return {p.name: p.read_text() for p in Path(path).iterdir() if p.name != MARKER}


def published(path, files):
    with OutputFolder(path) as folder:
        folder.publish(writing(files))


def test_publish_replaces_the_whole_folder_and_leaves_nothing_beside_it(tmp_path):
    out = tmp_path / "out"
    published(out, OLD)
    assert contents(out) == OLD
    published(out, NEW)
    assert contents(out) == NEW  # no density.vtu of the earlier (3D) result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock, staging or previous


@pytest.mark.parametrize("path, message", [
    ("", "empty path"),
    ("{file}/out", "is under .*regular, which is not a folder"),
    ("{file}", "regular: is not a folder"),
    ("/dev/null", "/dev/null: is not a folder"),
    (f"/proc/femopt-{os.getpid()}/out", "cannot create the output folder: No such file"),
    (f"/sys/kernel/femopt-{os.getpid()}", "cannot create the output folder: Operation not permitted"),
    ("/proc", "is a mount point"),
])
def test_unusable_paths_are_one_line_errors_naming_the_path(tmp_path, path, message):
    (tmp_path / "regular").write_text("")
    with pytest.raises(OutputError, match=message) as error:
        OutputFolder(path.format(file=tmp_path / "regular")).__enter__()
    assert "\n" not in str(error.value)


def test_symlink_loop_is_one_line_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(OutputError, match="loop/out: cannot resolve the output folder: Symlink loop"):
        OutputFolder(tmp_path / "loop" / "out").__enter__()


def test_nothing_is_touched_before_entering(tmp_path):
    OutputFolder(tmp_path / "a" / "b", expected_bytes=10)
    assert list(tmp_path.iterdir()) == []


def test_not_enough_free_disk_space_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**9, used=10**9 - 500_000, free=500_000))
    with pytest.raises(OutputError, match=r"out: 0.5 MB free on its disk, the results need about 3.0 MB"):
        OutputFolder(tmp_path / "out", expected_bytes=3_000_000).__enter__()
    assert list(tmp_path.iterdir()) == []  # the folder it created is removed again
    with OutputFolder(tmp_path / "out", expected_bytes=400_000):
        pass


def test_folder_holding_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    (tmp_path / "out" / "summary.json").write_text("{}")
    with pytest.raises(OutputError, match="holds notes.txt, not written by femopt"):
        OutputFolder(tmp_path / "out").__enter__()
    assert contents(tmp_path / "out") == {"notes.txt": "mine", "summary.json": "{}"}


def test_current_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (".", tmp_path.parent):
        with pytest.raises(OutputError, match="is the current folder or contains it"):
            OutputFolder(path).__enter__()


def in_private_mount(tmp_path, mount_options, script):
    """Run ``script`` (Python; ``root`` is a fresh tmpfs) in a mount namespace of its own;
    returns its JSON output. Skips where namespaces or mounts are not allowed."""
    root = tmp_path / "mnt"
    root.mkdir()
    code = f"import json, os\nfrom pathlib import Path\nroot = Path({str(root)!r})\n" + textwrap.dedent(script)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o {mount_options} tmpfs "$0" && exec "$1" -c "$2"',
         str(root), sys.executable, code],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if run.returncode == 97 or "mount:" in run.stderr or "unshare:" in run.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_read_only_filesystem_fails_at_preflight(tmp_path):
    report = in_private_mount(tmp_path, "ro,size=64k", """
        from femopt.errors import OutputError
        from femopt.output.folder import OutputFolder
        try:
            OutputFolder(root / "out").__enter__()
        except OutputError as error:
            print(json.dumps(str(error)))
    """)
    assert report == f"{tmp_path}/mnt/out: cannot create the output folder: Read-only file system"


def test_disk_filling_up_while_publishing_keeps_the_previous_result(tmp_path):
    report = in_private_mount(tmp_path, "size=256k", """
        from femopt.errors import OutputError
        from femopt.output.folder import OutputFolder
        with OutputFolder(root / "out", expected_bytes=50_000) as folder:
            folder.publish(lambda staging: (staging / "result.npz").write_text("old"))
        try:
            with OutputFolder(root / "out", expected_bytes=50_000) as folder:
                folder.publish(lambda staging: (staging / "result.npz").write_bytes(bytes(10**6)))
        except OutputError as error:
            print(json.dumps([str(error), sorted(os.listdir(root)), (root / "out/result.npz").read_text()]))
    """)
    message, listing, old = report
    assert message.endswith("out: writing the results failed (No space left on device); "
                            "the previous result is unchanged")
    assert listing == ["out"] and old == "old"


def test_second_run_into_a_locked_folder_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"""
from femopt.output.folder import OutputFolder
with OutputFolder({str(out)!r}):
    print("locked", flush=True)
    input()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputError, match=rf"out: in use by another femopt run \(PID {holder.pid}\)"):
            OutputFolder(out).__enter__()
    finally:
        holder.kill()  # a killed holder leaves its lock file, but the kernel drops its lock
        holder.wait()
    published(out, NEW)
    assert contents(out) == NEW


def test_lock_file_replaced_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """The holder deletes its lock file on release, so a waiting process may lock a deleted
    file while a third one creates and locks the new one: the waiting one must see that."""
    out = tmp_path / "out"
    first = OutputFolder(out).__enter__()
    third = OutputFolder(out)
    real_flock = folder_module.fcntl.flock

    def flock(fd, operation):
        if not third.path:  # on the second process's first try: the race happens here
            first.__exit__(None, None, None)
            third.__enter__()
        return real_flock(fd, operation)

    monkeypatch.setattr(folder_module.fcntl, "flock", flock)
    with pytest.raises(OutputError, match=f"PID {os.getpid()}"):
        OutputFolder(out).__enter__()
    third.__exit__(None, None, None)


class Killed(BaseException):
    """Stands for the process dying: raised by the step it dies at and by every later one."""


def die_at(step, monkeypatch, then_dead):
    """Make the ``step``-th file-system change of publish (os.rename, shutil.rmtree) raise;
    ``then_dead``: every later one raises too (a SIGKILL), else only that one (a SIGINT)."""
    calls = {"n": 0}

    def wrap(function, exception):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step or (then_dead and calls["n"] > step):
                raise exception
            return function(*args, **kwargs)
        return wrapped

    exception = Killed() if then_dead else KeyboardInterrupt()
    monkeypatch.setattr(folder_module.os, "rename", wrap(os.rename, exception))
    monkeypatch.setattr(folder_module.shutil, "rmtree", wrap(shutil.rmtree, exception))
    return calls


STEPS = 4  # publish over a result: rename out away, rename staging in, rmtree previous, rmtree staging


@pytest.mark.parametrize("then_dead", [False, True], ids=["interrupted", "killed"])
@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_interruption_at_any_step_keeps_a_complete_result(tmp_path, monkeypatch, step, then_dead):
    out = tmp_path / "out"
    published(out, OLD)
    (out / CHECKPOINT).write_text("ck")
    old, new = {**OLD, CHECKPOINT: "ck"}, {**NEW, CHECKPOINT: "ck"}
    with monkeypatch.context() as patch:
        calls = die_at(step, patch, then_dead)
        with pytest.raises((Killed, KeyboardInterrupt)):
            published(out, NEW)
        assert calls["n"] >= step
        previous = tmp_path / ".out.femopt-previous"
        # At every moment a complete result exists: the old one, in out or (killed between
        # the renames) in .out.femopt-previous, or the new one.
        assert out.exists() or then_dead  # a live process puts the old result back itself
        visible = contents(out) if out.exists() else contents(previous)
        assert visible in (old, new)
    with OutputFolder(out):  # the next run puts things right
        assert contents(out) in (old, new)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".out.femopt-lock", "out"]


def test_uninterrupted_publish_takes_the_counted_steps(tmp_path, monkeypatch):
    published(tmp_path / "out", OLD)
    calls = die_at(STEPS + 1, monkeypatch, then_dead=False)
    published(tmp_path / "out", NEW)
    assert calls["n"] == STEPS


def test_failed_write_leaves_the_previous_result_and_no_staging(tmp_path):
    published(tmp_path / "out", OLD)

    def write(staging):
        (staging / "result.npz").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), OutputFolder(tmp_path / "out") as folder:
        folder.publish(write)
    assert contents(tmp_path / "out") == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_next_run_removes_what_dead_runs_left(tmp_path):
    out = tmp_path / "out"
    published(out, OLD)
    stale = tmp_path / ".out.femopt-staging-99999-abc"
    stale.mkdir()
    (stale / "result.npz").write_text("half")
    (out / ".femopt-k2j3_x").mkdir()  # the old writer's staging folder inside OUTDIR
    (out / f".femopt-{CHECKPOINT}.k2j3").write_text("half")  # a checkpoint being written (output.atomic)
    (tmp_path / ".other.femopt-staging-1-x").mkdir()  # another folder's: not ours to touch
    with OutputFolder(out):
        assert contents(out) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.femopt-staging-1-x", "out"]


def test_checkpoint_survives_an_unpublished_run_and_a_publish(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        assert folder.checkpoint == out / CHECKPOINT
        folder.checkpoint.write_text("iteration 7")
    assert contents(out) == {CHECKPOINT: "iteration 7"}  # interrupted: the next run can resume
    with OutputFolder(out) as folder:
        assert folder.checkpoint.read_text() == "iteration 7"
        folder.publish(writing(NEW))
    assert contents(out) == {**NEW, CHECKPOINT: "iteration 7"}  # a longer run may go on from it


def test_unpublished_run_removes_the_empty_folder_it_created(tmp_path):
    with OutputFolder(tmp_path / "out"):
        assert (tmp_path / "out").is_dir()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with OutputFolder(tmp_path / "kept"):
        pass
    assert (tmp_path / "kept").is_dir()


def test_published_files_are_synced_before_the_swap(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(folder_module.os, "fsync",
                        lambda fd: synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
                        or real_fsync(fd))
    published(tmp_path / "out", NEW)
    assert set(NEW) < set(synced)
    assert synced[-1] == tmp_path.name  # the parent, after the rename


def test_publish_needs_the_folder_entered(tmp_path):
    with pytest.raises(RuntimeError, match="needs the folder entered"):
        OutputFolder(tmp_path / "out").publish(writing(NEW))


def test_checkpoint_is_copied_where_hard_links_fail(tmp_path, monkeypatch):
    with OutputFolder(tmp_path / "out") as folder:
        folder.checkpoint.write_text("ck")
        monkeypatch.setattr(folder_module.os, "link", lambda *args: (_ for _ in ()).throw(OSError("no links")))
        folder.publish(writing(NEW))
    assert contents(tmp_path / "out") == {**NEW, CHECKPOINT: "ck"}
