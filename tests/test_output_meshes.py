"""Result files of general (unstructured) meshes: VTU with their cell type, nodes and cells
in result.npz, a figure drawn from the cells."""

import dataclasses
import json

import numpy as np
import pytest

from femopt.mesh import StructuredMesh
from femopt.output import writer
from femopt.output.volume import solid_boundary

from mesh_helpers import distorted
from test_output import small_result  # noqa: F401 (a fixture: the history of a short run)


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
