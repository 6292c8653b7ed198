"""The AM overhang filter (femopt.design.overhang): its forward map against an element-by-element
transcription of Langelaar's definition, its VJP against finite differences for every build
direction and support, Langelaar's reference compliance, and its place in the design chain
(configuration, evaluator gradients, outputs, check-grad)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import yaml

import femopt
from femopt.build import build
from femopt.design.overhang import DIRECTIONS, IdentityOverhang, OverhangFilter
from femopt.loop.gradcheck import check_gradients

from helpers import central_difference, config_error as error_of, mbb_data, write_yaml

CASES = ([((7, 5), d, 3) for d in DIRECTIONS[:4]]
         + [((5, 4, 6), d, s) for d in DIRECTIONS for s in (5, 9)])
IDS = [f"{len(g)}d{d}-{s}" for g, d, s in CASES]


def grid_array(values, grid):
    """An element vector as an array indexed [i, j(, k)] (x, y, z): femopt numbers y fastest,
    then x, then z."""
    if len(grid) == 2:
        return values.reshape(grid)
    return values.reshape(grid[2], grid[0], grid[1]).transpose(1, 2, 0)


def elementwise(blueprint, grid, direction, support, p=40.0, epsilon=1e-4):
    """The printed design by Langelaar's definition, one element at a time (AMfilter.m's
    formulas; supports beyond the domain are void)."""
    x = grid_array(blueprint, grid)
    axis, sign = "xyz".index(direction[1]), 1 if direction[0] == "+" else -1
    q = p + np.log(support) / np.log(0.5)
    shift = 100 * np.finfo(float).tiny ** (1 / p)
    backshift = 0.95 * support ** (1 / q) * shift ** (p / q)
    lateral = [a for a in range(len(grid)) if a != axis]
    offsets = {3: [(-1,), (0,), (1,)],
               5: [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)],
               9: list(itertools.product((-1, 0, 1), repeat=2))}[support]
    printed = np.zeros_like(x)
    layers = range(grid[axis]) if sign > 0 else range(grid[axis] - 1, -1, -1)
    for number, layer in enumerate(layers):
        for index in np.ndindex(*x.shape):
            if index[axis] != layer:
                continue
            if number == 0:
                printed[index] = x[index]
                continue
            keep = 0.0
            for offset in offsets:
                below = list(index)
                below[axis] = layer - sign
                for a, o in zip(lateral, offset):
                    below[a] += o
                inside = all(0 <= below[a] < grid[a] for a in lateral)
                keep += ((printed[tuple(below)] if inside else 0.0) + shift) ** p
            smax = keep ** (1 / q) - backshift
            value = x[index]
            printed[index] = 0.5 * (value + smax - np.sqrt((value - smax) ** 2 + epsilon) + np.sqrt(epsilon))
    return printed


@pytest.mark.parametrize("grid, direction, support", CASES, ids=IDS)
def test_forward_is_langelaars_definition(grid, direction, support):
    blueprint = np.random.default_rng(1).uniform(0, 1, int(np.prod(grid)))
    printed = OverhangFilter(grid, direction, support).apply(blueprint)
    np.testing.assert_allclose(grid_array(printed, grid), elementwise(blueprint, grid, direction, support),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("grid, direction, support", CASES, ids=IDS)
def test_vjp_matches_finite_differences(grid, direction, support):
    am = OverhangFilter(grid, direction, support)
    rng = np.random.default_rng(2)
    n = int(np.prod(grid))
    blueprint, cotangent = rng.uniform(0.05, 0.95, n), rng.standard_normal(n)
    gradient = am.vjp(blueprint, am.apply(blueprint), cotangent)
    for _ in range(3):
        direction_ = rng.standard_normal(n)
        fd = central_difference(lambda x: cotangent @ am.apply(x), blueprint, direction_, h=1e-5)
        assert gradient @ direction_ == pytest.approx(fd, rel=1e-7, abs=1e-10)
    e = int(rng.integers(n))  # one component, which reaches every element printed on top of it
    fd = central_difference(lambda x: cotangent @ am.apply(x), blueprint, np.eye(1, n, e).ravel(), h=1e-5)
    assert gradient[e] == pytest.approx(fd, rel=1e-7, abs=1e-10)


def test_base_layer_is_printed_as_designed_and_an_unsupported_element_is_not():
    """+y: the row y = 0 stands on the baseplate; a solid element over void prints at about
    √ε/2 = 0.005, a solid column at a little above 1 (smax overshoots at 1, as in AMfilter.m).
    Each layer of solid blueprint over void adds about √ε/2: smin(1, X) ≈ X + √ε/2."""
    grid = (5, 4)
    x = np.zeros(grid)
    x[:, 0] = [0.3, 1.0, 0.0, 1.0, 0.7]     # the base row
    x[1, 1:] = 1.0                          # a column on the solid base element 1
    x[3, 2:] = 1.0                          # a column on the void element (3, 1)
    printed = OverhangFilter(grid, "+y").apply(x.ravel()).reshape(grid)
    np.testing.assert_array_equal(printed[:, 0], x[:, 0])
    assert np.all(printed[1, 1:] > 1.0) and np.all(printed[1, 1:] < 1.005)
    np.testing.assert_allclose(printed[3, 2:], [0.0091, 0.0125], atol=2e-4)
    assert np.all(printed[0, 1:] < 0.006)   # void stays void


def test_a_full_grid_is_printed_solid_on_its_base_layer():
    am = OverhangFilter((6, 3, 4), "-z", 9)
    np.testing.assert_array_equal(am.apply(np.ones(72))[am.base_layer()], 1.0)
    assert am.base_layer().sum() == 18 and grid_array(am.base_layer(), (6, 3, 4))[:, :, 3].all()


def test_unsupported_counts_solid_elements_without_solid_support():
    """Base layer excluded; in 2D the three elements below count, diagonals included."""
    x = np.zeros((5, 4))
    x[0, 3] = 1.0          # floating: unsupported
    x[2, 0] = x[3, 1] = 1  # a diagonal from the base: supported
    x[4, 3] = 1.0          # floating
    mask = OverhangFilter((5, 4), "+y").unsupported(x.ravel()).reshape(5, 4)
    assert sorted(zip(*np.nonzero(mask))) == [(0, 3), (4, 3)]
    # printed from the top (-y), the floating top elements are on the base layer
    assert not OverhangFilter((5, 4), "-y").unsupported(x.ravel()).reshape(5, 4)[:, 3].any()


@pytest.mark.parametrize("grid, direction, support, message", [
    ((4, 3), "+z", None, "build direction '+z' on a 2D grid (use one of +x, -x, +y, -y)"),
    ((4, 3, 2), "+y", 3, "support 3 on a 3D grid (use 5 or 9)"),
    ((4,), "+x", None, "grid (4,) must have 2 or 3 entries"),
])
def test_bad_arguments_are_value_errors(grid, direction, support, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        OverhangFilter(grid, direction, support)


def test_identity_passes_everything_through():
    rho = np.linspace(0, 1, 5)
    assert IdentityOverhang().apply(rho) is rho
    assert IdentityOverhang().vjp(rho, rho, rho[::-1]) is not None and not IdentityOverhang.active


# ---------------------------------------------------------------- Langelaar's reference


def langelaar_mbb(direction="+y"):
    """The 88-line code's MBB beam, 120 × 40, volume 0.5, penalty 3, density filter r = 3.5,
    with the AM filter."""
    data = mbb_data(120, 40, "density", 3.5)
    data["design"]["overhang"] = {"build_direction": direction}
    return data


def test_first_iteration_compliance_is_langelaars():
    """AMfilter.m inside the 88-line code (GNU Octave), baseplate 'S' (the bottom row of its
    image, where y grows downwards): compliance 1029.1342347987 at the uniform start. In
    femopt y grows upwards, so 'S' is the face y = 0 and the direction +y."""
    model = build(femopt.load_config(langelaar_mbb("+y")))
    assert model.evaluator()(model.x0).objective == pytest.approx(1029.1342347987, rel=1e-7)
    other = build(femopt.load_config(langelaar_mbb("-y")))  # printed from the loaded top face
    assert other.evaluator()(other.x0).objective == pytest.approx(1029.2644907659, rel=1e-7)


# ---------------------------------------------------------------- the design chain


def small_mbb(direction="+y", **design):
    data = mbb_data(12, 5, "density", 1.5, type="mma")
    data["design"].update({"overhang": {"build_direction": direction}, **design})
    data["constraints"] = [{"type": "volume", "limit": 0.5}]
    return data


@pytest.mark.parametrize("direction", DIRECTIONS[:4])
def test_evaluator_gradients_with_projection_and_passive_regions(direction):
    data = small_mbb(direction, projection={"beta": 4.0, "eta": 0.4},
                     passive=[{"type": "solid", "box": {"x": [0, 3], "y": [4, 5]}},
                              {"type": "void", "box": {"x": [6, 8], "y": [0, 2]}}])
    evaluator = build(femopt.load_config(data)).evaluator()
    samples = check_gradients(evaluator, evaluator.n_variables, ["objective", "volume"], samples=4, step=1e-3)
    assert max(s.scaled_error for s in samples) < 1e-6


def test_the_analysis_and_outputs_see_the_printed_design(tmp_path):
    data = small_mbb("+x", passive=[{"type": "solid", "box": {"x": [10, 12], "y": [0, 1]}}])
    data["optimizer"]["max_iterations"] = 3
    result = femopt.run(data, tmp_path)
    arrays = np.load(tmp_path / "result.npz")
    model = build(femopt.load_config(data))
    blueprint = arrays["rho_blueprint"]
    printed = model.overhang.apply(blueprint)
    passive = ~model.evaluator().space.active_mask
    np.testing.assert_allclose(arrays["rho"][~passive], printed[~passive], rtol=1e-12)
    np.testing.assert_array_equal(arrays["rho"][passive], 1.0)
    np.testing.assert_array_equal(result.rho, arrays["rho"])
    assert result.volume == pytest.approx(arrays["rho"].mean())
    assert not np.allclose(arrays["rho"], blueprint)


def test_the_robust_formulation_keeps_the_blueprint_field():
    data = small_mbb(projection={"beta": 2.0, "robust": {"delta_eta": 0.1}})
    data["optimizer"]["max_iterations"] = 1
    result = femopt.run(data)
    assert set(result.fields) == {"rho_blueprint", "rho_eroded", "rho_dilated"}


def test_without_the_filter_nothing_changes(tmp_path):
    data = small_mbb()
    del data["design"]["overhang"]
    data["optimizer"]["max_iterations"] = 2
    femopt.run(data, tmp_path)
    assert "rho_blueprint" not in np.load(tmp_path / "result.npz")
    assert build(femopt.load_config(data)).overhang is None


# ---------------------------------------------------------------- configuration


def with_overhang(overhang, grid=(6, 2)):
    data = mbb_data(*grid) if len(grid) == 2 else cube(grid)
    data["design"]["overhang"] = overhang
    return data


def cube(grid=(4, 3, 2)):
    nx, ny, nz = grid
    return {"mesh": {"grid": list(grid)},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": nx, "y": ny, "z": nz}, "force": [0.0, 0.0, -1.0]}],
            "design": {"volume_fraction": 0.4}}


def test_parsed_with_defaults():
    cfg = femopt.load_config(with_overhang({"build_direction": "-x"}))
    assert (cfg.design.overhang.build_direction, cfg.design.overhang.support) == ("-x", 3)
    assert (cfg.design.overhang.p, cfg.design.overhang.epsilon) == (40.0, 1e-4)
    cfg = femopt.load_config(with_overhang({"build_direction": "+z", "support": 9, "p": 30}, (4, 3, 2)))
    assert (cfg.design.overhang.support, cfg.design.overhang.p) == (9, 30.0)
    assert femopt.load_config(with_overhang({"build_direction": "-y"}, (4, 3, 2))).design.overhang.support == 5


@pytest.mark.parametrize("overhang, grid, expected", [
    ({"build_direction": "+y", "angle": 45}, (6, 2), "design.overhang.angle: unknown key (allowed: "
     "build_direction, support, p, epsilon)"),
    ({}, (6, 2), "design.overhang: missing required key 'build_direction'"),
    ({"build_direction": "+z"}, (6, 2), "design.overhang.build_direction: a 2D grid has no z axis "
     "(use +x, -x, +y, -y)"),
    ({"build_direction": "up"}, (6, 2), "design.overhang.build_direction: must be one of +x, -x, +y, -y, "
     "got 'up'"),
    ({"build_direction": "+y", "support": 5}, (6, 2), "design.overhang.support: must be 3 on a 2D grid"),
    ({"build_direction": "+z", "support": 7}, (4, 3, 2), "design.overhang.support: must be 5 or 9 on a 3D grid"),
    ({"build_direction": "+z", "support": 5.0}, (4, 3, 2), "design.overhang.support: expected an integer"),
    ({"build_direction": "+y", "p": 2}, (6, 2), "design.overhang.p: must be in [4, 100], got 2"),
    ({"build_direction": "+y", "epsilon": 0}, (6, 2), "design.overhang.epsilon: must be in (0, 0.1], got 0"),
    ("+y", (6, 2), "design.overhang: expected a mapping (build_direction, support, p, epsilon)"),
])
def test_bad_settings_are_one_line_errors(overhang, grid, expected):
    assert error_of(with_overhang(overhang, grid)).startswith(f"p.yaml: {expected}")


def test_a_mesh_file_is_refused_in_one_line_with_exit_2(tmp_path):
    from click.testing import CliRunner
    from femopt.cli import main
    from test_meshfile import plate_msh, plate_problem

    data = plate_problem(plate_msh(tmp_path / "plate.msh"))
    data["design"]["overhang"] = {"build_direction": "+y"}
    path = write_yaml(tmp_path, data)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "design.overhang: the overhang filter needs a generated grid (mesh.grid)" in result.output


# ---------------------------------------------------------------- check-grad, every direction


@pytest.mark.parametrize("grid, direction, support", [
    *[((10, 4), d, None) for d in DIRECTIONS[:4]],
    *[((5, 3, 4), d, s) for d, s in zip(DIRECTIONS, (5, 9, 5, 9, 5, 9))]],
    ids=lambda v: str(v) if isinstance(v, str) else None)
def test_check_grad_passes_with_the_filter(tmp_path, grid, direction, support):
    from click.testing import CliRunner
    from femopt.cli import main

    overhang = {"build_direction": direction, **({"support": support} if support else {})}
    data = with_overhang(overhang, grid)
    data["design"]["projection"] = {"beta": 2.0}
    data["design"]["filter"] = {"type": "density", "radius": 1.5}
    data.pop("optimizer", None)
    path = write_yaml(tmp_path, yaml.safe_load(yaml.safe_dump(data)))
    result = CliRunner().invoke(main, ["check-grad", str(path), "--samples", "3", "--tolerance", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")
