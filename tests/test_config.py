"""Tests of femopt.config: the valid examples parse, and each mistake in a problem file
gives one clear line naming its path — every YAML-validation test of the project is here
(node selections and other findings on the mesh are femopt.build's: test_build.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from femopt.config import (
    DesignConfig,
    LoadConfig,
    MaterialConfig,
    MeshConfig,
    OptimizerConfig,
    ProblemConfig,
    ResponseConfig,
    Selection,
    Spec,
    SupportConfig,
    load_config,
    parse_config,
    with_overrides,
)
from femopt.errors import ConfigError, FemoptError
from femopt.solvers import SOLVERS

from helpers import CONFIGS, config_error as error_of, mbb_data
EXAMPLES = ("mbb", "mbb_density", "cantilever", "bridge")

# The smallest valid problem; tests break one thing in a deep copy of it.
BASE = {
    "mesh": {"grid": [6, 2]},
    "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": 6, "y": 0}, "fix": ["y"]}],
    "loads": [{"at": {"x": 0, "y": 2}, "force": [0.0, -1.0]}],
    "design": {"volume_fraction": 0.5},
}


def problem(**changes):
    """A deep copy of BASE with dotted-path changes, e.g. problem(**{"design.penalty": 2})."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


# ---------------------------------------------------------------- valid input


def test_mbb_parses_to_dataclasses():
    cfg = load_config(CONFIGS / "mbb.yaml")
    assert cfg == ProblemConfig(
        name="mbb-beam",
        mesh=MeshConfig(grid=(60, 20), size=(60.0, 20.0)),
        material=MaterialConfig(E=1.0, nu=0.3, Emin=1e-9, thickness=1.0),
        supports=(
            SupportConfig(Selection((("x", 0.0, 0.0),)), fix=(0,), path="supports[0]"),
            SupportConfig(Selection((("x", 60.0, 60.0), ("y", 0.0, 0.0))), fix=(1,), path="supports[1]"),
        ),
        loads=(LoadConfig(Selection((("x", 0.0, 0.0), ("y", 20.0, 20.0))), force=(0.0, -1.0),
                          per_node=False, path="loads[0]"),),
        design=DesignConfig(0.5, 3.0, Spec("sensitivity", {"radius": 1.5})),
        optimizer=OptimizerConfig("oc", {"move": 0.2, "variant": "top88"}, 1000, 0.01),
        solver=Spec("auto", {"rtol": None, "max_iterations": 2000}),
        source=str(CONFIGS / "mbb.yaml"),
    )
    assert cfg.mesh.dim == 2


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_parses(name):
    path = CONFIGS / f"{name}.yaml"
    assert path.read_text().startswith("#"), "each example opens with a comment"
    cfg = load_config(path)
    assert cfg.mesh.dim == 2 and cfg.supports and cfg.loads


def test_examples_match_their_description():
    assert load_config(CONFIGS / "mbb_density.yaml").design.filter == Spec("density", {"radius": 1.5})
    cantilever = load_config(CONFIGS / "cantilever.yaml")
    assert cantilever.mesh.grid == (80, 40) and cantilever.supports[0].fix == (0, 1)
    assert cantilever.design.volume_fraction == 0.4
    bridge = load_config(CONFIGS / "bridge.yaml")
    assert bridge.mesh.grid == (120, 40) and bridge.design.volume_fraction == 0.3
    assert bridge.loads[0].at == Selection((("y", 40.0, 40.0),))
    assert bridge.design.filter == Spec("density", {"radius": 2.0})


def test_defaults(tmp_path):
    path = tmp_path / "tiny-beam.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cfg = load_config(path)
    assert cfg.name == "tiny-beam"  # the file stem
    assert cfg.mesh.size == (6.0, 2.0)  # one unit per element
    assert cfg.material == MaterialConfig(1.0, 0.3, 1e-9, 1.0)
    assert cfg.design == DesignConfig(0.5, 3.0, Spec("density", {"radius": 1.5}))
    assert cfg.optimizer == OptimizerConfig("oc", {"move": 0.2, "variant": "top88"}, 1000, 0.01)
    assert cfg.solver == Spec("auto", SOLVERS["auto"].defaults)
    assert parse_config(BASE).name == "problem"


def test_ranges_nodal_force_fix_all_and_3d():
    cfg = parse_config(problem(**{
        "mesh.grid": [4, 2, 3],
        "supports": [{"at": {"z": [0, 1.5], "x": 0}, "fix": "all"}],
        "loads": [{"at": {"x": 4}, "nodal_force": [0, 0, -1]}],
    }))
    assert cfg.mesh.dim == 3 and cfg.mesh.size == (4.0, 2.0, 3.0)
    assert cfg.supports[0].at == Selection((("x", 0.0, 0.0), ("z", 0.0, 1.5)))  # x, y, z order
    assert cfg.supports[0].fix == (0, 1, 2)
    assert cfg.loads[0].force == (0.0, 0.0, -1.0) and cfg.loads[0].per_node


def test_exponent_without_dot_is_a_number(tmp_path):
    # PyYAML (YAML 1.1) would read 1e-9 as a string; YAML 1.2 and people read a number.
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(BASE) + "material: {Emin: 1e-9, E: 2E3}\n")
    assert load_config(path).material.Emin == 1e-9
    assert load_config(path).material.E == 2000.0


def test_with_overrides():
    cfg = parse_config(BASE)
    new = with_overrides(cfg, max_iterations=5, solver="superlu")
    assert new.optimizer.max_iterations == 5 and new.solver == Spec("superlu", {})
    assert cfg.optimizer.max_iterations == 1000 and cfg.solver.type == "auto"  # unchanged
    assert with_overrides(cfg) == cfg
    with pytest.raises(ConfigError, match=r"solver: must be one of auto, cholmod, superlu"):
        with_overrides(cfg, solver="umfpack")
    with pytest.raises(ConfigError, match=r"max_iterations: must be >= 1, got 0"):
        with_overrides(cfg, max_iterations=0)


def test_error_helper_for_later_stages():
    cfg = parse_config(BASE, source="p.yaml")
    err = cfg.error(cfg.supports[1].path + ".at", "selects no node")
    assert isinstance(err, ConfigError) and isinstance(err, FemoptError)
    assert str(err) == "p.yaml: supports[1].at: selects no node"
    assert str(cfg.supports[1].at) == "{x: 6, y: 0}"


# ---------------------------------------------------------------- file errors


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "x.yaml")
    assert str(info.value) == f"cannot read '{tmp_path / 'x.yaml'}': No such file or directory"


def test_broken_yaml_names_line(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("mesh:\n  grid: [60, 20]\n  size: [60, 20\nsupports: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML at line 4, column ")
    assert "\n" not in message


def test_duplicate_key_is_invalid_yaml(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(BASE) + "mesh: {grid: [3, 3]}\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+, column 1: found duplicate key 'mesh'"):
        load_config(path)


@pytest.mark.parametrize("text, got", [("- a\n- b\n", "a list"), ("", "nothing"), ("42\n", "42")])
def test_top_level_not_a_mapping(tmp_path, text, got):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the top level must be a mapping")
    assert got in message


# ---------------------------------------------------------------- value errors


def test_unknown_top_level_key():
    data = problem(optimiser={"type": "oc"})
    assert error_of(data) == "p.yaml: optimiser: unknown key (did you mean 'optimizer'?)"


def test_unknown_nested_key():
    assert error_of(problem(**{"optimizer.tyep": "oc"})) == (
        "p.yaml: optimizer.tyep: unknown key (did you mean 'type'?)")


def test_unknown_key_without_close_match_lists_allowed():
    message = error_of(problem(**{"design.colour": "red"}))
    assert message == ("p.yaml: design.colour: unknown key (allowed: volume_fraction, penalty, "
                       "interpolation, filter, projection, passive, overhang, symmetry, extrusion)")


def test_missing_required_key():
    data = problem()
    del data["design"]
    assert error_of(data) == "p.yaml: missing required key 'design'"
    assert error_of(problem(design={"penalty": 3})) == (
        "p.yaml: design: missing required key 'volume_fraction'")
    assert error_of(problem(**{"supports.0": {"at": {"x": 0}}})) == (
        "p.yaml: supports[0]: missing required key 'fix'")


def test_string_where_number():
    assert error_of(problem(**{"design.volume_fraction": "half"})) == (
        "p.yaml: design.volume_fraction: expected a number, got string 'half'")


def test_bool_is_not_a_number():
    assert error_of(problem(**{"material.E": True})) == (
        "p.yaml: material.E: expected a number, got boolean true")
    assert "optimizer.max_iterations: expected an integer, got boolean false" in error_of(
        problem(**{"optimizer.max_iterations": False}))


def test_nan_is_not_a_number():
    assert "material.nu: expected a number, got nan" in error_of(problem(**{"material.nu": float("nan")}))


def test_float_where_integer():
    assert "optimizer.max_iterations: expected an integer, got 10.5" in error_of(
        problem(**{"optimizer.max_iterations": 10.5}))


def test_wrong_count():
    assert error_of(problem(**{"loads.0.force": [0, -1, 0]})) == (
        "p.yaml: loads[0].force: expected 2 numbers, got 3")
    assert error_of(problem(**{"mesh.size": [6.0]})) == (
        "p.yaml: mesh.size: expected 2 positive numbers, got 1")


def test_wrong_vector_entry_names_its_index():
    assert error_of(problem(**{"loads.0.force": [0, "down"]})) == (
        "p.yaml: loads[0].force[1]: expected a number, got string 'down'")


@pytest.mark.parametrize("grid", [[60], [60, 20, 5, 1], [60, 0], [60, 2.5], [60, True], "60x20"])
def test_bad_grid(grid):
    message = error_of(problem(**{"mesh.grid": grid}))
    assert message.startswith("p.yaml: mesh.grid: expected 2 or 3 positive integers, got ")
    if grid == [60]:
        assert message.endswith("got [60]")


@pytest.mark.parametrize("value", [0, 1.5, -0.1])
def test_volume_fraction_out_of_range(value):
    assert error_of(problem(**{"design.volume_fraction": value})) == (
        f"p.yaml: design.volume_fraction: must be in (0, 1], got {value}")


def test_volume_fraction_one_is_allowed():
    assert parse_config(problem(**{"design.volume_fraction": 1})).design.volume_fraction == 1.0


def test_poisson_ratio_half():
    assert error_of(problem(**{"material.nu": 0.5})) == (
        "p.yaml: material.nu: must be in (-1, 0.5), got 0.5")


@pytest.mark.parametrize("changes, expected", [
    ({"material.E": 0}, "material.E: must be > 0, got 0"),
    ({"material.Emin": -1e-9}, "material.Emin: must be >= 0, got -1e-09"),
    ({"material.E": 1e-10}, "material.Emin: must be smaller than E (1e-10), got 1e-09"),
    ({"material.thickness": 0}, "material.thickness: must be > 0, got 0"),
    ({"design.penalty": 0.5}, "design.penalty: must be >= 1, got 0.5"),
    ({"design.filter.radius": 0}, "design.filter.radius: must be > 0, got 0"),
    ({"optimizer.move": 1.2}, "optimizer.move: must be in (0, 1], got 1.2"),
    ({"optimizer.max_iterations": 0}, "optimizer.max_iterations: must be >= 1, got 0"),
    ({"optimizer.tolerance": 0}, "optimizer.tolerance: must be > 0, got 0"),
    ({"mesh.size": [6, -2]}, "mesh.size[1]: must be > 0, got -2"),
])
def test_other_ranges(changes, expected):
    assert error_of(problem(**changes)) == f"p.yaml: {expected}"


def test_thickness_in_3d():
    data = problem(**{"mesh.grid": [2, 2, 2], "material.thickness": 2.0,
                      "loads.0.force": [0, 0, -1]})
    assert "material.thickness: only applies to 2D meshes" in error_of(data)


def test_empty_supports():
    assert error_of(problem(supports=[])) == "p.yaml: supports: must list at least one support"
    assert error_of(problem(loads=None)) == "p.yaml: loads: expected a list of loads, got nothing (null)"


def test_both_force_and_nodal_force():
    message = error_of(problem(**{"loads.0.nodal_force": [0, -1]}))
    assert message.startswith("p.yaml: loads[0]: give either 'force'")
    assert "'nodal_force'" in message and "not both" in message


def test_neither_force_nor_nodal_force():
    message = error_of(problem(**{"loads.0": {"at": {"x": 0}}}))
    assert message.startswith("p.yaml: loads[0]: missing required key 'force'")
    assert "nodal_force" in message


def test_z_in_2d_selection():
    message = error_of(problem(**{"supports.1.at": {"x": 6, "z": 0}}))
    assert message == "p.yaml: supports[1].at.z: a 2D mesh has no z coordinate (use x, y)"


def test_unknown_selection_key():
    assert error_of(problem(**{"loads.0.at": {"xx": 0}})) == (
        "p.yaml: loads[0].at.xx: unknown key (did you mean 'x'?)")


def test_empty_selection():
    assert "supports[0].at: expected a mapping of coordinates (x, y)" in error_of(
        problem(**{"supports.0.at": {}}))


def test_range_with_min_greater_than_max():
    assert error_of(problem(**{"supports.0.at": {"x": [5, 2]}})) == (
        "p.yaml: supports[0].at.x: expected [min, max] with min <= max, got [5, 2]")
    assert error_of(problem(**{"supports.0.at": {"x": [1, 2, 3]}})) == (
        "p.yaml: supports[0].at.x: expected 2 numbers [min, max], got 3")


def test_unknown_filter_type():
    assert error_of(problem(**{"design.filter": {"type": "sensitvity"}})) == (
        "p.yaml: design.filter.type: must be one of sensitivity, density, none, helmholtz, "
        "got 'sensitvity' (did you mean 'sensitivity'?)")
    assert error_of(problem(**{"design.filter": {"type": "gauss"}})) == (
        "p.yaml: design.filter.type: must be one of sensitivity, density, none, helmholtz, got 'gauss'")


def test_optimizer_options_belong_to_their_optimizer():
    assert error_of(problem(**{"optimizer.inner_iterations": 20})) == (
        "p.yaml: optimizer.inner_iterations: oc takes no option 'inner_iterations' (it applies to lbfgs)")
    lbfgs = {"optimizer.type": "lbfgs"}
    assert error_of(problem(**lbfgs, **{"optimizer.constraint_penalty": 0})) == (
        "p.yaml: optimizer.constraint_penalty: must be > 0, got 0")
    assert "did you mean 'inner_iterations'?" in error_of(problem(**lbfgs, **{"optimizer.inner_iteration": 5}))


def test_unknown_optimizer_and_solver():
    assert "optimizer.type: must be one of oc, mma, lbfgs, got 'nma' (did you mean 'mma'?)" in error_of(
        problem(**{"optimizer.type": "nma"}))
    assert "solver: must be one of auto, cholmod, superlu, amg, reuse, mg, got 'umfpack'" in error_of(problem(solver="umfpack"))


def test_fix_z_in_2d():
    assert error_of(problem(**{"supports.0.fix": ["x", "z"]})) == (
        "p.yaml: supports[0].fix[1]: a 2D mesh has no z component (use x, y or 'all')")


@pytest.mark.parametrize("fix, expected", [
    (["w"], "supports[0].fix[0]: must be one of x, y, got 'w'"),
    ([], "supports[0].fix: expected a list of components (x, y) or 'all', got a list []"),
    ("everything", "supports[0].fix: must be one of x, y, got 'everything'"),
])
def test_bad_fix(fix, expected):
    assert error_of(problem(**{"supports.0.fix": fix})) == f"p.yaml: {expected}"


def test_section_of_wrong_type():
    assert error_of(problem(design=0.5)) == (
        "p.yaml: design: expected a mapping (volume_fraction, penalty, interpolation, filter, "
        "projection, passive, overhang, symmetry, extrusion), got 0.5")


@pytest.mark.parametrize("name", ["", "a/b", ".."])
def test_bad_problem_name(name):
    assert "problem: must be a plain name usable as a folder name" in error_of(problem(problem=name))


# ------------------------------------------------------ objective and constraints


def test_objective_and_constraints_parse():
    cfg = parse_config(problem(**{
        "objective": {"type": "displacement", "at": {"x": 60, "y": 0}, "component": "y", "weight": -1},
        "constraints": [{"type": "volume", "limit": 0.4}, {"type": "compliance", "limit": 300}],
        "optimizer.type": "mma"}), source="p.yaml")
    assert cfg.objective == ResponseConfig("displacement", {
        "at": Selection((("x", 60.0, 60.0), ("y", 0.0, 0.0))), "component": 1, "weight": -1.0, "case": 0},
        path="objective")
    assert [(c.type, c.limit, c.path) for c in cfg.constraint_list] == [
        ("volume", 0.4, "constraints[0]"), ("compliance", 300.0, "constraints[1]")]


def test_default_constraint_is_the_volume_fraction():
    cfg = parse_config(problem(), source="p.yaml")
    assert cfg.objective.type == "compliance"
    assert [(c.type, c.limit) for c in cfg.constraint_list] == [("volume", 0.5)]


@pytest.mark.parametrize("changes, expected", [
    ({"objective": "complience"}, "objective: must be one of compliance, volume, displacement, "
                                  "displacement_target, python, stress, frequency, buckling, got 'complience' (did you mean 'compliance'?)"),
    ({"objective": {"type": "displacement", "component": "y"}}, "objective: missing required key 'at'"),
    ({"objective": {"type": "compliance", "limit": 3}}, "objective.limit: unknown key"),
    ({"constraints": [{"type": "volume"}], "optimizer.type": "mma"}, "constraints[0]: missing required key 'limit'"),
    ({"constraints": [{"type": "volume", "limit": -1}], "optimizer.type": "mma"},
     "constraints[0].limit: must be > 0, got -1"),
    ({"objective": "volume"}, "optimizer.type: oc handles compliance with one volume constraint"),
    ({"constraints": [{"type": "compliance", "limit": 3}]}, "optimizer.type: oc handles compliance"),
])
def test_bad_objective_and_constraints(changes, expected):
    assert expected in error_of(problem(**changes))


# ---------------------------------------------------------------- design: projection, penalty, passive


@pytest.mark.parametrize("design, message", [
    ({"projection": {"beta": {"start": 4, "end": 2, "factor": 2}}},
     "design.projection.beta.end: must be >= start (4): continuation raises a parameter, got 2"),
    ({"projection": {"beta": {"start": 1, "end": 32}}},
     "design.projection.beta: give exactly one of 'factor' (multiply at each stage) or 'step' "
     "(add at each stage)"),
    ({"projection": {"beta": {"start": 1, "end": 32, "factor": 2, "evry": 5}}},
     "design.projection.beta.evry: unknown key (did you mean 'every'?)"),
    ({"projection": {"beta": {"start": 1, "end": 32, "factor": 0.5}}},
     "design.projection.beta.factor: must be > 1, got 0.5"),
    ({"projection": {"eta": 1.0}}, "design.projection.eta: must be in (0, 1), got 1.0"),
    ({"projection": {"preserve_volume": "yes"}},
     "design.projection.preserve_volume: expected true or false, got string 'yes'"),
    ({"penalty": {"start": 0.5, "end": 3, "step": 0.5}}, "design.penalty.start: must be >= 1, got 0.5"),
    ({"interpolation": "ramp", "penalty": -1}, "design.penalty: must be >= 0, got -1"),
    ({"interpolation": "rmap"},
     "design.interpolation: must be one of simp, ramp, got 'rmap' (did you mean 'ramp'?)"),
    ({"passive": [{"type": "solid"}]}, "design.passive[0]: give exactly one shape (box, circle or group), got 0"),
    ({"passive": [{"type": "solid", "box": {"x": [0, 1]}, "circle": {"center": [0, 0], "radius": 1}}]},
     "design.passive[0]: give exactly one shape (box, circle or group), got 2"),
    ({"passive": [{"type": "hole", "box": {"x": [0, 1]}}]},
     "design.passive[0].type: must be one of solid, void, got 'hole'"),
    ({"passive": [{"type": "void", "sphere": {"center": [0, 0], "radius": 1}}]},
     "design.passive[0].sphere: not available on a 2D mesh (use box, circle or group)"),
    ({"passive": [{"type": "void", "circle": {"center": [0, 0, 0], "radius": 1}}]},
     "design.passive[0].circle.center: expected 2 numbers, got 3"),
])
def test_design_keys_are_validated_with_their_path(design, message):
    data = problem()
    data["design"].update(design)
    assert error_of(data) == f"p.yaml: {message}"


def test_projection_needs_the_density_filter():
    data = problem(**{"design.filter": {"type": "sensitivity"}, "design.projection": {"beta": 2.0}})
    assert error_of(data) == ("p.yaml: design.filter.type: projection needs a density filter "
                              "(the sensitivity filter leaves the densities unfiltered)")


def test_passive_regions_parse_with_their_shapes():
    passive = parse_config(problem(**{"design.passive": [
        {"type": "solid", "box": {"x": [0, 2], "y": [1, 2]}},
        {"type": "void", "cylinder": {"center": [2, 2, 0], "radius": 0.9, "axis": "z"}}],
        "mesh.grid": [4, 4, 4], "loads.0.force": [0, 0, -1]})).design.passive
    assert [(r.type, r.shape, r.path) for r in passive] == [
        ("solid", "box", "design.passive[0]"), ("void", "cylinder", "design.passive[1]")]
    assert passive[0].options == {"box": Selection((("x", 0.0, 2.0), ("y", 1.0, 2.0)))}
    assert passive[1].options == {"center": (2.0, 2.0, 0.0), "radius": 0.9, "axis": 2}


# ---------------------------------------------------------------- springs and load cases


@pytest.mark.parametrize("spring, message", [
    ({"component": "z", "stiffness": 0.1}, "springs[0].component: a 2D mesh has no z component (use x, y)"),
    ({"component": "x", "stiffness": 0}, "springs[0].stiffness: must be > 0, got 0"),
])
def test_spring_mistakes_name_their_path(spring, message):
    assert error_of(problem(springs=[{"at": {"x": 6, "y": 2}, **spring}])) == f"p.yaml: {message}"


@pytest.mark.parametrize("change, message", [
    ({"loads": [{"at": {"x": 0}, "force": [0, -1]}]},
     "load_cases: give either 'loads' (one load case) or 'load_cases', not both"),
    ({"load_cases": [{"weight": 0, "loads": [{"at": {"x": 80}, "force": [0, 1]}]}]},
     "load_cases[0].weight: must be > 0, got 0"),
    ({"load_cases": [{"wieght": 1, "loads": []}]},
     "load_cases[0].wieght: unknown key (did you mean 'weight'?)"),
    ({"objective": {"type": "displacement", "at": {"x": 80, "y": 0}, "component": "y", "case": 2}},
     "objective.case: must be < 2, the number of load cases (numbered from 0), got 2"),
])
def test_load_case_mistakes_name_their_path(change, message):
    data = yaml.safe_load((CONFIGS / "multiload.yaml").read_text())
    data.update(change)
    if "objective" in change:
        data["optimizer"]["type"] = "mma"
    assert error_of(data) == f"p.yaml: {message}"


def test_missing_loads_mentions_load_cases():
    data = problem()
    del data["loads"]
    assert error_of(data) == "p.yaml: missing required key 'loads' (or 'load_cases' for several load cases)"


# ---------------------------------------------------------------- optimizer and solver


def test_optimizer_options_are_the_registered_ones_with_defaults():
    config = parse_config(problem(optimizer={"type": "lbfgs", "inner_iterations": 2,
                                             "constraint_penalty": 100.0, "max_iterations": 3}))
    assert config.optimizer == OptimizerConfig(
        "lbfgs", {"move": 0.2, "inner_iterations": 2, "constraint_penalty": 100.0}, 3, 0.01)


def solver_config(solver):
    return parse_config(problem(solver=solver), source="p.yaml").solver


def test_solver_as_a_name_or_a_mapping_with_defaults():
    assert solver_config("amg") == Spec("amg", {"rtol": 1e-8, "max_iterations": 2000})
    assert solver_config({"type": "amg", "rtol": 1e-6, "max_iterations": 500}) == Spec(
        "amg", {"rtol": 1e-6, "max_iterations": 500})
    assert solver_config({"type": "reuse", "max_cg_iterations": 40}) == Spec(
        "reuse", {"rtol": 1e-4, "max_cg_iterations": 40})
    assert solver_config({"type": "cholmod"}) == Spec("cholmod", {})
    for entry in SOLVERS:  # every registered solver, its defaults from the registry
        assert solver_config(entry.name) == Spec(entry.name, entry.defaults)


@pytest.mark.parametrize("solver, message", [
    ({"type": "amg", "rtl": 1e-8}, "p.yaml: solver.rtl: unknown key (did you mean 'rtol'?)"),
    ({"type": "amgg"}, "p.yaml: solver.type: must be one of auto, cholmod, superlu, amg, reuse, mg, "
                       "got 'amgg' (did you mean 'amg'?)"),
    ({"rtol": 1e-8}, "p.yaml: solver: missing required key 'type'"),
    ({"type": "cholmod", "rtol": 1e-8}, "p.yaml: solver.rtol: cholmod takes no option 'rtol' "
                                        "(it applies to auto, amg, reuse, mg)"),
    ({"type": "reuse", "max_iterations": 9}, "p.yaml: solver.max_iterations: reuse takes no option "
                                              "'max_iterations' (it applies to auto, amg, mg)"),
    ({"type": "reuse", "max_cg_iterations": 0}, "p.yaml: solver.max_cg_iterations: must be >= 1, got 0"),
    ({"type": "amg", "rtol": 2}, "p.yaml: solver.rtol: must be in (0, 1), got 2"),
    ({"type": "amg", "max_iterations": 1.5}, "p.yaml: solver.max_iterations: expected an integer, got 1.5"),
    ([1], "p.yaml: solver: must be one of auto, cholmod, superlu, amg, reuse, mg, got [1]"),
])
def test_solver_errors_name_the_path(solver, message):
    assert error_of(problem(solver=solver)) == message


def test_command_line_solver_overrides_only_the_type():
    config = parse_config(problem(solver={"type": "reuse", "rtol": 1e-6, "max_cg_iterations": 12}))
    assert with_overrides(config, solver="amg").solver == Spec("amg", {"rtol": 1e-6, "max_iterations": 2000})
    assert with_overrides(config, solver="cholmod").solver == Spec("cholmod", {})
    # auto's unset rtol (None: each solver's own) does not replace amg's default
    assert with_overrides(parse_config(problem()), solver="amg").solver == Spec(
        "amg", {"rtol": 1e-8, "max_iterations": 2000})


# ---------------------------------------------------------------- mesh files and groups


@pytest.fixture
def plate_file(tmp_path):
    from test_meshfile import plate_msh

    return plate_msh(tmp_path / "plate.msh")


def file_problem(mesh_file, **changes):
    """BASE on a mesh file (supports and loads by group), with dotted-path changes."""
    data = problem(**changes)
    data["mesh"] = {"file": str(mesh_file), **data["mesh"]}
    del data["mesh"]["grid"]
    data["supports"] = [{"at": {"group": "clamp"}, "fix": "all"}]
    data["loads"] = data.get("loads") if "loads" in {k.split(".")[0] for k in changes} else [
        {"at": {"group": "tip"}, "traction": [0.0, -1.0]}]
    return data


def test_a_mesh_file_gives_the_dimension_and_groups_select(plate_file):
    data = file_problem(plate_file, loads=[
        {"at": {"group": "tip"}, "traction": [0.0, -1.0]},
        {"at": {"group": "top", "x": [0, 2]}, "pressure": 2.0},
        {"at": {"group": "tip"}, "force": [0.0, -50.0]},
        {"at": {"group": 3}, "nodal_force": [1.0, 0.0]}])
    data["mesh"]["scale"] = 2.0
    data["design"]["passive"] = [{"type": "solid", "group": "pad"}]
    cfg = parse_config(data)
    assert cfg.mesh.file == str(plate_file.resolve()) and cfg.mesh.scale == 2.0 and cfg.mesh.dim == 2
    assert cfg.supports[0].at == Selection((), "clamp")
    traction, pressure, force, nodal = cfg.loads
    assert traction.traction == (0.0, -1.0) and traction.force == () and traction.pressure is None
    assert pressure.at == Selection((("x", 0.0, 2.0),), "top") and pressure.pressure == 2.0
    assert force.force == (0.0, -50.0) and not force.per_node
    assert nodal.at.group == "3" and nodal.per_node  # a gmsh physical group without a name
    assert cfg.design.passive[0].shape == "group" and cfg.design.passive[0].options == {"group": "pad"}
    assert str(pressure.at) == "{group: top, x: [0, 2]}"


def test_a_mesh_file_path_is_relative_to_the_problem_file_or_the_current_folder(plate_file, tmp_path,
                                                                               monkeypatch):
    (tmp_path / "configs").mkdir()
    data = file_problem("../plate.msh")
    path = tmp_path / "configs" / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).mesh.file == str(plate_file.resolve())
    monkeypatch.chdir(tmp_path)
    assert parse_config(file_problem("plate.msh")).mesh.file == str(plate_file.resolve())


def test_the_fingerprint_follows_the_file_contents_not_its_place(plate_file, tmp_path):
    from test_meshfile import plate_msh

    copy_path = tmp_path / "elsewhere.msh"
    copy_path.write_bytes(plate_file.read_bytes())
    other = plate_msh(tmp_path / "other.msh", nx=6)
    fingerprint = lambda f: parse_config(file_problem(f)).fingerprint  # noqa: E731
    assert fingerprint(plate_file) == fingerprint(copy_path) != fingerprint(other)


def test_a_3d_mesh_file_reads_its_selections_in_3d(tmp_path):
    import meshio
    from test_meshfile import tetra_mesh

    meshio.write(tmp_path / "tets.msh", tetra_mesh(), file_format="gmsh22", binary=False)
    data = file_problem(tmp_path / "tets.msh", loads=[{"at": {"group": "base", "z": 0}, "traction": [0, 0, 1]}])
    data["supports"] = [{"at": {"x": 0}, "fix": "all"}]
    assert parse_config(data).loads[0].traction == (0.0, 0.0, 1.0)
    data["loads"][0]["traction"] = [0, 1]
    assert error_of(data) == "p.yaml: loads[0].traction: expected 3 numbers, got 2"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["mesh"].update(grid=[6, 2]),
     "mesh: give exactly one of 'grid' (a generated grid of elements) or 'file' (a mesh file)"),
    (lambda d: d["mesh"].update(size=[6, 2]), "mesh.size: only applies to a mesh given by 'grid'"),
    (lambda d: d["mesh"].update(scale=0), "mesh.scale: must be > 0, got 0"),
    (lambda d: d["mesh"].update(file=""), "mesh.file: expected the path of a mesh file, got an empty string"),
    (lambda d: d["mesh"].update(file=3), "mesh.file: expected a string, got 3"),
    (lambda d: d["supports"][0].update(at={"group": ""}),
     "supports[0].at.group: expected a group name, got an empty string"),
    (lambda d: d["supports"][0].update(at={"groups": "clamp"}),
     "supports[0].at.groups: unknown key (did you mean 'group'?)"),
    (lambda d: d["loads"][0].update(at={"x": 4}),
     "loads[0].at: a traction acts on facets: give a facet group ('group: NAME')"),
    (lambda d: d["loads"][0].update(pressure=1.0),
     "loads[0]: give either 'force' (total), 'nodal_force' (per node), 'traction' (per unit area of a "
     "facet group), 'pressure' (normal, on a facet group), not both ('traction' and 'pressure' given)"),
    (lambda d: d["loads"][0].pop("traction") and d["loads"][0].update(pressure=[1, 2]),
     "loads[0].pressure: expected a number, got a list [1, 2]"),
    (lambda d: d["design"].update(passive=[{"type": "solid", "group": 1.5}]),
     "design.passive[0].group: expected a string, got 1.5"),
    (lambda d: d["design"].update(passive=[{"type": "void", "box": {"group": "pad"}}]),
     "design.passive[0].box.group: a box holds coordinates; a group of cells is "
     "{type: solid | void, group: NAME}"),
])
def test_mistakes_with_mesh_files_and_groups(plate_file, change, message):
    data = file_problem(plate_file)
    change(data)
    assert error_of(data) == f"p.yaml: {message}"


def test_grid_mistakes_with_the_file_keys():
    assert error_of(problem(**{"mesh.scale": 2.0})) == "p.yaml: mesh.scale: only applies to a mesh given by 'file'"
    assert error_of({**BASE, "mesh": {"size": [1, 2]}}) == (
        "p.yaml: mesh: give exactly one of 'grid' (a generated grid of elements) or 'file' (a mesh file)")


def test_a_bad_mesh_file_is_a_config_error_at_mesh_file(tmp_path):
    import meshio

    message = error_of(file_problem(tmp_path / "missing.msh"))
    assert message == f"p.yaml: mesh.file: {tmp_path / 'missing.msh'}: cannot read the mesh file: No such file or directory"
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0], [2, 1]], float)  # the second quad clockwise
    meshio.write(tmp_path / "inverted.msh", meshio.Mesh(points, [("quad", np.array([[0, 1, 2, 3], [1, 2, 5, 4]]))]),
                 file_format="gmsh22", binary=False)
    message = error_of(file_problem(tmp_path / "inverted.msh"))
    assert message.startswith(f"p.yaml: mesh.file: {tmp_path / 'inverted.msh'}: cell 1 is inverted or degenerate")
    assert message.endswith("its nodes: (1, 0), (1, 1), (2, 1), (2, 0)")


def test_keys_that_are_not_printable_are_quoted_so_messages_stay_one_line():
    """Found by the fuzz test: a key holding a newline split the message in two."""
    data = mbb_data(6, 2)
    data["mesh"]["\n"] = None
    assert error_of(data).endswith("mesh.'\\n': unknown key (allowed: grid, size, file, scale, min_size, order)")
    data = mbb_data(6, 2)
    data["mesh"]["grid"] = {"\n": None}
    assert error_of(data).endswith("mesh.grid: expected 2 or 3 positive integers, got {'\\n': null}")


@pytest.mark.parametrize("kind", [[], {}, 3], ids=["list", "mapping", "number"])
def test_a_constraint_type_that_is_not_a_name_is_one_line(kind):
    """Found by test_config_fuzz: a list as the type raised TypeError (unhashable) where
    the eigenvalue responses' lower bounds are looked up."""
    with pytest.raises(ConfigError, match=r"constraints\[0\]\.type: must be one of compliance"):
        parse_config({**mbb_data(), "constraints": [{"type": kind, "limit": 10}]})
