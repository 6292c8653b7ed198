"""The Python API: femopt.load_config, femopt.prepare and femopt.run."""

import json

import pytest

import femopt
from femopt.output.files import FILES

from helpers import CONFIGS, mbb_data, write_yaml


def test_run_a_problem_file_gives_the_88_line_result_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = femopt.run(str(CONFIGS / "mbb.yaml"))
    assert result.objective == pytest.approx(203.1925, rel=1e-4)  # top88(60,20,0.5,3,1.5,1)
    assert result.iterations == 94 and result.status == "converged" and result.message == "converged"
    assert list(tmp_path.iterdir()) == []


def test_a_dict_runs_like_the_same_file(tmp_path):
    data = mbb_data(12, 5, max_iterations=10)
    from_dict = femopt.run(femopt.load_config(data))
    from_file = femopt.run(write_yaml(tmp_path, data))
    assert from_dict.objective == from_file.objective and from_dict.iterations == from_file.iterations == 10
    assert femopt.run(data).objective == from_dict.objective  # a dict needs no load_config


def test_a_bad_dict_gives_the_files_message(tmp_path):
    data = mbb_data(12, 5)
    data["design"]["volume_fraction"] = 1.5
    errors = []
    for config in (data, write_yaml(tmp_path, data)):
        with pytest.raises(femopt.ConfigError) as info:
            femopt.load_config(config)
        errors.append(info.value)
    assert str(errors[0]) == "<string>: design.volume_fraction: must be in (0, 1], got 1.5"
    assert str(errors[1]) == f"{tmp_path / 'problem.yaml'}: design.volume_fraction: must be in (0, 1], got 1.5"
    assert (errors[0].path, errors[0].reason) == (errors[1].path, errors[1].reason)


def test_outdir_gets_the_result_files(tmp_path):
    result = femopt.run(mbb_data(12, 5), tmp_path / "out", max_iterations=3)
    # the checkpoint stays: a run that stopped at its iteration limit may go on with --resume
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES + ("checkpoint.npz", ".femopt"))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["iterations"] == 3 and summary["objective"] == result.objective


def test_callback_sees_every_iteration_and_stop_iteration_stops():
    seen = []

    def stop_at_three(record):
        seen.append(record.iteration)
        if record.iteration == 3:
            raise StopIteration

    result = femopt.run(mbb_data(12, 5), callback=stop_at_three)
    assert seen == [1, 2, 3] and result.iterations == 3
    assert result.status == "stopped" and not result.converged and result.message == "stopped by the callback"


def test_max_iterations_override_ends_at_the_limit():
    result = femopt.run(mbb_data(12, 5), max_iterations=2)
    assert result.iterations == 2 and result.status == "iteration_limit"
    model = femopt.prepare(mbb_data(12, 5), max_iterations=2)
    assert model.config.optimizer.max_iterations == 2
    with pytest.raises(TypeError, match="give overrides to prepare"):
        femopt.run(model, max_iterations=3)


def test_two_displacement_constraints_are_both_reported(tmp_path):
    """Each constraint has its own value by its place in the problem, in the Result and in
    summary.json — two of the same type no longer share one entry."""
    data = mbb_data(12, 5, filter_type="density", type="mma", max_iterations=4)
    data["objective"] = "volume"
    data["constraints"] = [
        {"type": "displacement", "at": {"x": 0, "y": 5}, "component": "y", "weight": -1.0, "limit": 40.0},
        {"type": "displacement", "at": {"x": 6, "y": 5}, "component": "y", "weight": -1.0, "limit": 30.0}]
    result = femopt.run(data, tmp_path / "out")
    mesh = femopt.prepare(data).mesh
    deflection = [-result.u[2 * mesh.select_nodes([("x", x, x), ("y", 5, 5)])[0] + 1, 0] for x in (0, 6)]
    assert deflection[0] > deflection[1] > 0
    assert result.responses == pytest.approx(
        {"objective": result.volume, "constraints[0]": deflection[0], "constraints[1]": deflection[1]},
        rel=1e-12)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["responses"] == result.responses
