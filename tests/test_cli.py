"""The command line: outputs of a run, and one clear line with exit code 2 for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from femopt import __version__
from femopt.cli import main
from femopt.output.writer import FILES

from conftest import CONFIGS, mbb_data


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path, data, name="problem.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_run_writes_every_output(tmp_path):
    config = write(tmp_path, mbb_data(nx=20, ny=8))
    out = tmp_path / "out"
    result = invoke("run", config, "-o", out, "--max-iterations", "5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.split()[0].isdigit() for line in lines if line.split()) == 5  # one line per iteration
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # nothing temporary left behind
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 5 and summary["converged"] is False
    assert set(summary["timings_s"]) >= {"assembly", "factorization", "solve", "sensitivity", "filter", "update"}
    for key in ("objective", "volume", "wall_time_s"):
        assert isinstance(summary[key], float)
    arrays = np.load(out / "result.npz")
    assert arrays["x"].shape == arrays["rho"].shape == (160,)
    assert arrays["u"].shape == (2 * 21 * 9, 1)
    assert list(arrays["grid"]) == [20, 8]
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "iteration,objective,volume,change,seconds,penalty" and len(history) == 6
    assert summary["parameters"] == {"penalty": 3.0}
    assert summary["objective"] == pytest.approx(float(history[-1].split(",")[1]))


def test_default_output_folder_is_out_problem_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, mbb_data(nx=10, ny=4))
    assert invoke("run", config, "--max-iterations", "2", "--quiet", "--solver", "superlu").exit_code == 0
    summary = json.loads((tmp_path / "out" / "mbb-beam" / "summary.json").read_text())
    assert summary["solver"] == "superlu"


def test_run_with_projection_shows_and_records_beta(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", CONFIGS / "bridge_projection.yaml", "-o", out, "--max-iterations", "2")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.split()[:1] == ["it"])
    assert header.split()[-1] == "beta"
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].endswith(",penalty,beta") and history[1].endswith(",1.0")  # β starts at 1
    assert json.loads((out / "summary.json").read_text())["parameters"]["beta"] == 1.0


def test_validate_and_version():
    result = invoke("validate", CONFIGS / "mbb.yaml")
    assert result.exit_code == 0 and "ok" in result.output and "1200 elements" in result.output
    assert __version__ in invoke("--version").output


def broken(data, *path_and_value):
    *path, value = path_and_value
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE = object()

BAD_INPUTS = {
    "unknown key": (broken(mbb_data(), "optimizer", "tyep", "oc"), "optimizer.tyep: unknown key (did you mean 'type'?)"),
    "wrong type": (broken(mbb_data(), "design", "penalty", "three"), "design.penalty"),
    "wrong count": (broken(mbb_data(), "loads", 0, "force", [0, -1, 0]), "loads[0].force: expected 2 numbers, got 3"),
    "volume fraction 0": (broken(mbb_data(), "design", "volume_fraction", 0), "design.volume_fraction"),
    "volume fraction 1.5": (broken(mbb_data(), "design", "volume_fraction", 1.5), "design.volume_fraction"),
    "empty selection": (broken(mbb_data(), "loads", 0, "at", {"x": 61}), "loads[0].at: selects no node"),
    "singular": (broken(mbb_data(), "supports", 1, "fix", ["x"]), "rigid body"),
    "missing section": (broken(mbb_data(), "design", DELETE), "design"),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case, command):
    data, expected = BAD_INPUTS[case]
    config = write(tmp_path, data)
    out = tmp_path / "out"
    result = invoke(command, config, *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith("error: ") and expected in message
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_file_and_broken_yaml(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "cannot read" in result.stderr and "nope.yaml" in result.stderr
    config = write(tmp_path, "mesh: {grid: [60, 20]\nsupports: [")
    result = invoke("run", config)
    assert result.exit_code == 2 and "invalid YAML" in result.stderr and "line" in result.stderr


def test_real_entry_point_prints_no_traceback(tmp_path):
    config = write(tmp_path, broken(mbb_data(), "supports", 1, "fix", ["x"]))
    proc = subprocess.run([sys.executable, "-m", "femopt.cli", "run", str(config)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
