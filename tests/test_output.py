"""Result files are complete or absent: never a truncated file under a final name."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt.solvers
from femopt.cli import main
from femopt.output import writer
from femopt.problem import build_problem
from femopt.solvers import make_solver
from femopt.topopt import optimize

from conftest import mbb_data


@pytest.fixture
def small_result(mbb_config):
    config = mbb_config(nx=10, ny=4, max_iterations=3)
    problem = build_problem(config)
    return problem.mesh, optimize(problem, config.design, config.optimizer, make_solver("auto"))


def test_failure_while_writing_leaves_previous_results_untouched(tmp_path, small_result, monkeypatch):
    mesh, result = small_result
    writer.write_results(tmp_path, "first", mesh, result)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(writer.np, "savez_compressed", disk_full)
    with pytest.raises(OSError):
        writer.write_results(tmp_path, "second", mesh, result)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no staging folder left


def test_density_image_has_y_up(tmp_path, small_result):
    mesh, result = small_result
    rho = np.zeros(mesh.n_elements)
    rho[mesh.element_centers[:, 1] > 3] = 1.0  # solid top row only
    fig = writer.density_figure(mesh, rho)
    image = fig.axes[0].images[0]
    assert image.origin == "lower" and list(image.get_extent()) == [0, 10, 0, 4]
    assert np.all(image.get_array()[-1] == 1) and np.all(image.get_array()[0] == 0)


def test_auto_falls_back_to_superlu_with_one_line_notice(tmp_path, monkeypatch):
    monkeypatch.setattr(femopt.solvers, "CholmodSolver", None)
    monkeypatch.setattr("femopt.cli.cholmod_available", lambda: False)
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(mbb_data(nx=10, ny=4)))
    result = CliRunner().invoke(main, ["run", str(config), "-o", str(tmp_path / "o"),
                                       "--max-iterations", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "SuperLU" in result.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["solver"] == "superlu"
    assert make_solver("auto").name == "superlu"
