"""Checkpoints and --resume: an interrupted run, resumed, ends where an uninterrupted one does."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import femopt
from femopt.output import checkpoint
from femopt.output.checkpoint import CheckpointError, Interrupted

ROOT = Path(__file__).resolve().parents[1]


def small_problem(optimizer="mma", **design):
    """A 30×10 MBB beam with the density filter: quick, and long enough to interrupt."""
    return {
        "problem": "ck",
        "mesh": {"grid": [30, 10]},
        "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": 30, "y": 0}, "fix": ["y"]}],
        "loads": [{"at": {"x": 0, "y": 10}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 1.5}, **design},
        "optimizer": {"type": optimizer, "max_iterations": 80},
        "checkpoint": {"every": 7},
    }


def interrupt_at(iteration, number=signal.SIGINT):
    """A callback that signals this process during ``iteration`` (as Ctrl-C would)."""
    def callback(record):
        if record.iteration == iteration:
            os.kill(os.getpid(), number)
    return callback


@pytest.mark.parametrize("optimizer, design", [
    ("mma", {}),
    ("oc", {"penalty": {"start": 1.0, "end": 3.0, "step": 1.0, "every": 10},
            "projection": {"beta": {"start": 1, "end": 4, "factor": 2, "every": 12}}}),
    ("lbfgs", {}),
    ("mma", {"projection": {"beta": {"start": 1, "end": 4, "factor": 2, "every": 12}},
             "overhang": {"build_direction": "-x"}}),
], ids=["mma", "oc-continuation", "lbfgs", "mma-overhang"])
def test_resumed_run_reaches_the_uninterrupted_result(tmp_path, optimizer, design):
    data = small_problem(optimizer, **design)
    if optimizer == "lbfgs":
        data["optimizer"].update(max_iterations=12, inner_iterations=5)
    whole = femopt.run(data)
    stop = whole.iterations // 2
    with pytest.raises(Interrupted) as stopped:
        femopt.run(data, tmp_path, callback=interrupt_at(stop))
    assert stopped.value.signal == signal.SIGINT
    assert not (tmp_path / "summary.json").exists()
    assert checkpoint.load(tmp_path / checkpoint.FILENAME, femopt.load_config(data).fingerprint).iteration == stop

    resumed = femopt.run(data, tmp_path, resume=True)
    assert resumed.iterations == whole.iterations and resumed.status == whole.status
    assert resumed.objective == pytest.approx(whole.objective, rel=1e-9)
    np.testing.assert_allclose(resumed.x, whole.x, rtol=0, atol=1e-9)
    assert [r.iteration for r in resumed.history] == list(range(1, whole.iterations + 1))


def test_checkpoints_are_written_every_n_iterations_and_at_the_limit(tmp_path):
    data = small_problem()
    data["optimizer"]["max_iterations"] = 10
    saved = []
    original = checkpoint.save
    try:
        checkpoint.save = lambda path, state, fingerprint: (saved.append(state.iteration),
                                                            original(path, state, fingerprint))
        result = femopt.run(data, tmp_path)
    finally:
        checkpoint.save = original
    assert result.status == "iteration_limit"
    assert saved == [7, 10]   # every 7, and the last one so that a longer run may go on
    longer = femopt.run(data, tmp_path, resume=True, max_iterations=14)
    assert longer.iterations == 14 and [r.iteration for r in longer.history] == list(range(1, 15))


def test_a_changed_problem_is_not_resumed(tmp_path):
    data = small_problem()
    with pytest.raises(Interrupted):
        femopt.run(data, tmp_path, callback=interrupt_at(3))
    data["design"]["volume_fraction"] = 0.4
    with pytest.raises(CheckpointError, match="different problem"):
        femopt.run(data, tmp_path, resume=True)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        femopt.run(small_problem(), tmp_path, resume=True)


def test_converged_run_removes_its_checkpoint(tmp_path):
    data = small_problem()
    data["optimizer"]["max_iterations"] = 1000
    assert femopt.run(data, tmp_path).status == "converged"
    assert not (tmp_path / checkpoint.FILENAME).exists()


@pytest.mark.slow
def test_ctrl_c_exits_130_and_resume_matches_the_uninterrupted_run(tmp_path):
    """The issue's acceptance test: SIGINT a run of configs/mbb_mma.yaml about halfway."""
    config = str(ROOT / "configs" / "mbb_mma.yaml")
    whole = femopt.run(config)
    command = [sys.executable, "-m", "femopt.cli", "run", config, "-o", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # progress lines: "   67   216.2 ..."
        fields = line.split()
        if fields and fields[0].isdigit() and int(fields[0]) >= whole.iterations // 2:
            process.send_signal(signal.SIGINT)
            break
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "--resume" in err and err.count("\n") == 1

    resumed = subprocess.run(command + ["--resume", "-q"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    summary = __import__("json").loads((tmp_path / "summary.json").read_text())
    assert summary["iterations"] == whole.iterations
    assert summary["objective"] == pytest.approx(whole.objective, rel=1e-9)


# -- a run with nothing left to do, and runs resumed at or past their iteration limit ---------

def published_numbers(folder):
    """objective and the arrays (x, rho, u) of the result published in ``folder``."""
    summary = __import__("json").loads((Path(folder) / "summary.json").read_text())
    with np.load(Path(folder) / "result.npz") as data:
        return summary["objective"], {name: data[name] for name in ("x", "rho", "u")}


def assert_identical(result, other):
    assert result.objective == other.objective and result.iterations == other.iterations
    assert result.status == other.status and result.responses == other.responses
    for name in ("x", "rho", "u"):
        np.testing.assert_array_equal(getattr(result, name), getattr(other, name))


def limited(iterations, optimizer="mma"):
    data = small_problem(optimizer)
    data["optimizer"]["max_iterations"] = iterations
    return data


@pytest.mark.parametrize("optimizer", ["oc", "mma"])
def test_resuming_a_run_at_its_iteration_limit_republishes_the_same_result(tmp_path, optimizer):
    data = limited(10, optimizer)
    first = femopt.run(data, tmp_path)
    assert first.status == "iteration_limit"
    before = published_numbers(tmp_path)
    again = femopt.run(data, tmp_path, resume=True)
    assert_identical(again, first)
    after = published_numbers(tmp_path)
    assert after[0] == before[0]
    for name in ("x", "rho", "u"):
        np.testing.assert_array_equal(after[1][name], before[1][name])


def test_the_result_at_the_iteration_limit_is_one_design(tmp_path):
    """x, rho and u of a result belong to the design last evaluated, also at the limit."""
    data = limited(10)
    result = femopt.run(data)
    evaluate = femopt.prepare(data).evaluator()
    evaluation = evaluate(result.x)
    np.testing.assert_array_equal(evaluation.rho, result.rho)
    assert evaluation.objective == result.objective


@pytest.mark.parametrize("optimizer", ["oc", "mma"])
def test_five_iterations_resumed_to_ten_equal_ten(tmp_path, optimizer):
    straight = femopt.run(limited(10, optimizer), tmp_path / "straight")
    femopt.run(limited(5, optimizer), tmp_path / "resumed")
    resumed = femopt.run(limited(10, optimizer), tmp_path / "resumed", resume=True)
    assert_identical(resumed, straight)
    assert [r.iteration for r in resumed.history] == list(range(1, 11))


def test_resuming_past_the_iteration_limit_is_refused(tmp_path):
    femopt.run(limited(10), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(CheckpointError, match=r"checkpoint.npz: .*iteration 10.* limit 6") as error:
        femopt.run(limited(6), tmp_path, resume=True)
    assert "\n" not in str(error.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("iterations", [10, 1000], ids=["at-the-limit", "converged"])
def test_interrupted_while_publishing_then_resumed_gives_the_uninterrupted_result(tmp_path, monkeypatch, iterations):
    data = limited(iterations)
    whole = femopt.run(data, tmp_path / "whole")
    calls = []

    def interrupted(*args, **kwargs):  # Ctrl-C while the result files are written
        calls.append(1)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("femopt.api.write_files", interrupted)
        with pytest.raises(KeyboardInterrupt):
            femopt.run(data, tmp_path / "out")
    assert calls and not (tmp_path / "out" / "summary.json").exists()
    resumed = femopt.run(data, tmp_path / "out", resume=True)
    assert_identical(resumed, whole)
    published, expected = published_numbers(tmp_path / "out"), published_numbers(tmp_path / "whole")
    assert published[0] == expected[0]
    for name in ("x", "rho", "u"):
        np.testing.assert_array_equal(published[1][name], expected[1][name])
    assert (tmp_path / "out" / checkpoint.FILENAME).exists() == (whole.status != "converged")


def test_an_edited_python_loss_is_not_resumed(tmp_path):
    """The loss file's contents are part of the fingerprint, as a mesh file's are."""
    import yaml

    loss = tmp_path / "myloss.py"
    loss.write_text("import numpy as np\n\ndef loss(u):\n    return float(np.sum(u**2)), 2 * u\n")
    data = limited(10)
    data["objective"] = {"type": "python", "function": "myloss.py:loss"}
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(data))
    before = femopt.load_config(config).fingerprint
    with pytest.raises(Interrupted):
        femopt.run(config, tmp_path / "out", callback=interrupt_at(3))
    loss.write_text("import numpy as np\n\ndef loss(u):\n    return float(np.sum(u**4)), 4 * u**3\n")
    assert femopt.load_config(config).fingerprint != before
    with pytest.raises(CheckpointError, match="different problem"):
        femopt.run(config, tmp_path / "out", resume=True)
    assert femopt.load_config(limited(10)).fingerprint == femopt.load_config(limited(10)).fingerprint


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "empty", "not-a-zip"])
def test_a_damaged_checkpoint_is_one_line_exit_2_and_the_folder_is_kept(tmp_path, damage):
    import yaml

    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(limited(3)))
    out = tmp_path / "out"
    femopt.run(config, out)
    path = out / checkpoint.FILENAME
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2],
                      "corrupted": data[:len(data) // 2] + bytes(b ^ 0xFF for b in data[len(data) // 2:][:64])
                      + data[len(data) // 2 + 64:],
                      "empty": b"",
                      "not-a-zip": b"hello"}[damage])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    run = subprocess.run([sys.executable, "-m", "femopt.cli", "run", str(config), "-o", str(out), "--resume"],
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"error: {path}: unreadable checkpoint") and run.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.yaml"]
