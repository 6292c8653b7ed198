"""3D: the H8 element against top3d, the top3d cantilever regression, memory-lean
assembly on hexahedra, and the 3D result files (VTU, STL, rendered PNG)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import femopt
from femopt.fem.assembly import Assembler
from femopt.build import build_problem
from femopt.cli import main
from femopt.config import load_config
from femopt.fem.elasticity import h8_stiffness
from femopt.mesh import StructuredMesh
from femopt.output.files import FILES_3D
from femopt.solvers import cholmod_available
from femopt.fem.dofs import DofMap

from helpers import CONFIGS, reuse_solver, write_yaml


def top3d_lk_H8(nu: float) -> np.ndarray:
    """KE of Liu & Tovar's top3d (Struct Multidisc Optim 50:1175, 2014), typed from the
    published closed form: k = (1/144) Aᵀ[1, ν], blocks K1..K6, KE = [...]/((ν+1)(1−2ν))."""
    A = np.array([[32, 6, -8, 6, -6, 4, 3, -6, -10, 3, -3, -3, -4, -8],
                  [-48, 0, 0, -24, 24, 0, 0, 0, 12, -12, 0, 12, 12, 12]], float)
    k = np.concatenate([[np.nan], A.T @ [1.0, nu] / 144])  # k[1..14], 1-based as published

    def block(rows):
        return k[np.array(rows)]

    K1 = block([[1, 2, 2, 3, 5, 5], [2, 1, 2, 4, 6, 7], [2, 2, 1, 4, 7, 6],
                [3, 4, 4, 1, 8, 8], [5, 6, 7, 8, 1, 2], [5, 7, 6, 8, 2, 1]])
    K2 = block([[9, 8, 12, 6, 4, 7], [8, 9, 12, 5, 3, 5], [10, 10, 13, 7, 4, 6],
                [6, 5, 11, 9, 2, 10], [4, 3, 5, 2, 9, 12], [11, 4, 6, 12, 10, 13]])
    K3 = block([[6, 7, 4, 9, 12, 8], [7, 6, 4, 10, 13, 10], [5, 5, 3, 8, 12, 9],
                [9, 10, 2, 6, 11, 5], [12, 13, 10, 11, 6, 4], [2, 12, 9, 4, 5, 3]])
    K4 = block([[14, 11, 11, 13, 10, 10], [11, 14, 11, 12, 9, 8], [11, 11, 14, 12, 8, 9],
                [13, 12, 12, 14, 7, 7], [10, 9, 8, 7, 14, 11], [10, 8, 9, 7, 11, 14]])
    K5 = block([[1, 2, 8, 3, 5, 4], [2, 1, 8, 4, 6, 11], [8, 8, 1, 5, 11, 6],
                [3, 4, 5, 1, 8, 2], [5, 6, 11, 8, 1, 8], [4, 11, 6, 2, 8, 1]])
    K6 = block([[14, 11, 7, 13, 10, 12], [11, 14, 7, 12, 9, 2], [7, 7, 14, 10, 2, 9],
                [13, 12, 10, 14, 7, 11], [10, 9, 2, 7, 14, 7], [12, 2, 9, 11, 7, 14]])
    KE = np.block([[K1, K2, K3, K4], [K2.T, K5, K6, K3.T], [K3.T, K6, K5.T, K2.T], [K4, K3, K2, K1.T]])
    return KE / ((nu + 1) * (1 - 2 * nu))


def top3d_local_corners(nelx: int = 3, nely: int = 2) -> np.ndarray:
    """(8, 3) corner offsets (di, dj, dk) of top3d's local nodes, derived from its edofMat.

    top3d numbers node (i, j, k) as k·(nelx+1)(nely+1) + i·(nely+1) + (nely+1−j), 1-based,
    j = 0 at the bottom: numbers grow *downwards* within a column. An element's first
    DOF is 3·n + 1, the x DOF of node m = n + 1 for n = nodegrd(row, col) — the node below
    n, i.e. the element's lower-left corner. Its 24 DOFs add [0 1 2, 3·nely+[3 4 5 0 1 2],
    −3 −2 −1] and the same shifted by one layer of 3·(nelx+1)(nely+1) DOFs.
    """
    layer_nodes = (nelx + 1) * (nely + 1)
    face = [0, 1, 2, *(3 * nely + np.array([3, 4, 5, 0, 1, 2])), -3, -2, -1]
    dofs = np.array(face + [3 * layer_nodes + d for d in face])
    offset = dofs[::3] // 3            # node number of each local node minus m
    # offset = dk·layer_nodes + di·(nely+1) − dj with di, dj, dk in {0, 1}.
    dk = np.rint(offset / layer_nodes).astype(int)
    rest = offset - dk * layer_nodes
    di = (rest + nely) // (nely + 1)
    dj = di * (nely + 1) - rest
    return np.column_stack([di, dj, dk])


def test_h8_equals_top3d_element_matrix_after_node_permutation():
    corners = top3d_local_corners()
    # femopt's local order: bottom face (z = 0) counter-clockwise from the origin, then z = 1.
    ours = np.array([[i, j, k] for k in (0, 1) for i, j in [(0, 0), (1, 0), (1, 1), (0, 1)]])
    assert sorted(map(tuple, corners)) == sorted(map(tuple, ours))  # a permutation of the cube
    perm = np.array([np.flatnonzero((corners == c).all(axis=1))[0] for c in ours])
    # It turns out to be the identity: top3d's edofMat walks the same corners in the
    # same order (its downward node numbers make "bottom-left" the row below n).
    np.testing.assert_array_equal(perm, np.arange(8))
    dofs = (3 * perm[:, None] + np.arange(3)).ravel()
    P = np.eye(24)[dofs]                                          # P KE_top3d Pᵀ in our order
    np.testing.assert_allclose(h8_stiffness(1.0, 0.3), P @ top3d_lk_H8(0.3) @ P.T, rtol=0, atol=1e-15)
    # A unit cube with ν = 0.3: diagonal 0.2350427 (= 2.75/11.7), as in top3d.
    assert h8_stiffness(1.0, 0.3)[0, 0] == pytest.approx(0.2350427350427, rel=1e-12)


def test_cantilever3d_reproduces_top3d():
    """top3d(30, 10, 2, 0.5, 3.0, 1.2): compliance 964.08 after 119 iterations."""
    model = femopt.prepare(CONFIGS / "cantilever3d.yaml")
    problem = model.problem
    assert problem.mesh.grid == (30, 10, 2) and problem.forces.sum() == -3.0  # 3 nodes × −1
    result = femopt.run(model)
    assert result.converged and result.iterations == 119
    assert result.objective == pytest.approx(964.08, rel=1e-4)


@pytest.mark.skipif(not cholmod_available(), reason="reuse needs scikit-sparse")
def test_cantilever3d_with_factorization_reuse_matches_top3d_with_fewer_factorizations():
    model = femopt.prepare(CONFIGS / "cantilever3d.yaml")
    model.solver = solver = reuse_solver()  # its decisions timed by work done, not by this machine
    result = femopt.run(model)
    assert result.iterations == 119 and result.objective == pytest.approx(964.08, rel=1e-4)
    assert result.factorizations == solver.n_factorizations < 60  # about 25: most steps reuse


def test_cantilever3d_with_amg_ends_within_half_a_percent_of_top3d():
    result = femopt.run(CONFIGS / "cantilever3d.yaml", solver="amg")
    assert result.solver == "amg" and result.converged and result.objective == pytest.approx(964.08, rel=5e-3)


def test_3d_assembly_in_chunks_equals_one_sort_and_dense_reference():
    mesh = StructuredMesh((4, 3, 2), (4.0, 3.0, 2.0))
    dofmap = DofMap(mesh, mesh.dim)
    ke = h8_stiffness(1.0, 0.3)
    rng = np.random.default_rng(0)
    free = np.setdiff1d(np.arange(dofmap.n_dofs), rng.choice(dofmap.n_dofs, 20, replace=False))
    scales = rng.uniform(0.1, 1.0, mesh.n_elements)
    one = Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs)
    dofs = dofmap.element_dofs
    dense = sp.coo_matrix(((scales[:, None, None] * ke).ravel(),
                           (np.repeat(dofs, 24, axis=1).ravel(), np.tile(dofs, 24).ravel())),
                          shape=(dofmap.n_dofs, dofmap.n_dofs)).toarray()[np.ix_(free, free)]
    np.testing.assert_allclose(one.matrix(scales).toarray(), np.tril(dense), atol=1e-14)
    v_bar = rng.standard_normal(one.nnz)
    for chunk_size in (1, 24, 500):  # one column at a time, a few columns, ...
        chunked = Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs, chunk_size=chunk_size)
        np.testing.assert_array_equal(chunked.indptr, one.indptr)
        np.testing.assert_array_equal(chunked.indices, one.indices)
        np.testing.assert_array_equal(chunked.values(scales), one.values(scales))  # same sums, same order
        np.testing.assert_array_equal(chunked.pullback(v_bar), one.pullback(v_bar))


def test_3d_assembly_stores_300_of_576_entries_per_element_in_int32():
    mesh = StructuredMesh((3, 2, 2), (3.0, 2.0, 2.0))
    dofmap = DofMap(mesh, mesh.dim)
    asm = Assembler(dofmap.element_dofs, h8_stiffness(1.0, 0.3), np.arange(dofmap.n_dofs), dofmap.n_dofs)
    assert asm.scatter.nnz == 300 * mesh.n_elements
    assert asm.indices.dtype == asm.indptr.dtype == asm.scatter.indices.dtype == np.int32
    assert np.shares_memory(asm.gather.data, asm.scatter.data)  # the transpose is a view


def small_3d_yaml(tmp_path, **extra):
    data = {
        "problem": "small3d",
        "mesh": {"grid": [12, 4, 3], "size": [12.0, 4.0, 3.0]},
        "supports": [{"at": {"x": 0}, "fix": "all"}],
        "loads": [{"at": {"x": 12, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
        "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 1.5}},
        "optimizer": {"type": "oc", "move": 0.2, "max_iterations": 50, "tolerance": 0.01},
        **extra,
    }
    return write_yaml(tmp_path, data, "small3d.yaml")


@pytest.fixture(scope="module")
def run_3d(tmp_path_factory):
    """A 3-iteration 3D run through the CLI; returns its output folder."""
    tmp_path = tmp_path_factory.mktemp("run3d")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(small_3d_yaml(tmp_path)), "-o", str(out),
                                       "--max-iterations", "3", "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_3d_run_writes_the_3d_file_set(run_3d):
    # nothing temporary left; the checkpoint stays, since the run stopped at its iteration limit;
    # .femopt: femopt's marker (femopt.output.folder.MARKER)
    assert sorted(p.name for p in run_3d.iterdir()) == sorted(FILES_3D + ("checkpoint.npz", ".femopt"))
    assert FILES_3D[-1] == "summary.json"
    assert json.loads((run_3d / "summary.json").read_text())["grid"] == [12, 4, 3]


def test_vtu_holds_the_densities_of_result_npz_in_element_order(run_3d):
    meshio = pytest.importorskip("meshio")
    vtu, npz = meshio.read(run_3d / "density.vtu"), np.load(run_3d / "result.npz")
    mesh = StructuredMesh(tuple(npz["grid"]), tuple(npz["size"]))
    assert [block.type for block in vtu.cells] == ["hexahedron"]
    hexes = vtu.cells[0].data
    np.testing.assert_array_equal(vtu.cell_data["rho"][0], npz["rho"])
    np.testing.assert_array_equal(vtu.cell_data["x"][0], npz["x"])
    # Cell e of the file is element e: its centroid is the element's center.
    np.testing.assert_allclose(vtu.points[hexes].mean(axis=1), mesh.element_centers, atol=1e-12)
    # VTK's hexahedron: bottom face counter-clockwise seen from above (normal towards the top).
    p = vtu.points[hexes[0]]
    assert np.dot(np.cross(p[1] - p[0], p[3] - p[0]), p[4] - p[0]) > 0
    np.testing.assert_allclose(vtu.point_data["u"], npz["u"][:, 0].reshape(-1, 3))


def read_binary_stl(path) -> np.ndarray:
    """(n, 3, 3) triangle corners of a binary STL, checking its declared count."""
    data = path.read_bytes()
    count = int(np.frombuffer(data[80:84], np.uint32)[0])
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    assert len(data) == 84 + count * record.itemsize
    return np.frombuffer(data[84:], record)["corners"].astype(float)


def assert_closed_outward(corners: np.ndarray) -> None:
    """Every edge shared by exactly two triangles (vertices merged by position), no
    degenerate triangle, and a positive enclosed volume (normals point outwards)."""
    _, vertex = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    triangles = vertex.reshape(-1, 3)
    assert np.all(triangles[:, [0, 1, 2]] != triangles[:, [1, 2, 0]])
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert np.all(uses == 2), np.bincount(uses)
    volume = np.einsum("ij,ij->", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6
    assert volume > 0


def test_stl_is_a_closed_outward_surface_inside_the_box(run_3d):
    corners = read_binary_stl(run_3d / "density.stl")
    assert len(corners) > 0
    assert_closed_outward(corners)
    assert corners.min() >= -1e-6 and np.all(corners.max(axis=(0, 1)) <= np.array([12, 4, 3]) + 1e-6)


def test_isosurface_is_closed_for_hard_fields():
    """Binary fields (solid cells touching along an edge only) and samples exactly at the level."""
    from femopt.output.volume import isosurface

    rng = np.random.default_rng(3)
    mesh = StructuredMesh((7, 5, 4), (7.0, 5.0, 8.0))
    for rho in ((rng.uniform(size=mesh.n_elements) > 0.5) * 1.0,
                np.round(rng.uniform(size=mesh.n_elements) * 4) / 4,
                np.ones(mesh.n_elements)):
        vertices, triangles = isosurface(mesh, rho)
        assert_closed_outward(vertices[triangles])
    vertices, _ = isosurface(mesh, np.ones(mesh.n_elements))   # full box: surface on its faces
    np.testing.assert_allclose([vertices.min(axis=0), vertices.max(axis=0)], [[0, 0, 0], [7, 5, 8]])


@pytest.mark.parametrize("name", ["cantilever3d", "bridge3d"])
def test_3d_examples_resolve_on_their_mesh(name):
    path = CONFIGS / f"{name}.yaml"
    assert path.read_text().startswith("#"), "each example opens with a comment"
    problem = build_problem(load_config(path))   # selections match nodes, no rigid-body mode left
    assert problem.mesh.dim == 3 and problem.forces.any()


def test_bridge3d_is_large_and_reuses_factorizations():
    config = load_config(CONFIGS / "bridge3d.yaml")
    assert np.prod(config.mesh.grid) >= 100_000
    assert config.solver.type == "reuse" and config.design.filter.type == "density"
    problem = build_problem(config)
    assert problem.forces[1::3].sum() == pytest.approx(-1.0)     # a unit total, downwards
    assert np.count_nonzero(problem.forces[1::3]) == 121 * 25    # every node of the top face
