"""Result files are complete or absent: never a truncated file under a final name."""

import dataclasses
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt.solvers
from femopt.cli import main
from femopt.output import writer
from femopt.mesh import StructuredMesh
from femopt.output.volume import solid_boundary
from femopt.problem import build_problem
from femopt.solvers import make_solver
from femopt.topopt import optimize

from conftest import mbb_data
from mesh_helpers import distorted


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


def _on_general_mesh(result, mesh, seed=0):
    """``result``'s history with fields of the right sizes for ``mesh``."""
    rng = np.random.default_rng(seed)
    rho = rng.random(mesh.n_elements)
    return dataclasses.replace(result, x=rho, rho=rho, u=rng.standard_normal((mesh.dim * mesh.n_nodes, 2)))


@pytest.mark.parametrize("grid,cell_type", [((6, 3), "T3"), ((3, 2, 2), "T4"), ((3, 2, 2), None)])
def test_general_mesh_results_carry_their_cells(tmp_path, small_result, grid, cell_type):
    meshio = pytest.importorskip("meshio")
    mesh = distorted(grid, tuple(float(n) for n in grid), cell_type=cell_type)
    result = _on_general_mesh(small_result[1], mesh)
    paths = writer.write_results(tmp_path, "general", mesh, result)
    assert [p.name for p in paths] == list(writer.FILES_MESH) and "density.stl" not in writer.FILES_MESH
    vtu = meshio.read(tmp_path / "density.vtu")
    assert vtu.cells[0].type == mesh.cell_type.meshio_name
    np.testing.assert_array_equal(vtu.cells[0].data, mesh.cells)
    np.testing.assert_allclose(vtu.points[:, :mesh.dim], mesh.node_coords)
    np.testing.assert_allclose(vtu.cell_data["rho"][0], result.rho)
    np.testing.assert_allclose(vtu.point_data["u"][:, :mesh.dim], result.u[:, 0].reshape(-1, mesh.dim))
    npz = np.load(tmp_path / "result.npz")
    assert "grid" not in npz and np.array_equal(npz["cells"], mesh.cells)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "grid" not in summary and summary["mesh"]["elements"] == mesh.n_elements


def test_general_2d_density_figure_draws_the_cells_y_up():
    mesh = distorted((6, 3), (6.0, 3.0), cell_type="T3")
    rho = (mesh.element_centers[:, 1] > 1.5) * 1.0
    ax = writer.density_figure(mesh, rho).axes[0]
    assert not ax.images and len(ax.collections) == 1
    np.testing.assert_array_equal(ax.collections[0].get_array(), rho)
    assert ax.get_ylim() == (0.0, 3.0) and ax.get_xlim() == (0.0, 6.0) and ax.get_aspect() == 1.0


@pytest.mark.parametrize("cell_type", ["T4", None])
def test_solid_boundary_is_closed_and_outward(cell_type):
    box = StructuredMesh((3, 2, 2), (3.0, 2.0, 2.0))
    mesh = distorted(box.grid, box.size, amount=0.0, cell_type=cell_type)
    faces = solid_boundary(mesh, np.ones(mesh.n_elements))
    assert len(faces) == (2 * 32 if cell_type else 32)  # 32 unit squares on the box's surface
    # Divergence theorem on the planar faces: Σ (x · n) A / 3 = V only for outward normals.
    p = mesh.node_coords[faces]
    area_normals = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]) / (2 if cell_type else 1)
    assert np.einsum("fd,fd->", p[:, 0], area_normals) / 3 == pytest.approx(12.0)
    writer.density_figure_3d(mesh, np.ones(mesh.n_elements))  # draws without error
