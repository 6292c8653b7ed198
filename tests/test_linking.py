"""Symmetry and extrusion (femopt.design.linking): the linked physical densities hold to
round-off on grids and mesh files, their gradients match finite differences through the
linking map, bad meshes and passive regions are one-line errors, and resume works."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt
from femopt.build import build
from femopt.cli import main
from femopt.design.linking import Linking, LinkingError, build_linking, linked_groups
from femopt.mesh import StructuredMesh

from helpers import central_difference, config_error, write_yaml


def cantilever(grid=(40, 20), load=None, iterations=30, **design):
    """A cantilever clamped at x = 0, loaded downwards at ``load`` (default: off centre on the
    free end, at 3/4 of its height in 2D, at the corner (nx, 0, 0) in 3D)."""
    dim = len(grid)
    load = load or ({"x": grid[0], "y": 3 * grid[1] // 4} if dim == 2 else {"x": grid[0], "y": 0, "z": 0})
    return {"mesh": {"grid": list(grid)},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": load, "force": [0.0, -1.0] + [0.0] * (dim - 2)}],
            "design": {"volume_fraction": 0.4, "filter": {"type": "density", "radius": 1.5}, **design},
            "optimizer": {"type": "oc", "max_iterations": iterations}}


def as_grid(values, grid):
    """An element vector indexed [i, j(, k)] (femopt numbers y fastest, then x, then z)."""
    return values.reshape(grid) if len(grid) == 2 else values.reshape(grid[2], grid[0], grid[1]).transpose(1, 2, 0)


# ---------------------------------------------------------------- the designs


def test_symmetry_holds_to_round_off_where_the_free_design_is_lopsided():
    grid = (40, 20)
    free = as_grid(femopt.run(cantilever(grid)).rho, grid)
    result = femopt.run(cantilever(grid, symmetry=["y"]))
    rho = as_grid(result.rho, grid)
    assert np.abs(rho - rho[:, ::-1]).max() <= 1e-9
    assert np.abs(free - free[:, ::-1]).max() > 0.3   # visibly asymmetric without it
    assert result.x.shape == (800,)                    # outputs: element densities
    assert len(build(femopt.load_config(cantilever(grid, symmetry=["y"]))).x0) == 400


def test_symmetry_with_projection_and_an_explicit_plane():
    grid = (20, 10)
    data = cantilever(grid, iterations=15, symmetry=[{"axis": "y", "at": 5.0}, "x"],
                      projection={"beta": 4.0})
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}, {"at": {"x": 20}, "fix": "all"}]
    data["loads"][0]["at"] = {"x": 7, "y": 10}
    data["optimizer"]["type"] = "mma"
    rho = as_grid(femopt.run(data).rho, grid)
    assert np.abs(rho - rho[:, ::-1]).max() <= 1e-9 and np.abs(rho - rho[::-1]).max() <= 1e-9


@pytest.mark.parametrize("optimizer", ["oc", "mma", "lbfgs"])
def test_every_optimizer_runs_on_the_reduced_variables(optimizer):
    grid = (20, 10)
    data = cantilever(grid, iterations=5, symmetry=["y"])
    data["optimizer"] = {"type": optimizer, "max_iterations": 5, **({"inner_iterations": 5} if optimizer == "lbfgs" else {})}
    result = femopt.run(data)
    rho = as_grid(result.rho, grid)
    assert np.abs(rho - rho[:, ::-1]).max() <= 1e-9
    assert result.volume == pytest.approx(0.4, abs=0.01)


def test_extrusion_keeps_densities_constant_along_z():
    grid = (12, 6, 4)
    free = as_grid(femopt.run(cantilever(grid, iterations=10)).rho, grid)
    rho = as_grid(femopt.run(cantilever(grid, iterations=10, extrusion="z")).rho, grid)
    assert np.abs(rho - rho[:, :, :1]).max() <= 1e-12
    assert np.abs(free - free[:, :, :1]).max() > 0.05   # the corner load twists it otherwise


@pytest.mark.parametrize("filter_type", ["density", "helmholtz"])
def test_the_filtered_field_keeps_an_extrusion_at_the_end_faces(filter_type):
    grid = (8, 4, 3)
    model = build(femopt.load_config(cantilever(grid, extrusion="z", filter={"type": filter_type, "radius": 2.0})))
    evaluator = model.evaluator()
    z = np.random.default_rng(0).random(evaluator.n_variables)
    rho = as_grid(evaluator.densities(z)[-1], grid)
    assert np.abs(rho - rho[:, :, :1]).max() <= 1e-12
    if filter_type == "density":  # its truncated 3D neighbourhoods at the end faces alone break it
        unlinked = as_grid(evaluator.filter.apply(evaluator.space.embed(z)), grid)
        assert np.abs(unlinked - unlinked[:, :, :1]).max() > 1e-3


# ---------------------------------------------------------------- gradients through P


@pytest.mark.parametrize("grid, design", [
    ((8, 6), {"symmetry": ["y"], "projection": {"beta": 2.0}}),
    ((8, 6), {"symmetry": ["x", "y"], "filter": {"type": "sensitivity", "radius": 1.5}}),
    ((5, 4, 3), {"extrusion": "z", "projection": {"beta": 2.0}}),
    ((5, 4, 4), {"extrusion": "x", "symmetry": ["z"],
                 "passive": [{"type": "solid", "box": {"x": [0, 5], "y": [0, 1]}}]}),
], ids=["sym-y", "sym-xy-sensitivity", "extrude-z", "extrude-x-sym-z-passive"])
def test_gradient_through_the_linking_map_matches_finite_differences(grid, design):
    evaluator = build(femopt.load_config(cantilever(grid, **design)), rtol=1e-12).evaluator()
    rng = np.random.default_rng(1)
    z = 0.2 + 0.6 * rng.random(evaluator.n_variables)
    ev = evaluator(z, smooth=False)
    assert len(ev.gradient) == evaluator.n_variables < np.prod(grid)
    for _ in range(2):
        direction = rng.standard_normal(evaluator.n_variables)
        fd = central_difference(lambda v: [evaluator(v, smooth=False).objective,
                                           *evaluator(v, smooth=False).constraints], z, direction)
        exact = np.concatenate([[ev.gradient @ direction], ev.constraint_gradients @ direction])
        np.testing.assert_allclose(exact, fd, rtol=1e-6, atol=1e-9 * abs(fd[0]))


@pytest.mark.parametrize("grid, design", [
    ((10, 6), {"symmetry": ["y"]}), ((5, 3, 4), {"extrusion": "z"})], ids=["symmetry", "extrusion"])
def test_check_grad_passes(tmp_path, grid, design):
    data = cantilever(grid, **design, projection={"beta": 2.0})
    data.pop("optimizer")
    result = CliRunner().invoke(main, ["check-grad", str(write_yaml(tmp_path, data)), "--samples", "3",
                                       "--tolerance", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


# ---------------------------------------------------------------- the map itself


def test_groups_of_two_mirrors_and_an_extrusion():
    mesh = StructuredMesh((4, 2, 3), (4.0, 2.0, 3.0))
    linking = build_linking(mesh, [(0, None), (1, None)], 2)
    assert linking.n_variables == 2          # 4 × 2 columns, folded twice
    assert np.bincount(linking.group).tolist() == [12, 12]
    rho = np.random.default_rng(0).random(mesh.n_elements)
    average = linking.average(rho)
    np.testing.assert_allclose(linking.average(average), average)   # a projector
    bar = np.random.default_rng(1).random(mesh.n_elements)
    assert average @ bar == pytest.approx(rho @ linking.average_vjp(bar))
    z = np.arange(2.0)
    np.testing.assert_array_equal(linking.reduce(linking.expand(z)), z)


def test_elements_on_the_plane_are_their_own_partners():
    mesh = StructuredMesh((5, 2), (5.0, 2.0))
    linking = build_linking(mesh, [(0, None)])
    assert linking.n_variables == 6
    assert np.bincount(linking.group).tolist() == [2, 2, 2, 2, 1, 1]   # column x = 2.5 alone


def test_labels_spread_over_orbits():
    assert linked_groups(4, [np.array([1, 0, 3, 2])], np.array([0, 1, 1, 0])).tolist() == [0, 0, 0, 0]
    assert linked_groups(3, [np.array([2, 1, 0])]).tolist() == [0, 1, 0]


def test_an_off_centre_plane_leaves_elements_without_partner():
    mesh = StructuredMesh((6, 2), (6.0, 2.0))
    with pytest.raises(LinkingError, match=r"^4 of 12 elements found no mirror partner .* x = 2"):
        build_linking(mesh, [(0, 2.0)])


# ---------------------------------------------------------------- mesh files


def symmetric_triangles(nx=8, ny=4, perturb=0.0):
    """A T3 mesh of [0, nx] × [0, ny], mirror-symmetric about y = ny/2: squares below the
    middle split along one diagonal, above it along the other. perturb: moves one
    interior node along x by that much."""
    import meshio

    i, j = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    points = np.stack([i.ravel(), j.ravel()], axis=1).astype(float)
    points[(ny + 1) * 2 + 1, 0] += perturb   # node (2, 1)
    node = lambda a, b: a * (ny + 1) + b
    a, b = [g.ravel() for g in np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")]
    n00, n10, n01, n11 = node(a, b), node(a + 1, b), node(a, b + 1), node(a + 1, b + 1)
    lower = b < ny // 2
    t1 = np.where(lower[:, None], np.stack([n00, n10, n11], 1), np.stack([n00, n10, n01], 1))
    t2 = np.where(lower[:, None], np.stack([n00, n11, n01], 1), np.stack([n10, n11, n01], 1))
    return meshio.Mesh(np.column_stack([points, np.zeros(len(points))]), [("triangle", np.vstack([t1, t2]))])


def mesh_problem(path, **design):
    return {"mesh": {"file": str(path)},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 8, "y": 3}, "force": [0.0, -1.0]}],
            "design": {"volume_fraction": 0.4, "filter": {"type": "density", "radius": 1.5}, **design},
            "optimizer": {"type": "mma", "max_iterations": 8}}


def test_a_symmetric_mesh_file_gives_a_symmetric_design(tmp_path):
    import meshio

    path = tmp_path / "tri.vtu"
    meshio.write(path, symmetric_triangles())
    result = femopt.run(mesh_problem(path, symmetry=["y"]))
    centers = femopt.build.build_mesh(femopt.load_config(mesh_problem(path))).element_centers
    mirror = np.lexsort((centers[:, 0], 4 - centers[:, 1]))
    order = np.lexsort((centers[:, 0], centers[:, 1]))
    assert np.abs(result.rho[order] - result.rho[mirror]).max() <= 1e-9
    free = femopt.run(mesh_problem(path))
    assert np.abs(free.rho[order] - free.rho[mirror]).max() > 0.05


def test_an_asymmetric_mesh_file_is_one_line_exit_2(tmp_path):
    import meshio

    path = tmp_path / "tri.vtu"
    meshio.write(path, symmetric_triangles(perturb=0.05))  # 6 triangles at the node, and their partners
    result = CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, mesh_problem(path, symmetry=["y"])))])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "design.symmetry: 12 of 64 elements found no mirror partner" in result.output


def extruded_hexes(layers=(0.0, 0.5, 1.5, 3.0), skew=0.0):
    """An H8 mesh: a 3 × 2 grid of squares extruded through z ``layers`` (graded); skew
    moves the top layer's nodes along x by skew·x (no longer an extrusion)."""
    import meshio

    nx, ny, nz = 3, 2, len(layers) - 1
    i, j, k = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1), indexing="ij")
    points = np.stack([i.ravel(), j.ravel(), np.asarray(layers)[k.ravel()]], axis=1).astype(float)
    points[:, 0] += skew * points[:, 0] * (k.ravel() == nz)
    node = lambda a, b, c: (a * (ny + 1) + b) * (nz + 1) + c
    a, b, c = [g.ravel() for g in np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")]
    cells = np.stack([node(a, b, c), node(a + 1, b, c), node(a + 1, b + 1, c), node(a, b + 1, c),
                      node(a, b, c + 1), node(a + 1, b, c + 1), node(a + 1, b + 1, c + 1), node(a, b + 1, c + 1)], 1)
    return meshio.Mesh(points, [("hexahedron", cells)])


def test_extrusion_on_a_graded_mesh_file_and_a_skewed_one(tmp_path):
    import meshio

    good, bad = tmp_path / "good.vtu", tmp_path / "bad.vtu"
    meshio.write(good, extruded_hexes())
    meshio.write(bad, extruded_hexes(skew=0.1))
    data = {"mesh": {"file": str(good)}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 3, "y": 0, "z": 0}, "force": [0.0, -1.0, 0.0]}],
            "design": {"volume_fraction": 0.4, "extrusion": "z"}, "optimizer": {"type": "mma", "max_iterations": 3}}
    result = femopt.run(data)
    rho = result.rho.reshape(3, 2, 3)   # the cells' order: z fastest
    assert np.abs(rho - rho[:, :, :1]).max() <= 1e-12
    data["mesh"]["file"] = str(bad)
    result = CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, data))])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "design.extrusion: the mesh is not an extrusion along z" in result.output


# ---------------------------------------------------------------- passive regions, configuration


def test_a_one_sided_passive_region_is_refused(tmp_path):
    data = cantilever((10, 4), symmetry=["y"], passive=[{"type": "void", "box": {"x": [4, 6], "y": [0, 1]}}])
    result = CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, data))])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "design.symmetry: 4 elements are linked to elements with another passive state" in result.output
    data["design"]["passive"][0]["box"]["y"] = [0, 4]   # symmetric: fine
    result = CliRunner().invoke(main, ["validate", str(write_yaml(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert "design: 16 design variables for 40 elements (mirror-symmetric about y)" in result.output


@pytest.mark.parametrize("design, expected", [
    ({"symmetry": ["y", "y"]}, "design.symmetry[1]: a second mirror plane normal to y"),
    ({"symmetry": ["z"]}, "design.symmetry[0]: must be one of x, y, got 'z'"),
    ({"symmetry": "y"}, "design.symmetry: expected a list of mirror planes"),
    ({"symmetry": [{"axis": "y", "on": 3}]}, "design.symmetry[0].on: unknown key"),
    ({"extrusion": "w"}, "design.extrusion: must be one of x, y"),
    ({"symmetry": ["y"], "overhang": {"build_direction": "-y"}},
     "design.symmetry: a mirror plane normal to the build direction (y)"),
    ({"extrusion": "x", "overhang": {"build_direction": "+y"}},
     "design.extrusion: the overhang filter does not keep densities constant"),
])
def test_bad_settings_are_one_line_errors(design, expected):
    assert config_error(cantilever((10, 4), **design)).startswith(f"p.yaml: {expected}")


def test_overhang_with_a_mirror_along_the_build_direction_stays_symmetric():
    grid = (12, 6)
    data = cantilever(grid, iterations=5, symmetry=["x"], overhang={"build_direction": "+y"})
    data["supports"] = [{"at": {"y": 0}, "fix": "all"}]
    data["loads"][0]["at"] = {"x": 3, "y": 6}
    rho = as_grid(femopt.run(data).rho, grid)
    assert np.abs(rho - rho[::-1]).max() <= 1e-9


# ---------------------------------------------------------------- checkpoints


def test_a_resumed_linked_run_reaches_the_uninterrupted_result(tmp_path):
    import os
    import signal

    from femopt.output.checkpoint import Interrupted

    data = cantilever((30, 10), iterations=40, symmetry=["y"])
    data["optimizer"]["type"] = "mma"
    data["checkpoint"] = {"every": 5}
    whole = femopt.run(data)
    stop = whole.iterations // 2

    def interrupt(record):
        if record.iteration == stop:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        femopt.run(data, tmp_path, callback=interrupt)
    resumed = femopt.run(data, tmp_path, resume=True)
    assert resumed.iterations == whole.iterations
    assert resumed.objective == pytest.approx(whole.objective, rel=1e-9)
    np.testing.assert_allclose(resumed.rho, whole.rho, rtol=0, atol=1e-9)
