"""Result files are complete or absent: never a truncated file under a final name."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import femopt.solvers
from femopt.cli import main
from femopt.errors import OutputError
from femopt.output import files, writer
from femopt.output.folder import MARKER, write_marker
from femopt.solvers import make_solver

from helpers import mbb_data, mbb_evaluator, run_oc, write_yaml


@pytest.fixture
def small_result():
    evaluator = mbb_evaluator(10, 4)
    return evaluator.problem.mesh, run_oc(evaluator, max_iterations=3)


def test_failure_while_writing_leaves_previous_results_untouched(tmp_path, small_result, monkeypatch):
    mesh, result = small_result
    writer.write_results(tmp_path, "first", mesh, result)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(writer.np, "savez_compressed", disk_full)
    with pytest.raises(OutputError, match="No space left on device.*previous result is unchanged"):
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
    config = write_yaml(tmp_path, mbb_data(nx=10, ny=4))
    result = CliRunner().invoke(main, ["run", str(config), "-o", str(tmp_path / "o"),
                                       "--max-iterations", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "SuperLU" in result.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["solver"] == "superlu"
    assert make_solver("auto").name == "superlu"


def test_2d_result_replacing_a_3d_one_leaves_no_3d_files(tmp_path, small_result):
    mesh, result = small_result
    out = tmp_path / "out"
    out.mkdir()
    for name in files.FILES_3D:  # an earlier 3D result (femopt's: it carries the marker)
        (out / name).write_text("3d")
    write_marker(out)
    paths = writer.write_results(out, "2d", mesh, result)
    assert paths == [out / name for name in files.FILES]
    assert sorted(p.name for p in out.iterdir()) == sorted([*files.FILES, MARKER])
    assert json.loads((out / "summary.json").read_text())["problem"] == "2d"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_files_writes_into_the_folder_as_it_is(tmp_path, small_result):
    mesh, result = small_result
    assert writer.write_files(tmp_path, "plain", mesh, result) == [tmp_path / n for n in files.FILES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files.FILES)


def test_expected_bytes_bounds_what_is_written(tmp_path, small_result):
    mesh, result = small_result
    writer.write_files(tmp_path, "size", mesh, result)
    written = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert written < writer.expected_bytes(mesh) < written + 3_000_000


@pytest.mark.parametrize("outdir", ["/dev/null", "{config}/out"])
def test_run_into_an_unusable_folder_is_one_line_and_exit_2(tmp_path, outdir):
    config = write_yaml(tmp_path, mbb_data(nx=10, ny=4), "p.yaml")
    result = CliRunner().invoke(main, ["run", str(config), "-o", outdir.format(config=config),
                                       "--max-iterations", "1", "-q"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
