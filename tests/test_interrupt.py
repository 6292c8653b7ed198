"""Ctrl-C at any phase of a command: exit 130 and one line (for ``femopt run`` the command
that goes on), never click's "Aborted!" or a traceback. Each test sends a real SIGINT from
inside the phase (a patched function signals its own process), so no timing is involved."""

import json
import shlex
import signal
import subprocess
import sys

import pytest
import yaml

from helpers import mbb_data


# Run femopt's command line with ``module:name`` patched to SIGINT the process when called.
DRIVER = """
import importlib, os, signal, sys
module_name, _, attribute = sys.argv[1].partition(":")  # "femopt.loop.evaluator:Evaluator.volume"
*owners, name = attribute.split(".")
module = importlib.import_module(module_name)
for owner in owners:
    module = getattr(module, owner)
original = getattr(module, name)

def interrupting(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt here
    return original(*args, **kwargs)

setattr(module, name, interrupting)
from femopt.cli import main
main(sys.argv[2:], prog_name="femopt")
"""


def femopt_interrupted_in(target, *args, cwd):
    return subprocess.run([sys.executable, "-c", DRIVER, target, *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def femopt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "femopt.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(mbb_data(12, 4, type="mma", max_iterations=3)))
    return path


def one_line(run):
    assert run.returncode == 130, run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert "Aborted" not in run.stderr + run.stdout and "Traceback" not in run.stderr
    return run.stderr.strip()


@pytest.mark.parametrize("phase, target", [
    ("start-up", "femopt.config:load_config"),
    ("memory check", "femopt.api:check_memory"),
    ("setup", "femopt.api:build"),
])
def test_ctrl_c_before_the_first_iteration(tmp_path, config, phase, target):
    out = tmp_path / "out"
    line = one_line(femopt_interrupted_in(target, "run", config, "-o", out, "--max-iterations", "3",
                                          cwd=tmp_path))
    assert line == f"interrupted; go on with: femopt run {config} -o {out} --max-iterations 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]  # nothing left behind


def test_ctrl_c_while_the_results_are_written_then_the_hint_gives_the_same_result(tmp_path, config):
    whole = femopt("run", config, "-o", tmp_path / "whole", "-q", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "out"
    line = one_line(femopt_interrupted_in("femopt.output:write_files", "run", config, "-o", out, cwd=tmp_path))
    assert line == f"interrupted; go on with: femopt run {config} -o {out} --resume"
    assert not (out / "summary.json").exists()
    resumed = femopt(*shlex.split(line.split("go on with: femopt ")[1]), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = [json.loads((folder / "summary.json").read_text()) for folder in (out, tmp_path / "whole")]
    assert summary[0]["objective"] == summary[1]["objective"]


def test_sigint_during_the_iterations_still_checkpoints_and_says_how_to_go_on(tmp_path, config):
    # The first Ctrl-C lets the iteration finish (femopt.api._stop_on_signals).
    out = tmp_path / "out"
    run = femopt_interrupted_in("femopt.loop.evaluator:Evaluator.volume", "run", config, "-o", out, cwd=tmp_path)
    assert run.returncode == 128 + signal.SIGINT and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("interrupted after iteration 1; checkpoint written to ")
    assert run.stderr.endswith(f"; go on with: femopt run {config} -o {out} --resume\n")


@pytest.mark.parametrize("command, target", [
    ("validate", "femopt.config:load_config"),
    ("validate", "femopt.build:build_problem"),
    ("check-grad", "femopt.config:load_config"),
    ("check-grad", "femopt.loop.gradcheck:check_gradients"),
])
def test_ctrl_c_in_validate_and_check_grad(tmp_path, config, command, target):
    assert one_line(femopt_interrupted_in(target, command, config, cwd=tmp_path)) == "interrupted"


# The launcher of the `femopt` command, with a real SIGINT while femopt.cli is being imported.
LAUNCHER = """
import builtins, os, signal
real_import = builtins.__import__

def importing(name, *args, **kwargs):
    if name == "femopt.cli":
        os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt here
    return real_import(name, *args, **kwargs)

builtins.__import__ = importing
from femopt.launcher import main
main()
"""


def test_ctrl_c_while_the_command_line_imports(tmp_path):
    run = subprocess.run([sys.executable, "-c", LAUNCHER, "--version"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert one_line(run) == "interrupted"


def test_python_m_femopt_is_the_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "femopt", "--version"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("femopt, version"), run.stderr
