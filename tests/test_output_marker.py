"""Only femopt's own folders are replaced: the marker it leaves, results from before the
marker, checkpoint-only folders of interrupted runs, and names too long for the file system."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from femopt.errors import OutputError
from femopt.output import checkpoint
from femopt.output.folder import CHECKPOINT, MARKER, OutputFolder
from femopt.loop.driver import LoopState

ROOT = Path(__file__).resolve().parents[1]
RESULT = {"density.png": "png", "result.npz": "npz", "summary.json": "{}"}


def publish(path, files=RESULT):
    with OutputFolder(path) as folder:
        folder.publish(lambda staging: [(staging / name).write_text(text) for name, text in files.items()])


def snapshot(path):
    """Every entry under ``path``: {relative path: bytes, or None for a folder}."""
    return {str(p.relative_to(path)): None if p.is_dir() else p.read_bytes() for p in Path(path).rglob("*")}


def refused(path, match):
    """Entering OutputFolder(path) fails with ``match``, leaving the folder and its parent as they were."""
    before, parent = snapshot(path), snapshot(Path(path).parent)
    with pytest.raises(OutputError, match=match) as error:
        OutputFolder(path).__enter__()
    assert "\n" not in str(error.value)
    assert snapshot(path) == before and snapshot(Path(path).parent) == parent


def test_published_folder_carries_femopts_marker(tmp_path):
    publish(tmp_path / "out")
    marker = json.loads((tmp_path / "out" / MARKER).read_text())
    assert marker["tool"] == "femopt" and marker["kind"] == "run" and marker["version"]
    publish(tmp_path / "out")  # femopt's folder: replaced again
    assert (tmp_path / "out" / "summary.json").read_text() == "{}"


@pytest.mark.parametrize("users", [
    {"summary.json": '{"mine": 1}'},
    {"result.npz": "my arrays"},
    {"summary.json": "not json", "density.png": "my picture"},
    {CHECKPOINT: "my own checkpoint"},
], ids=["summary", "result", "broken-summary", "checkpoint"])
def test_users_files_with_femopts_names_are_refused_and_kept(tmp_path, users):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in users.items():
        (out / name).write_text(text)
    refused(out, "not .*femopt")


@pytest.mark.parametrize("marked", [False, True], ids=["plain", "femopt-folder"])
def test_a_folder_where_femopt_writes_a_file_is_refused(tmp_path, marked):
    out = tmp_path / "out"
    if marked:
        publish(out)
    else:
        out.mkdir()
    (out / "history.csv").mkdir()
    (out / "history.csv" / "mine.txt").write_text("precious")
    refused(out, r"history.csv: is a folder where femopt writes a file")


def test_links_under_femopts_names_are_refused(tmp_path):
    publish(tmp_path / "out")
    (tmp_path / "elsewhere.npz").write_text("mine")
    (tmp_path / "out" / "result.npz").unlink()
    (tmp_path / "out" / "result.npz").symlink_to(tmp_path / "elsewhere.npz")
    refused(tmp_path / "out", "result.npz: is a link")


@pytest.mark.parametrize("marker", ["garbage", '{"tool": "other"}', "[1]"])
def test_a_marker_that_is_not_femopts_is_refused(tmp_path, marker):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text(marker)
    (out / "summary.json").write_text("{}")
    refused(out, r"\.femopt: not femopt's marker")


def test_a_marker_of_another_kind_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"tool": "femopt", "version": "9", "kind": "study"}))
    refused(out, "holds a femopt study, not a run's result")


def test_a_result_of_femopt_from_before_the_marker_is_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"problem": "p", "objective": 1.0, "femopt_version": "0.1.0"}))
    (out / "result.npz").write_text("old")
    (out / CHECKPOINT).write_text("carried")
    publish(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*RESULT, MARKER, CHECKPOINT])


def save_checkpoint(path):
    checkpoint.save(path, LoopState(iteration=3, x=np.full(4, 0.5)), "fingerprint")


def test_the_checkpoint_only_folder_of_an_interrupted_run_is_femopts(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:  # interrupted after its first checkpoint
        save_checkpoint(folder.checkpoint)
    assert sorted(p.name for p in out.iterdir()) == sorted([CHECKPOINT, MARKER])
    with OutputFolder(out) as folder:
        assert checkpoint.load(folder.checkpoint, "fingerprint").iteration == 3
    # A checkpoint-only folder of a femopt from before the marker: its checkpoint says so.
    (out / MARKER).unlink()
    with OutputFolder(out) as folder:
        assert checkpoint.load(folder.checkpoint, "fingerprint").iteration == 3


def test_a_run_that_leaves_nothing_leaves_the_folder_as_it_found_it(tmp_path):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "new" / "out"):
        with pytest.raises(RuntimeError), OutputFolder(path):
            assert (path / MARKER).is_file()  # femopt's while it runs (a kill leaves it so)
            raise RuntimeError("the build failed")
    assert snapshot(tmp_path) == {"empty": None}
    (tmp_path / "empty" / MARKER).write_text(json.dumps({"tool": "femopt", "kind": "run"}))
    with OutputFolder(tmp_path / "empty"):  # what a killed run left: femopt's
        pass


NAME_MAX = os.pathconf("/", "PC_NAME_MAX")


@pytest.mark.parametrize("path, message", [
    ("a" * (NAME_MAX + 1), "has 256 bytes; .* allows at most 222"),
    ("a" * 223, "has 223 bytes; .* allows at most 222"),
    ("é" * 112, "has 224 bytes"),  # bytes, not characters
    ("out/" + "b" * (NAME_MAX + 1) + "/run", "the folder name 'bbbb.*' has 256 bytes, more than the 255"),
    ("/".join(["c" * 200] * 20), "path has 4.* bytes; the files femopt writes into it would pass"),
], ids=["over-255", "no-room-for-siblings", "utf8", "parent", "path"])
def test_names_too_long_are_one_line_and_nothing_is_created(tmp_path, path, message):
    if NAME_MAX != 255:
        pytest.skip("a file system with another name limit")
    with pytest.raises(OutputError, match=message) as error:
        OutputFolder(tmp_path / path).__enter__()
    assert "\n" not in str(error.value) and len(str(error.value)) < 400
    assert list(tmp_path.iterdir()) == []
    with OutputFolder(tmp_path / ("a" * 222)):  # the longest that fits
        pass


def femopt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "femopt.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_run_refuses_users_files_with_exit_2(tmp_path):
    out = tmp_path / "out"
    (out / "history.csv").mkdir(parents=True)
    (out / "history.csv" / "notes.txt").write_text("mine")
    (out / "summary.json").write_text('{"mine": true}')
    before = snapshot(out)
    run = femopt("run", str(ROOT / "configs" / "mbb.yaml"), "-o", str(out), "--max-iterations", "2", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert snapshot(out) == before


def test_a_long_problem_name_creates_no_out_folder(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text((ROOT / "configs" / "mbb.yaml").read_text().replace("problem: mbb-beam", "problem: " + "n" * 300))
    run = femopt("run", str(config), "--max-iterations", "2", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "has 300 bytes" in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]
