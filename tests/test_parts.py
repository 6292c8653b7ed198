"""The shipped parts (meshes/*.msh and their configs): each mesh reads with its groups,
cell counts and geometry; each config validates; the 2D ones run and pass check-grad;
regenerating a mesh with gmsh gives the committed one again."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

import femopt
from femopt.cli import main
from femopt.mesh import read_mesh

from helpers import CONFIGS, ROOT

MESHES = ROOT / "meshes"

# name: (cell type, cells, {facet group: facets}, {cell group: cells}, area or volume in mm²/mm³)
# The volume is the part's exact one; the mesh's polygonal holes make it a little larger.
PARTS = {
    "lbracket": ("T3", 10691, {"clamp": 34, "tip": 9}, {"domain": 10691},
                 100 * 100 - 60 * 60 - (25 - math.pi * 25 / 4)),
    "plate_bolts": ("Q4", 4896, {"bolts": 96, "pin": 32, "pin_bearing": 16},
                    {"domain": 4896, "bolt_rings": 464, "pin_ring": 238},
                    120 * 80 + 30 * 40 + math.pi * 20 ** 2 / 2 - 4 * math.pi * 4.5 ** 2 - math.pi * 8 ** 2),
    "bracket3d": ("T4", 57172, {"bolts": 1766, "pin": 1278, "pin_up": 638, "pin_side": 640},
                  {"domain": 57172, "bolt_rings": 8336, "pin_ring": 6012}, None),
    "crank": ("T4", 39935, {"spindle": 628, "pedal": 956, "pedal_down": 478, "pedal_out": 520},
              {"domain": 39935, "hub_rings": 8496}, None),
}
CONFIG_OF = {"lbracket": "lbracket.yaml", "plate_bolts": "plate_bolts.yaml",
             "bracket3d": "bracket3d.yaml", "crank": "crank.yaml"}
TWO_D = [name for name, part in PARTS.items() if part[0] in ("T3", "Q4")]
THREE_D = [name for name in PARTS if name not in TWO_D]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("name", PARTS)
def test_mesh_reads_with_its_groups_and_counts(name):
    cell_type, n_cells, facet_groups, cell_groups, volume = PARTS[name]
    mesh = read_mesh(MESHES / f"{name}.msh")
    assert mesh.cell_type.name == cell_type and mesh.n_elements == n_cells
    assert {k: len(v) for k, v in mesh.facet_groups.items()} == facet_groups
    assert {k: len(v) for k, v in mesh.cell_groups.items()} == cell_groups
    # Every node belongs to a cell (no orphan node without stiffness), every cell is
    # positively oriented (read_mesh refuses inverted ones).
    assert np.array_equal(np.unique(mesh.cells), np.arange(mesh.n_nodes))
    assert mesh.element_volumes.min() > 0
    if volume is not None:
        assert mesh.element_volumes.sum() == pytest.approx(volume, rel=5e-3)


def test_lbracket_groups_lie_where_the_config_says():
    mesh = read_mesh(MESHES / "lbracket.msh")
    clamp = mesh.node_coords[np.unique(mesh.facet_groups["clamp"])]
    tip = mesh.node_coords[np.unique(mesh.facet_groups["tip"])]
    assert np.allclose(clamp[:, 1], 100) and np.ptp(clamp[:, 0]) == pytest.approx(40)
    assert np.allclose(tip[:, 0], 100) and tip[:, 1].min() == pytest.approx(30) and tip[:, 1].max() == pytest.approx(40)


@pytest.mark.parametrize("name, group, center, radius, axes", [
    ("plate_bolts", "pin_bearing", (150, 40), 8.0, (0, 1)),
    ("bracket3d", "pin_up", (70, 75), 8.0, (0, 1)),
    ("crank", "pedal_down", (170, 0), 7.0, (0, 1)),
])
def test_bearing_halves_lie_on_their_bore(name, group, center, radius, axes):
    """The loaded half of a pin bore: on the circle, on the side the pin pushes."""
    mesh = read_mesh(MESHES / f"{name}.msh")
    points = mesh.node_coords[np.unique(mesh.facet_groups[group])][:, list(axes)] - center
    assert np.allclose(np.linalg.norm(points, axis=1), radius, rtol=2e-3)
    side = 1 if group == "pin_up" else 0  # pin_up: above the axis; the others: below it
    assert np.all(points[:, 1] >= -1e-9) if side else np.all(points[:, 1] <= 1e-9)


@pytest.mark.parametrize("name", PARTS)
def test_config_validates(name):
    result = invoke("validate", CONFIGS / CONFIG_OF[name])
    assert result.exit_code == 0, result.output
    assert ": ok" in result.output.splitlines()[0]


@pytest.mark.parametrize("name", TWO_D)
def test_2d_config_runs_a_few_iterations(name):
    result = femopt.run(CONFIGS / CONFIG_OF[name], max_iterations=3)
    assert result.iterations == 3 and np.isfinite(result.objective)
    # Passive rings stay solid.
    model = femopt.prepare(CONFIGS / CONFIG_OF[name])
    for region in model.config.design.passive:
        cells = model.mesh.cell_groups[region.options["group"]]
        assert np.allclose(result.rho[cells], 1.0)


@pytest.mark.parametrize("name", TWO_D)
def test_2d_config_passes_check_grad(name):
    """With the default step, which grows with the number of design variables."""
    result = invoke("check-grad", CONFIGS / CONFIG_OF[name], "--samples", "2")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


@pytest.mark.slow
@pytest.mark.parametrize("name", THREE_D)
def test_3d_config_runs_two_iterations(name):
    result = femopt.run(CONFIGS / CONFIG_OF[name], max_iterations=2)
    assert result.iterations == 2 and np.isfinite(result.objective)


@pytest.mark.parametrize("name", PARTS)
def test_regenerated_mesh_matches_the_committed_one(name, tmp_path):
    """meshes/make_meshes.py rebuilds the same mesh (same groups; the same counts within
    2 %, as another gmsh version may place nodes differently)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_meshes", MESHES / "make_meshes.py")
    make_meshes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_meshes)
    fresh = read_mesh(make_meshes.make(name, tmp_path))
    committed = read_mesh(MESHES / f"{name}.msh")
    assert fresh.cell_type is committed.cell_type
    assert set(fresh.facet_groups) == set(committed.facet_groups)
    assert set(fresh.cell_groups) == set(committed.cell_groups)
    assert fresh.n_elements == pytest.approx(committed.n_elements, rel=0.02)
    assert fresh.element_volumes.sum() == pytest.approx(committed.element_volumes.sum(), rel=1e-3)
