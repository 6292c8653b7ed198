"""Result files of general (unstructured) meshes: VTU with their cell type and von Mises
stress, nodes and cells in result.npz, a figure drawn from the cells, the STL of 3D ones."""

import dataclasses
import json

import numpy as np
import pytest

from femopt.fem.elasticity import plane_stress_matrix, solid_matrix
from femopt.mesh import StructuredMesh
from femopt.output import files, writer
from femopt.output.volume import isosurface_tetrahedra, solid_boundary
from femopt.responses.stress import centre_von_mises

from mesh_helpers import as_general, distorted
from test_3d import assert_closed_outward, read_binary_stl
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
    paths = writer.write_results(tmp_path, "general", mesh, result, material=(2.0, 0.3))
    assert [p.name for p in paths] == list(files.FILES_3D if mesh.dim == 3 else files.FILES_MESH)
    vtu = meshio.read(tmp_path / "density.vtu")
    assert vtu.cells[0].type == mesh.cell_type.meshio_name
    np.testing.assert_array_equal(vtu.cells[0].data, mesh.cells)
    np.testing.assert_allclose(vtu.points[:, :mesh.dim], mesh.node_coords)
    np.testing.assert_allclose(vtu.cell_data["rho"][0], result.rho)
    np.testing.assert_allclose(vtu.point_data["u"][:, :mesh.dim], result.u[:, 0].reshape(-1, mesh.dim))
    np.testing.assert_allclose(vtu.cell_data["von_mises"][0], centre_von_mises(mesh, result.u[:, 0], 2.0, 0.3))
    if mesh.dim == 3:
        assert_closed_outward(read_binary_stl(tmp_path / "density.stl"))
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


def test_without_the_material_the_vtu_has_no_stress(tmp_path, small_result):
    meshio = pytest.importorskip("meshio")
    mesh = distorted((6, 3), (6.0, 3.0), cell_type="T3")
    writer.write_results(tmp_path, "general", mesh, _on_general_mesh(small_result[1], mesh))
    assert set(meshio.read(tmp_path / "density.vtu").cell_data) == {"rho", "x"}


@pytest.mark.parametrize("grid,cell_type", [((5, 3), None), ((5, 3), "T3"), ((3, 2, 2), None),
                                            ((3, 2, 2), "T4")])
def test_von_mises_of_homogeneous_strains(grid, cell_type):
    """Affine displacements (every cell type reproduces them) give one stress everywhere:
    against D ε by hand, and the closed forms E ε (uniaxial) and √3 G γ (shear)."""
    mesh = distorted(grid, tuple(float(n) for n in grid), amount=0.3, cell_type=cell_type)
    E, nu, eps = 3.0, 0.25, 1e-3
    dim, x = mesh.dim, mesh.node_coords
    uniaxial = np.zeros_like(x)
    uniaxial[:, 0] = eps * x[:, 0]
    uniaxial[:, 1:] = -nu * eps * x[:, 1:]          # free lateral contraction: σ = E ε e_x e_x
    np.testing.assert_allclose(centre_von_mises(mesh, uniaxial.ravel(), E, nu), E * eps, rtol=1e-10)
    shear = np.zeros_like(x)
    shear[:, 0] = eps * x[:, 1]                     # γ_xy = ε, τ = G ε
    np.testing.assert_allclose(centre_von_mises(mesh, shear.ravel(), E, nu), np.sqrt(3) * E / (2 * (1 + nu)) * eps,
                               rtol=1e-10)
    # A general affine field against σ = D ε written out.
    A = np.random.default_rng(0).standard_normal((dim, dim)) * eps
    H = A
    if dim == 2:
        sx, sy, txy = plane_stress_matrix(E, nu) @ [H[0, 0], H[1, 1], H[0, 1] + H[1, 0]]
        expected = np.sqrt(sx**2 - sx * sy + sy**2 + 3 * txy**2)
    else:
        s = solid_matrix(E, nu) @ [H[0, 0], H[1, 1], H[2, 2], H[0, 1] + H[1, 0], H[1, 2] + H[2, 1],
                                   H[2, 0] + H[0, 2]]
        deviator = np.array([[s[0], s[3], s[5]], [s[3], s[1], s[4]], [s[5], s[4], s[2]]])
        deviator -= np.trace(deviator) / 3 * np.eye(3)
        expected = np.sqrt(1.5 * np.sum(deviator**2))   # the invariant form, another formula
    np.testing.assert_allclose(centre_von_mises(mesh, (x @ A.T).ravel(), E, nu), expected, rtol=1e-10)


def _surface_volume(vertices, triangles):
    """Volume enclosed by a closed triangulated surface (divergence theorem): positive
    when the triangles wind counter-clockwise seen from outside."""
    corners = vertices[triangles]
    return np.einsum("ij,ij->", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6


@pytest.mark.parametrize("cell_type", [None, "T4"])
def test_marching_tetrahedra_on_a_linear_field(cell_type):
    """ρ falling linearly along x: the solid x < 3.2 touches five faces of the box, where
    the surface is closed. On hexahedra the nodal averages reproduce the linear field
    (every node's cells lie symmetrically along x), and so does the interpolation: the
    volume is 3.2 · 4 · 4 to round-off. Kuhn's tetrahedra are not symmetric at the boundary."""
    mesh = distorted((6, 4, 4), (6.0, 4.0, 4.0), amount=0.0, cell_type=cell_type)
    rho = 1 - mesh.element_centers[:, 0] / 6.4
    vertices, triangles = isosurface_tetrahedra(mesh, rho)
    assert_closed_outward(vertices[triangles])
    if cell_type is None:
        assert _surface_volume(vertices, triangles) == pytest.approx(3.2 * 16, rel=1e-12)
        np.testing.assert_allclose([vertices.min(axis=0), vertices.max(axis=0)], [[0, 0, 0], [3.2, 4, 4]])
    else:
        assert _surface_volume(vertices, triangles) == pytest.approx(3.2 * 16, rel=0.02)


@pytest.mark.parametrize("cell_type", [None, "T4"])
def test_marching_tetrahedra_close_a_ball_cut_by_the_boundary(cell_type):
    """An eighth of a ball of radius 3 at a corner of a distorted mesh: closed, outward, and
    its volume close to the ball's and to that of the cells with ρ ≥ 0.5. (Nodal averages
    of the convex distance underestimate ρ, and the facets cut inside the sphere: the
    volume comes out 6–8 % low at 5 cells per radius.)"""
    mesh = distorted((8, 8, 8), (5.0, 5.0, 5.0), amount=0.3, cell_type=cell_type)
    rho = 1 - np.linalg.norm(mesh.element_centers, axis=1) / 6      # ρ = 0.5 at radius 3
    vertices, triangles = isosurface_tetrahedra(mesh, rho)
    assert_closed_outward(vertices[triangles])
    volume = _surface_volume(vertices, triangles)
    assert volume == pytest.approx(np.pi / 6 * 27, rel=0.1)
    assert volume == pytest.approx(mesh.element_volumes[rho >= 0.5].sum(), rel=0.1)


@pytest.mark.parametrize("cell_type", [None, "T4"])
def test_marching_tetrahedra_stay_closed_for_hard_fields(cell_type):
    """Random, binary (solids touching along an edge only), quantized (values on the level)
    and full fields on a distorted mesh; a full field gives the mesh's boundary."""
    mesh = distorted((5, 4, 3), (5.0, 4.0, 3.0), amount=0.3, cell_type=cell_type)
    rng = np.random.default_rng(5)
    for rho in (rng.random(mesh.n_elements), (rng.random(mesh.n_elements) > 0.5) * 1.0,
                np.round(rng.random(mesh.n_elements) * 4) / 4, np.ones(mesh.n_elements)):
        vertices, triangles = isosurface_tetrahedra(mesh, rho)
        assert_closed_outward(vertices[triangles])
    assert _surface_volume(vertices, triangles) == pytest.approx(60.0, rel=1e-12)
    assert len(isosurface_tetrahedra(mesh, np.zeros(mesh.n_elements))[1]) == 0


def test_marching_tetrahedra_on_a_grid_agree_with_marching_cubes():
    """Same field on a structured grid (marching cubes on centers) and as a general mesh
    (marching tetrahedra on nodal averages): volumes within 5 %."""
    from femopt.output.volume import isosurface

    box = StructuredMesh((10, 8, 6), (10.0, 8.0, 6.0))
    rho = 1 - np.linalg.norm(box.element_centers - [5, 4, 3], axis=1) / 6   # a ball of radius 3
    cubes = _surface_volume(*isosurface(box, rho))
    tets = _surface_volume(*isosurface_tetrahedra(as_general(box), rho))
    assert tets == pytest.approx(cubes, rel=0.05) and tets == pytest.approx(36 * np.pi, rel=0.1)
