"""Meshes from files (femopt.mesh.io) and the whole pipeline on them: groups become node,
facet and cell groups, bad files are one-line errors, the 88-line code's results come
back through a .msh file, and a triangle plate with groups runs end to end."""

from __future__ import annotations

import copy
from pathlib import Path

import meshio
import numpy as np
import pytest

import femopt
from femopt.errors import FemoptError, MeshError
from femopt.mesh import StructuredMesh, read_mesh

from helpers import mbb_data

# ---------------------------------------------------------------- files to read (helpers)


def grid_msh(path, nx=60, ny=20) -> Path:
    """A structured nx × ny grid of unit quads written as a gmsh 2.2 file, nodes and cells
    in StructuredMesh's numbering, z = 0 as gmsh writes 2D meshes."""
    grid = StructuredMesh((nx, ny), (float(nx), float(ny)))
    points = np.c_[grid.node_coords, np.zeros(grid.n_nodes)]
    meshio.write(path, meshio.Mesh(points, [("quad", grid.element_nodes)]), file_format="gmsh22",
                 binary=False)
    return Path(path)


PLATE_GROUPS = {"clamp": 1, "tip": 1, "top": 1, "pad": 2, "corner": 0}  # name: dimension


def plate_mesh(nx=8, ny=4, length=4.0, height=1.0) -> meshio.Mesh:
    """A length × height plate of 2·nx·ny counter-clockwise triangles with gmsh physical
    groups: lines clamp (x = 0), tip (x = length) and top (y = height), the cells pad
    (the last column of squares) and the point corner (0, 0); one orphan node at the end."""
    grid = StructuredMesh((nx, ny), (length, height))
    quads = grid.element_nodes
    triangles = np.vstack([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    x = grid.node_coords
    left = np.flatnonzero(np.isclose(x[:, 0], 0))
    right = np.flatnonzero(np.isclose(x[:, 0], length))
    top = np.flatnonzero(np.isclose(x[:, 1], height))

    def segments(nodes, axis):
        nodes = nodes[np.argsort(x[nodes, axis])]
        return np.c_[nodes[:-1], nodes[1:]]

    lines = [segments(left, 1), segments(right, 1), segments(top, 0)]
    centers = x[triangles].mean(axis=1)
    tags = {name: tag for tag, name in enumerate(PLATE_GROUPS, start=1)}
    cells = [("triangle", triangles), ("line", np.vstack(lines)), ("vertex", np.array([[left[0]]]))]
    physical = [np.where(centers[:, 0] > length - length / nx, tags["pad"], 0),
                np.repeat([tags["clamp"], tags["tip"], tags["top"]], [len(s) for s in lines]),
                np.array([tags["corner"]])]
    points = np.vstack([np.c_[x, np.zeros(len(x))], [[9.0, 9.0, 0.0]]])  # the orphan
    return meshio.Mesh(points, cells, cell_data={"gmsh:physical": physical,
                                                 "gmsh:geometrical": [np.ones_like(p) for p in physical]},
                       field_data={name: np.array([tags[name], d]) for name, d in PLATE_GROUPS.items()})


def plate_msh(path, **kwargs) -> Path:
    meshio.write(path, plate_mesh(**kwargs), file_format="gmsh22", binary=False)
    return Path(path)


def plate_problem(mesh_file) -> dict:
    """A cantilever plate on plate_msh: clamped at the left, a traction on the tip, a
    pressure on the top, a solid pad; a few iterations of OC."""
    return {
        "mesh": {"file": str(mesh_file)},
        "supports": [{"at": {"group": "clamp"}, "fix": "all"}],
        "loads": [{"at": {"group": "tip"}, "traction": [0.0, -1.0]},
                  {"at": {"group": "top"}, "pressure": 0.1}],
        "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 0.6},
                   "passive": [{"type": "solid", "group": "pad"}]},
        "optimizer": {"max_iterations": 5},
    }


# A gmsh 4.1 file as gmsh writes it: two unit quads; physical lines tip (x = 2) and clamp
# (x = 0), the physical surface domain.
GMSH41 = """$MeshFormat
4.1 0 8
$EndMeshFormat
$PhysicalNames
3
1 2 "tip"
1 3 "clamp"
2 1 "domain"
$EndPhysicalNames
$Entities
0 2 1 0
1 0 0 0 0 1 0 1 3 0
2 2 0 0 2 1 0 1 2 0
1 0 0 0 2 1 0 1 1 0
$EndEntities
$Nodes
1 6 1 6
2 1 0 6
1
2
3
4
5
6
0 0 0
1 0 0
1 1 0
0 1 0
2 0 0
2 1 0
$EndNodes
$Elements
3 4 1 4
2 1 3 2
1 1 2 3 4
2 2 5 6 3
1 1 1 1
3 1 4
1 2 1 1
4 5 6
$EndElements
"""

# Abaqus: a node set and element sets become groups (meshio's point_sets, cell_sets).
ABAQUS = """*NODE
1, 0, 0
2, 1, 0
3, 1, 1
4, 0, 1
*ELEMENT, TYPE=CPS4, ELSET=plate
1, 1, 2, 3, 4
*NSET, NSET=left
1, 4
"""


def tetra_mesh() -> meshio.Mesh:
    """Two tetrahedra sharing the face (1, 2, 3), with the physical surface 'base' (z = 0)."""
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    cells = [("tetra", np.array([[0, 1, 2, 3], [1, 2, 3, 4]])), ("triangle", np.array([[0, 2, 1]]))]
    # The second tetra must be positively oriented: (1, 2, 3, 4) is, (1, 3, 2, 4) is not.
    return meshio.Mesh(points, cells, cell_data={"gmsh:physical": [np.array([1, 1]), np.array([2])]},
                       field_data={"body": np.array([1, 3]), "base": np.array([2, 2])})


# ---------------------------------------------------------------- reading


def test_a_gmsh2_grid_reads_as_the_structured_grid(tmp_path):
    mesh = read_mesh(grid_msh(tmp_path / "grid.msh", 6, 2))
    grid = StructuredMesh((6, 2), (6.0, 2.0))
    assert mesh.dim == 2 and mesh.cell_type.name == "Q4"  # z = 0 dropped
    np.testing.assert_array_equal(mesh.node_coords, grid.node_coords)
    np.testing.assert_array_equal(mesh.cells, grid.element_nodes)
    np.testing.assert_allclose(mesh.element_volumes, 1.0)


def test_physical_groups_become_node_facet_and_cell_groups_and_orphans_go(tmp_path):
    mesh = read_mesh(plate_msh(tmp_path / "plate.msh"))
    assert mesh.cell_type.name == "T3" and mesh.n_elements == 64 and mesh.n_nodes == 45  # orphan dropped
    assert set(mesh.facet_groups) == {"clamp", "tip", "top"}
    assert set(mesh.cell_groups) == {"pad"} and set(mesh.node_groups) == set(PLATE_GROUPS)
    assert mesh.facet_groups["tip"].shape == (4, 2) and len(mesh.node_groups["tip"]) == 5
    np.testing.assert_allclose(mesh.node_coords[mesh.node_groups["tip"], 0], 4.0)
    np.testing.assert_allclose(mesh.node_coords[mesh.node_groups["corner"]], [[0.0, 0.0]])
    pad = mesh.cell_groups["pad"]
    assert len(pad) == 8 and np.all(mesh.element_centers[pad, 0] > 3.5)
    np.testing.assert_array_equal(mesh.node_groups["pad"], np.unique(mesh.cells[pad]))


def test_gmsh4_abaqus_and_3d_groups(tmp_path):
    (tmp_path / "two.msh").write_text(GMSH41)
    mesh = read_mesh(tmp_path / "two.msh")
    assert mesh.n_elements == 2 and set(mesh.cell_groups) == {"domain"}
    np.testing.assert_array_equal(mesh.facet_groups["tip"], [[4, 5]])
    np.testing.assert_array_equal(mesh.facet_groups["clamp"], [[0, 3]])

    (tmp_path / "one.inp").write_text(ABAQUS)
    mesh = read_mesh(tmp_path / "one.inp")
    np.testing.assert_array_equal(mesh.node_groups["left"], [0, 3])
    np.testing.assert_array_equal(mesh.cell_groups["plate"], [0])

    meshio.write(tmp_path / "tets.msh", tetra_mesh(), file_format="gmsh22", binary=False)
    mesh = read_mesh(tmp_path / "tets.msh")
    assert mesh.dim == 3 and mesh.cell_type.name == "T4"
    np.testing.assert_array_equal(mesh.facet_groups["base"], [[0, 2, 1]])
    np.testing.assert_array_equal(mesh.cell_groups["body"], [0, 1])


@pytest.mark.parametrize("cell_type", ["T3", "Q4", "T6", "T4", "H8", "T10"])
def test_a_mesh_with_every_cell_mirrored_is_read_turned_round(cell_type):
    """gmsh writes a surface meshed against its orientation with clockwise cells: all of
    them, so the mesh is simply mirrored; femopt turns it round (a mix stays an error)."""
    from femopt.element import cell_type as named
    from femopt.mesh.io import _MIRRORED, from_meshio

    cell = named(cell_type)
    points = np.vstack([cell.reference_nodes + shift for shift in (0.0, 3.0)])  # two cells
    cells = np.arange(2 * cell.n_nodes).reshape(2, -1)
    mirrored = meshio.Mesh(np.c_[points, np.zeros((len(points), 3 - cell.dim))],
                           [(cell.meshio_name, cells[:, _MIRRORED[cell_type]])])
    mesh = from_meshio(mirrored)
    np.testing.assert_array_equal(mesh.cells, cells)
    assert np.all(mesh.element_volumes > 0)
    mixed = meshio.Mesh(mirrored.points, [(cell.meshio_name, np.vstack([cells[0], mirrored.cells[0].data[1]]))])
    with pytest.raises(MeshError, match="cell 1 is inverted"):
        from_meshio(mixed)


def test_scale_multiplies_the_coordinates(tmp_path):
    mesh = read_mesh(plate_msh(tmp_path / "plate.msh"), scale=0.001)
    np.testing.assert_allclose(mesh.bounds[1], [0.004, 0.001])


def _write(tmp_path, mesh, name="bad.msh"):
    meshio.write(tmp_path / name, mesh, file_format="gmsh22", binary=False)
    return tmp_path / name


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.msh", "missing.msh: cannot read the mesh file: No such file or directory"),
    (lambda d: d, "cannot read the mesh file: it is a folder"),
    (lambda d: (d / "a.txt").write_text("hi") and d / "a.txt", "a.txt: unknown mesh format '.txt' (meshio reads "),
    (lambda d: (d / "junk.msh").write_text("garbage\n") and d / "junk.msh", "junk.msh: cannot read the mesh file: "),
    (lambda d: _write(d, meshio.Mesh(np.eye(3)[:, :2], [("triangle", np.array([[0, 1, 2]])),
                                                 ("quad", np.array([[0, 1, 2, 0], [0, 1, 2, 0]]))])),
     "bad.msh: mixed domain cell types (1 triangle, 2 quad); femopt needs one cell type per mesh"),
    (lambda d: _write(d, meshio.Mesh(np.eye(3), [("line", np.array([[0, 1], [1, 2]]))])),
     "bad.msh: no cells of dimension 2 or 3 (it has 2 line)"),
    (lambda d: _write(d, meshio.Mesh(np.eye(3), [("triangle", np.array([[0, 1, 2]]))])),
     "bad.msh: no 3D cells, and its 2D cells (1 triangle) are not in the plane z = 0"),
    (lambda d: _write(d, meshio.Mesh(np.eye(8)[:, :2], [("quad8", np.arange(8)[None])])),
     "bad.msh: quad8 cells are not supported (femopt reads quad, triangle, triangle6)"),
    (lambda d: _write(d, meshio.Mesh(np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float),
                                     [("triangle", np.array([[0, 1, 2], [0, 3, 2]]))])),
     "bad.msh: cell 1 is inverted or degenerate (Jacobian determinant -1): check its node order and "
     "coordinates; its nodes: (0, 0), (0, 1), (1, 1)"),
])
def test_bad_files_are_one_line_mesh_errors(tmp_path, make, expected):
    with pytest.raises(MeshError) as info:
        read_mesh(make(tmp_path))
    message = str(info.value)
    assert expected in message and "\n" not in message


# ---------------------------------------------------------------- the pipeline on file meshes


@pytest.mark.parametrize("filter_type, compliance, iterations", [
    ("sensitivity", 203.1925, 94),
    ("density", 218.8032, 127),
])
def test_top88_through_a_msh_file(tmp_path, filter_type, compliance, iterations):
    data = mbb_data(filter_type=filter_type)
    data["mesh"] = {"file": str(grid_msh(tmp_path / "grid.msh"))}
    model = femopt.prepare(data)
    assert not model.mesh.structured  # the general path: per-element matrices, KD-tree filter
    result = femopt.run(model)
    assert result.iterations == iterations
    assert round(result.objective, 4) == compliance


def test_a_triangle_plate_with_groups_runs_end_to_end(tmp_path):
    data = plate_problem(plate_msh(tmp_path / "plate.msh"))
    result = femopt.run(data, tmp_path / "out")
    assert result.iterations == 5 and np.isfinite(result.objective) and result.objective > 0
    pad = femopt.prepare(data).mesh.cell_groups["pad"]
    np.testing.assert_array_equal(result.rho[pad], 1.0)
    assert (tmp_path / "out" / "density.vtu").exists() and (tmp_path / "out" / "summary.json").exists()


def test_the_plate_runs_with_every_solver(tmp_path):
    data = plate_problem(plate_msh(tmp_path / "plate.msh"))
    data["optimizer"]["max_iterations"] = 2
    objectives = {}
    for solver in ("cholmod", "superlu", "amg", "reuse"):
        try:
            objectives[solver] = femopt.run(data, solver=solver).objective
        except FemoptError as e:  # cholmod missing on this machine
            assert solver == "cholmod" and "cholmod" in str(e).lower()
    reference = objectives["superlu"]
    for solver, value in objectives.items():
        assert value == pytest.approx(reference, rel=1e-5), solver


def test_a_loaded_mesh_file_is_read_once(tmp_path):
    data = plate_problem(plate_msh(tmp_path / "plate.msh"))
    assert femopt.prepare(data).mesh is femopt.prepare(copy.deepcopy(data)).mesh
