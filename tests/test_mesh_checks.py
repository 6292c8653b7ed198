"""Checks of meshes read from files (femopt.mesh.checks): coincident nodes along a seam are
merged (with a notice), parts that float free are refused for every solver, coordinates
double precision cannot carry are refused — each as one line, in validate and run alike."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt
from femopt.cli import main
from femopt.errors import FemoptError
from femopt.mesh import read_mesh
from femopt.mesh.checks import merge_coincident_nodes, parts

from test_meshfile import plate_mesh, plate_problem


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(folder, mesh: meshio.Mesh, data: dict, name="plate"):
    """The mesh as folder/name.msh and the problem as folder/name.yaml (naming it)."""
    meshio.write(folder / f"{name}.msh", mesh, file_format="gmsh22", binary=False)
    data = {**data, "mesh": {**data["mesh"], "file": f"{name}.msh"}}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return folder / f"{name}.yaml"


def seamed(mesh: meshio.Mesh, x_seam: float, shift: float = 0.0, y_below: float = np.inf) -> meshio.Mesh:
    """``mesh`` cut along x = x_seam up to y_below: the nodes on that line get a copy (moved
    by ``shift``, round-off of an exporter) that the cells and lines right of it use instead."""
    points = mesh.points
    on_seam = np.flatnonzero(np.isclose(points[:, 0], x_seam) & (points[:, 1] < y_below))
    copy = np.full(len(points), -1)
    copy[on_seam] = len(points) + np.arange(len(on_seam))
    new_points = np.vstack([points, points[on_seam] + [shift, 0, 0]])
    blocks = []
    for block in mesh.cells:
        data = block.data.copy()
        right = points[data].mean(axis=1)[:, 0] > x_seam
        moved = data[right]
        moved[copy[moved] >= 0] = copy[moved][copy[moved] >= 0]
        data[right] = moved
        blocks.append((block.type, data))
    return meshio.Mesh(new_points, blocks, cell_data=mesh.cell_data, field_data=mesh.field_data)


# ---------------------------------------------------------------- coincident nodes


@pytest.mark.parametrize("shift, y_below, merged", [(0.0, 0.6, 3), (1e-9, 0.6, 3), (0.0, np.inf, 5)])
def test_a_seam_of_duplicate_nodes_is_welded(tmp_path, shift, y_below, merged):
    """Before: a plate cracked along the lower half of x = 2 ran silently (compliance 3269
    against 2339 after 3 iterations); cut through, its right half was held by nothing."""
    welded = plate_mesh()
    data = plate_problem("plate.msh")
    data["optimizer"] = {"max_iterations": 3}
    whole = femopt.run(write(tmp_path, welded, data, "whole"))
    config = write(tmp_path, seamed(welded, 2.0, shift, y_below), data, "seamed")
    mesh = read_mesh(tmp_path / "seamed.msh")
    reference = read_mesh(tmp_path / "whole.msh")
    assert mesh.merged_nodes == merged and mesh.n_nodes == reference.n_nodes
    assert np.allclose(mesh.node_coords, reference.node_coords, atol=2e-9)
    assert np.array_equal(mesh.cells, reference.cells)
    for kind in ("node_groups", "facet_groups", "cell_groups"):
        groups, expected = getattr(mesh, kind), getattr(reference, kind)
        assert groups.keys() == expected.keys()
        assert all(np.array_equal(groups[k], expected[k]) for k in groups), kind
    result = femopt.run(config)
    assert result.objective == pytest.approx(whole.objective, rel=1e-6)

    notice = (f"mesh.file: merged {merged} nodes into the nodes at the same place (an unwelded seam?); "
              "the mesh has 45 nodes")
    checked = invoke("validate", config)
    assert checked.exit_code == 0 and notice in checked.stdout.splitlines()
    ran = invoke("run", config, "-o", tmp_path / "out", "-q")
    assert ran.exit_code == 0 and notice in ran.stderr.splitlines()


def test_nodes_farther_apart_than_the_tolerance_stay_apart(tmp_path):
    meshio.write(tmp_path / "gap.msh", seamed(plate_mesh(), 2.0, shift=1e-4), file_format="gmsh22", binary=False)
    assert read_mesh(tmp_path / "gap.msh").merged_nodes == 0


def test_merging_chains_clusters_to_their_lowest_node_and_drops_the_rest():
    coords = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [1, 0], [1 + 1e-12, 1e-12], [2, 0], [2, 1], [1, 1]], float)
    cells = np.array([[0, 1, 2, 3], [4, 6, 7, 8]])
    facets = {"seam": np.array([[5, 8]]), "end": np.array([[6, 7]])}
    merged = merge_coincident_nodes(coords, cells, {"right": np.array([4, 5, 6, 7, 8])}, facets)
    new_coords, new_cells, node_groups, facet_groups, count = merged
    assert count == 3 and len(new_coords) == 6   # nodes 4, 5 → 1 and 8 → 2; none left unused
    assert new_cells.tolist() == [[0, 1, 2, 3], [1, 4, 5, 2]]
    assert node_groups["right"].tolist() == [1, 2, 4, 5]
    assert {name: f.tolist() for name, f in facet_groups.items()} == {"seam": [[1, 2]], "end": [[4, 5]]}


# ---------------------------------------------------------------- disconnected parts


def with_island(mesh: meshio.Mesh, offset=(10.0, 0.0)) -> meshio.Mesh:
    """``mesh`` with a second copy of its first two triangles, moved away: a floating island."""
    triangles = mesh.cells[0].data[:2]
    nodes = np.unique(triangles)
    new = len(mesh.points) + np.arange(len(nodes))
    renumber = dict(zip(nodes, new))
    island = np.vectorize(renumber.get)(triangles)
    points = np.vstack([mesh.points, mesh.points[nodes] + [*offset, 0]])
    blocks = [(b.type, np.vstack([b.data, island]) if i == 0 else b.data) for i, b in enumerate(mesh.cells)]
    physical = [np.concatenate([p, [0, 0]]) if i == 0 else p for i, p in enumerate(mesh.cell_data["gmsh:physical"])]
    return meshio.Mesh(points, blocks, cell_data={"gmsh:physical": physical}, field_data=mesh.field_data)


@pytest.mark.parametrize("solver", ["cholmod", "superlu", "amg", "reuse"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_floating_island_is_refused_for_every_solver(tmp_path, command, solver):
    data = plate_problem("plate.msh")
    data["solver"] = solver
    config = write(tmp_path, with_island(plate_mesh()), data)
    out = tmp_path / "out"
    result = invoke(command, config, *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {config}: mesh.file: the mesh has 2 disconnected parts (64 and 2 "
                             "elements); the part of 2 elements has no support or spring, so the stiffness "
                             "matrix is singular — remove them from the mesh, connect them to the rest, or "
                             "support them\n")
    assert result.stdout == "" and not out.exists()


def test_separate_parts_each_supported_run(tmp_path):
    """Two plates side by side, each clamped on its left edge: a legitimate problem."""
    data = plate_problem("plate.msh")
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}, {"at": {"x": 10}, "fix": "all"}]
    data["optimizer"] = {"max_iterations": 2}
    two = plate_mesh()
    points = np.vstack([two.points[:-1], two.points[:-1] + [10, 0, 0]])
    n = len(two.points) - 1
    triangles = two.cells[0].data
    blocks = [("triangle", np.vstack([triangles, triangles + n]))] + [(b.type, b.data) for b in two.cells[1:]]
    physical = [np.concatenate([two.cell_data["gmsh:physical"][0]] * 2)] + list(two.cell_data["gmsh:physical"][1:])
    mesh = meshio.Mesh(points, blocks, cell_data={"gmsh:physical": physical}, field_data=two.field_data)
    config = write(tmp_path, mesh, data)
    assert np.isfinite(femopt.run(config).objective)
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}, {"at": {"x": 10, "y": 0}, "fix": "all"}]
    config = write(tmp_path, mesh, data)
    with pytest.raises(FemoptError) as info:
        femopt.prepare(config)
    assert str(info.value).endswith("mesh.file: the mesh has 2 disconnected parts (64 and 64 elements); the "
                                    "one of 64 elements can still move as a rigid body, so the stiffness "
                                    "matrix is singular — fix more "
                                    "components of it, or connect it to the rest")


def test_a_spring_holds_a_part():
    from femopt.mesh import Mesh
    from femopt.fem.problem import check_parts

    coords = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [3, 0], [4, 0], [4, 1], [3, 1]], float)
    mesh = Mesh(coords, [[0, 1, 2, 3], [4, 5, 6, 7]], "Q4")
    check_parts(mesh, np.arange(8), 1)                 # temperatures: one node per part is enough
    with pytest.raises(FemoptError, match="the part of 1 elements has no support or spring"):
        check_parts(mesh, np.arange(8), 2)
    check_parts(mesh, np.r_[0:8, 8:16], 2)            # fixed DOFs and springs, node-major
    assert parts(mesh.cells, 9)[0] == 2 and parts(mesh.cells, 9)[2][8] == -1


def test_the_parts_check_is_fast_on_many_islands():
    """Vectorized: 20,000 one-cell islands take no per-part Python loop before the refusal."""
    from femopt.mesh import Mesh
    from femopt.fem.problem import check_parts

    n = 20000
    corners = np.array([[0, 0], [1, 0], [0, 1]], float)
    coords = (corners[None] + 3 * np.arange(n)[:, None, None] * [1, 0]).reshape(-1, 2)
    mesh = Mesh(coords, np.arange(3 * n).reshape(n, 3), "T3")
    with pytest.raises(FemoptError, match=r"20000 disconnected parts \(1, 1, 1, 1, 1 and 19995 more elements\); "
                                          r"19999 of them"):
        check_parts(mesh, np.array([0, 1, 2, 3, 4, 5]), 2)


# ---------------------------------------------------------------- coordinates


@pytest.mark.parametrize("scale, message", [
    (1e150, "the mesh spans 4e+150 length units (the file's coordinates × mesh.scale 1e+150); femopt "
            "computes with parts of size 1e-50 to 1e+50 within 1e+50 of the origin (use other units, "
            "or another mesh.scale)"),
    (1e-60, "the mesh spans 4e-60 length units (the file's coordinates × mesh.scale 1e-60)"),
    (1e308, "node 20 has a coordinate that is not a finite number (inf, 0) (the file's coordinates × "
            "mesh.scale 1e+308)"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_scaled_coordinates_out_of_range_are_one_line(tmp_path, command, scale, message):
    """Before: scale 1e150 passed validate and failed in run's KD-tree (ValueError: data must
    be finite); 1e-60 ran to a 'converged' nonsense."""
    data = plate_problem("plate.msh")
    data["mesh"]["scale"] = scale
    config = write(tmp_path, plate_mesh(), data)
    out = tmp_path / "out"
    result = invoke(command, config, *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {config}: mesh.file: {tmp_path / 'plate.msh'}: {message}")
    assert result.stderr.count("\n") == 1 and result.stdout == "" and not out.exists()


def test_coordinates_that_are_not_numbers_are_one_line(tmp_path):
    mesh = plate_mesh()
    mesh.points[3, 1] = np.nan
    meshio.write(tmp_path / "nan.vtu", mesh)
    with pytest.raises(FemoptError, match=r"nan.vtu: node 3 has a coordinate that is not a finite number \(\S+, nan\)$"):
        read_mesh(tmp_path / "nan.vtu")


@pytest.mark.parametrize("size, message", [
    ([1e200, 1.0], "mesh.size[0]: must be between 1e-50 and 1e+50 length units"),
    ([6.0, 1e-60], "mesh.size[1]: must be between 1e-50 and 1e+50 length units"),
])
def test_grid_sizes_out_of_range_are_one_line(size, message):
    data = {"mesh": {"grid": [6, 2], "size": size}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": size[0]}, "force": [0, -1]}], "design": {"volume_fraction": 0.5}}
    with pytest.raises(femopt.ConfigError) as info:
        femopt.load_config(data)
    assert str(info.value).startswith(f"<string>: {message}")
