"""The AM overhang filter on mesh files (femopt.design.overhang_mesh): its VJP against finite
differences on every cell type, the grid filter reproduced on a mesh file that is a grid,
its supports and slices, a printable design on a mesh file, check-grad, and its settings."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt
from femopt.build import build
from femopt.cli import main
from femopt.design.overhang import OverhangFilter
from femopt.design.overhang_mesh import MeshOverhangFilter, grid_support_count
from femopt.mesh import StructuredMesh

from helpers import central_difference, config_error, mbb_data, write_yaml
from mesh_helpers import as_general, general_mesh

MESHIO_NAMES = {"Q4": "quad", "T3": "triangle", "T6": "triangle6", "H8": "hexahedron", "T4": "tetra",
                "T10": "tetra10"}
CORNER_45 = float(np.degrees(np.arctan(1 / np.sqrt(2))))  # the cone that reaches a cube's corner neighbours


def write_msh(path, mesh) -> str:
    """A femopt Mesh as a gmsh 2.2 file (2D meshes at z = 0)."""
    points = mesh.node_coords if mesh.dim == 3 else np.c_[mesh.node_coords, np.zeros(mesh.n_nodes)]
    meshio.write(path, meshio.Mesh(points, [(MESHIO_NAMES[mesh.cell_type.name], mesh.cells)]),
                 file_format="gmsh22", binary=False)
    return str(path)


def grid_mesh(grid):
    return as_general(StructuredMesh(grid, tuple(float(n) for n in grid)))


# ---------------------------------------------------------------- the filter


@pytest.mark.parametrize("name, grid, direction", [
    ("T3", (9, 6), "+y"), ("T6", (6, 5), "-x"), ("Q4", (8, 6), "-y"),
    ("T4", (4, 3, 4), "+z"), ("T10", (3, 3, 3), "-y"), ("H8", (4, 4, 5), "+x")])
def test_vjp_matches_finite_differences(name, grid, direction):
    am = MeshOverhangFilter.from_mesh(general_mesh(name, grid), direction)
    rng = np.random.default_rng(3)
    n = len(am.slices)
    blueprint, cotangent = rng.uniform(0.05, 0.95, n), rng.standard_normal(n)
    gradient = am.vjp(blueprint, am.apply(blueprint), cotangent)
    for _ in range(3):
        step = rng.standard_normal(n) / np.sqrt(n)
        fd = central_difference(lambda x: cotangent @ am.apply(x), blueprint, step, h=1e-6)
        assert gradient @ step == pytest.approx(fd, rel=1e-7, abs=1e-10)
    e = int(np.flatnonzero(am.slices == 0)[0])  # a base element: it reaches every slice above
    fd = central_difference(lambda x: cotangent @ am.apply(x), blueprint, np.eye(1, n, e).ravel(), h=1e-6)
    assert gradient[e] == pytest.approx(fd, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("grid, direction, angle, support", [
    ((9, 6), "+y", 45.0, 3), ((9, 6), "-x", 45.0, 3), ((5, 4, 6), "+z", 45.0, 5),
    ((5, 4, 6), "-y", CORNER_45, 9), ((5, 4, 6), "+x", 45.0, 5)])
def test_on_a_grid_the_mesh_method_is_the_grid_filter(grid, direction, angle, support):
    """Square elements, the grid's layer height: the cone finds the grid filter's supports
    (the ones inside the domain), and the printed densities and VJP are the grid's."""
    am = MeshOverhangFilter.from_mesh(grid_mesh(grid), direction, angle=angle)
    on_grid = OverhangFilter(grid, direction, support)
    assert am.layer == 1.0 and grid_support_count(len(grid), angle) == support
    above = ~am.base_layer()
    assert am.n_supports[above].max() == support and np.array_equal(above, ~on_grid.base_layer())
    rng = np.random.default_rng(4)
    x, bar = rng.uniform(0, 1, len(am.slices)), rng.standard_normal(len(am.slices))
    np.testing.assert_allclose(am.apply(x), on_grid.apply(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(am.vjp(x, am.apply(x), bar), on_grid.vjp(x, on_grid.apply(x), bar),
                               rtol=0, atol=1e-12)


def test_supports_are_the_elements_of_the_slice_below_in_the_cone():
    """A 4 × 3 grid printed along +y: element (i, j)'s supports are (i − 1 … i + 1, j − 1); at
    60° only the element below, at 30° two more on each side (cot 30° = 1.73 → 1 + 2·1 … no:
    ⌊1.73⌋ = 1, so 3), at 20° (cot = 2.75) five."""
    mesh = grid_mesh((6, 3))
    def rows(angle):
        supports = MeshOverhangFilter.from_mesh(mesh, "+y", angle=angle).supports
        return sorted(supports[2 * 3 + 1].indices.tolist())  # element (2, 1): numbered y fastest
    assert rows(45.0) == [3, 6, 9]  # (1, 0), (2, 0), (3, 0)
    assert rows(60.0) == [6]
    assert rows(20.0) == [0, 3, 6, 9, 12]
    assert [grid_support_count(2, a) for a in (60.0, 45.0, 30.0, 20.0)] == [1, 3, 3, 5]
    assert [grid_support_count(3, a) for a in (60.0, 45.0, CORNER_45)] == [1, 5, 9]


def test_an_unsupported_block_is_not_printed_and_a_45_degree_wedge_is():
    """On a distorted triangle mesh printed along +y: a solid block floating over void prints
    near void; a solid field prints solid (about 1, never below); a wedge widening at 27°
    from the vertical is printable."""
    mesh = general_mesh("T3", (16, 12), amount=0.2)
    am = MeshOverhangFilter.from_mesh(mesh, "+y")
    c = mesh.element_centers
    ones = am.apply(np.ones(mesh.n_elements))
    assert ones.min() >= 1.0 - 1e-12 and ones.max() < 1.006
    block = ((c[:, 1] > 6) & (c[:, 0] > 4) & (c[:, 0] < 12)).astype(float)
    assert am.apply(block)[block > 0].max() < 0.1
    wedge = (np.abs(c[:, 0] - 8.0) < 1.5 + 0.5 * c[:, 1]).astype(float)
    printed = am.apply(wedge)
    # its jagged edge of triangles leaves a few elements without a solid one in their cone
    assert np.median(printed[wedge > 0]) > 0.99 and am.unsupported(wedge).sum() <= 0.02 * wedge.sum()
    assert am.unsupported(block).sum() > 0 and not am.unsupported(block)[am.base_layer()].any()


def test_layer_height_and_describe():
    mesh = general_mesh("T4", (4, 4, 4))
    am = MeshOverhangFilter.from_mesh(mesh, "-z", layer=0.5)
    assert am.layer == 0.5 and am.slices.max() == 7
    assert am.slices[np.argmax(mesh.element_centers[:, 2])] == 0  # printed from the top down
    assert am.describe().startswith("overhang filter on the mesh: 8 slices of 0.5, 45° cone, median ")


# ---------------------------------------------------------------- through mesh files


def test_langelaars_reference_through_a_q4_mesh_file(tmp_path):
    """The 120 × 40 MBB beam as a Q4 mesh file: the mesh method (layer 1, 45°) gives Langelaar's
    first-iteration compliance 1029.1342347987 (AMfilter.m in the 88-line code), as the grid does."""
    data = mbb_data(120, 40, "density", 3.5)
    data["mesh"] = {"file": write_msh(tmp_path / "mbb.msh", grid_mesh((120, 40)))}
    data["design"]["overhang"] = {"build_direction": "+y"}
    model = build(femopt.load_config(data))
    assert isinstance(model.overhang, MeshOverhangFilter) and model.overhang.layer == 1.0
    assert model.evaluator()(model.x0).objective == pytest.approx(1029.1342347987, rel=1e-7)
    assert any(n.startswith("overhang filter on the mesh: 40 slices of 1, 45° cone") for n in model.notices)


def cantilever_file(tmp_path, name="T3", grid=(8, 4)):
    mesh = general_mesh(name, grid, amount=0.2)
    nx, ny = grid[:2]
    data = {"mesh": {"file": write_msh(tmp_path / f"part.msh", mesh)},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 1.5},
                       "projection": {"beta": 2.0}}}
    if len(grid) == 2:
        data["loads"] = [{"at": {"x": nx, "y": 0}, "force": [0.0, -1.0]}]
    else:
        data["loads"] = [{"at": {"x": nx, "y": 0, "z": grid[2]}, "force": [0.0, 0.0, -1.0]}]
    return data


@pytest.mark.parametrize("name, grid, direction", [("T3", (10, 5), "+y"), ("T6", (6, 3), "-x"),
                                                   ("T4", (4, 2, 3), "+z")])
def test_check_grad_passes_on_a_mesh_file(tmp_path, name, grid, direction):
    data = cantilever_file(tmp_path, name, grid)
    data["design"]["overhang"] = {"build_direction": direction}
    path = write_yaml(tmp_path, yaml.safe_load(yaml.safe_dump(data)))
    result = CliRunner().invoke(main, ["check-grad", str(path), "--samples", "3", "--tolerance", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


def unsupported_fraction(am, rho):
    """Solid elements (ρ > 0.5) above the base slice with no solid element in their cone below,
    as a fraction of those solid elements."""
    solid = (rho > 0.5) & ~am.base_layer()
    return am.unsupported(rho).sum() / max(solid.sum(), 1)


@pytest.mark.slow
def test_a_design_on_a_mesh_file_is_printable(tmp_path):
    """An MBB beam as a distorted T3 mesh file, printed along +y, MMA with projection: with the
    filter (almost) every solid element stands on a solid one in its cone, without it several
    percent do not; the compliance costs little."""
    mesh = general_mesh("T3", (36, 12), amount=0.2)
    data = mbb_data(36, 12, "density", 1.5, type="mma", max_iterations=80, tolerance=0.001)
    data["mesh"] = {"file": write_msh(tmp_path / "mbb.msh", mesh)}
    data["design"]["projection"] = {"beta": {"start": 1, "end": 8, "factor": 2, "every": 20}}
    data["constraints"] = [{"type": "volume", "limit": 0.5}]
    free = femopt.run(data, tmp_path / "free")
    data["design"]["overhang"] = {"build_direction": "+y"}
    printed = femopt.run(data, tmp_path / "printed")
    am = MeshOverhangFilter.from_mesh(mesh, "+y")
    on, off = unsupported_fraction(am, printed.rho), unsupported_fraction(am, free.rho)
    print(f"unsupported {on:.4f} with, {off:.4f} without; compliance {printed.objective:.4f} / {free.objective:.4f}")
    assert on <= 0.01 and off >= 0.02, (on, off)
    assert printed.objective <= 1.3 * free.objective


# ---------------------------------------------------------------- settings


def mesh_file_data(tmp_path, overhang, name="T3", grid=(8, 4)):
    data = cantilever_file(tmp_path, name, grid)
    data["design"]["overhang"] = overhang
    return data


def test_settings_on_a_mesh_file(tmp_path):
    cfg = femopt.load_config(mesh_file_data(tmp_path, {"build_direction": "-y", "angle": 50, "layer": 0.4}))
    assert (cfg.design.overhang.angle, cfg.design.overhang.layer) == (50.0, 0.4)
    model = build(cfg)
    assert model.overhang.angle == 50.0 and model.overhang.layer == 0.4


@pytest.mark.parametrize("overhang, name, expected", [
    ({"build_direction": "+y", "support": 3}, "T3", "design.overhang.support: for grids only: on a mesh "
     "file the supports are the elements in the cone under each element (set angle, default 45)"),
    ({"build_direction": "+z"}, "T3", "design.overhang.build_direction: a 2D mesh has no z axis "
     "(use +x, -x, +y, -y)"),
    ({"build_direction": "+y", "angle": 90}, "T3", "design.overhang.angle: must be in [10, 90), got 90"),
    ({"build_direction": "+y", "angle": "steep"}, "T3", "design.overhang.angle: expected a number"),
    ({"build_direction": "+z", "layer": 0}, "T4", "design.overhang.layer: must be > 0, got 0"),
    ({"build_direction": "+z", "layer": 1, "slices": 3}, "T4", "design.overhang.slices: unknown key"),
])
def test_bad_settings_on_a_mesh_file_are_one_line_errors(tmp_path, overhang, name, expected):
    grid = (8, 4) if name == "T3" else (3, 2, 2)
    assert config_error(mesh_file_data(tmp_path, overhang, name, grid)).startswith(f"p.yaml: {expected}")


@pytest.mark.parametrize("key, value", [("angle", 45), ("layer", 1.0)])
def test_angle_and_layer_are_for_mesh_files(key, value):
    data = mbb_data(6, 2)
    data["design"]["overhang"] = {"build_direction": "+y", key: value}
    assert config_error(data) == (f"p.yaml: design.overhang.{key}: for mesh files only: on a grid the "
                                  "supports are the elements below (45°; support: 3)")


def test_validate_describes_the_slices(tmp_path):
    path = write_yaml(tmp_path, mesh_file_data(tmp_path, {"build_direction": "+z", "layer": 0.25}, "T4", (3, 2, 2)))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "overhang filter on the mesh: 8 slices of 0.25, 45° cone, median " in result.output
    assert "elements above the base slice with none in their cone" in result.output  # slices too thin


def test_a_bad_setting_is_one_line_exit_2_from_the_command_line(tmp_path):
    path = write_yaml(tmp_path, mesh_file_data(tmp_path, {"build_direction": "+y", "support": 9}))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and "design.overhang.support: for grids only" in result.output
