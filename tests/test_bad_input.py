"""Bad input of the second audit (issue 22): wrong Python types given to the API, values out
of the range double precision can carry, options the grid cannot hold, check-grad's options.
Each is a one-line FemoptError (exit code 2 on the command line), never a traceback."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from click.testing import CliRunner

import femopt
from femopt.cli import main
from femopt.config import load_config

from helpers import mbb_data, write_yaml


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------- the Python API's types


@pytest.mark.parametrize("given, shown", [(None, "None"), ([1], "list [1]"), (3, "int 3"),
                                          (b"p.yaml", "bytes b'p.yaml'"), (2.5, "float 2.5")])
@pytest.mark.parametrize("function", ["load_config", "prepare", "run"])
def test_a_config_of_the_wrong_type_is_a_config_error(function, given, shown):
    with pytest.raises(femopt.ConfigError) as info:
        getattr(femopt, function)(given)
    message = str(info.value)
    assert message == ("expected a problem file's path (str or pathlib.Path), its YAML as a dict or a "
                       f"loaded config, got {shown}")


def _numpy_mbb():
    """The 12 × 5 MBB data with tuples for lists and numpy numbers for numbers."""
    data = mbb_data(12, 5, max_iterations=4)
    data["mesh"] = {"grid": (np.int64(12), np.int32(5)), "size": np.array([12.0, 5.0])}
    data["supports"] = ({"at": {"x": np.float32(0)}, "fix": ("x",)},
                        {"at": {"x": np.int64(12), "y": np.array(0.0)}, "fix": [np.str_("y")]})
    data["loads"][0]["force"] = (np.float64(0.0), np.float64(-1.0))
    data["design"]["volume_fraction"] = np.float64(0.5)
    data["design"]["filter"]["radius"] = np.float32(1.5)
    data["optimizer"]["max_iterations"] = np.int64(4)
    data["checkpoint"] = {"every": np.uint8(3)}
    return data


def test_tuples_and_numpy_numbers_read_as_yaml_lists_and_numbers():
    plain = load_config(mbb_data(12, 5, max_iterations=4))
    given = _numpy_mbb()
    kept = copy.deepcopy(given)
    config = load_config(given)
    assert config.mesh.grid == (12, 5) and config.design.volume_fraction == 0.5
    assert type(config.optimizer.max_iterations) is int and config.checkpoint.every == 3
    assert config.loads == plain.loads and config.supports == plain.supports
    assert config.fingerprint == load_config({**mbb_data(12, 5, max_iterations=4),
                                              "checkpoint": {"every": 3}}).fingerprint
    assert repr(given) == repr(kept)  # the caller's dict is not changed
    assert femopt.run(given).objective == femopt.run(plain).objective


def test_a_numpy_bool_reads_as_a_yaml_boolean():
    data = mbb_data(12, 5, filter_type="density")
    data["design"]["projection"] = {"preserve_volume": np.bool_(True)}
    assert load_config(data).design.projection.preserve_volume is True


def test_values_of_types_yaml_has_not_are_named_by_their_type():
    data = mbb_data(12, 5)
    data["loads"][0]["force"] = {0.0, -1.0}
    with pytest.raises(femopt.ConfigError) as info:
        load_config(data)
    assert str(info.value).startswith("<string>: loads[0].force: expected a list of 2 numbers, got a set ")
    data["loads"][0]["force"] = [0.0, 1 + 2j]
    with pytest.raises(femopt.ConfigError) as info:
        load_config(data)
    assert str(info.value) == "<string>: loads[0].force[1]: expected a number, got a complex (1+2j)"


# ---------------------------------------------------------------- check-grad's options


@pytest.mark.parametrize("tolerance", ["-1", "0", "nan"])
def test_check_grad_refuses_a_tolerance_that_is_not_positive(tmp_path, tolerance):
    config = write_yaml(tmp_path, mbb_data(4, 2))
    result = invoke("check-grad", config, "--samples", "1", "--tolerance", tolerance)
    assert result.exit_code == 2, result.output
    assert "--tolerance" in result.stderr and "Traceback" not in result.output
    assert "FAILED" not in result.output


# ---------------------------------------------------------------- multigrid levels


def test_max_levels_coarsen_down_to_a_single_element():
    from femopt.solvers.mg_hierarchy import auto_levels, max_levels

    assert max_levels((60, 20)) == 7            # 60, 30, 15, 8, 4, 2, 1
    assert max_levels((12, 4)) == 5             # 12, 6, 3, 2, 1
    assert max_levels((1, 1)) == 1 and max_levels((2, 1, 1)) == 2
    assert max_levels((100, 100, 100)) == 8     # 100, 50, 25, 13, 7, 4, 2, 1
    for shape in [(100, 100, 100), (600, 200), (1000, 1000, 2), (3, 1, 1), (40, 3)]:
        for coarse_dofs in (1, 10000):          # what auto picks is allowed
            assert auto_levels(shape, 3, coarse_dofs) <= max_levels(shape)


@pytest.mark.parametrize("levels", [6, 50, 1000])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_mg_levels_beyond_the_grid_are_one_line(tmp_path, command, levels):
    data = mbb_data(12, 4)
    data["solver"] = {"type": "mg", "levels": levels}
    with pytest.raises(femopt.ConfigError) as info:
        femopt.load_config(data)
    assert str(info.value) == (f"<string>: solver.levels: at most 5 for this 12 × 4 grid (each level "
                               f"halves every axis; the 5th is a single element), got {levels}")
    out = tmp_path / "out"
    result = invoke(command, write_yaml(tmp_path, data), *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "solver.levels: at most 5" in result.stderr and not out.exists()


def test_mg_at_its_most_levels_runs():
    data = mbb_data(12, 4, max_iterations=2)
    data["solver"] = {"type": "mg", "levels": 5}
    assert np.isfinite(femopt.run(data).objective)


def test_mg_solver_refuses_more_levels_than_the_grid_has():
    from femopt.errors import SolverError
    from femopt.fem.elasticity import stiffness_matrices
    from femopt.mesh import StructuredMesh
    from femopt.solvers.multigrid import MGSolver

    mesh = StructuredMesh((12, 4), (12.0, 4.0))
    ke = stiffness_matrices(mesh, 0.3)
    with pytest.raises(SolverError, match=r"solver: mg levels must be at most 5 for the 12 × 4 grid, got 1000"):
        MGSolver((12, 4), ke, np.arange(10, 130), levels=1000)


# ---------------------------------------------------------------- sizes double precision carries


def _with(data, *path_and_value):
    *path, value = path_and_value
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


HEAT = {"physics": "heat", "mesh": {"grid": [6, 4]}, "material": {"k": 1.0, "kmin": 0.001},
        "supports": [{"at": {"x": 0}, "fix": ["t"]}], "loads": [{"at": {"x": 6}, "nodal_heat": 0.01}],
        "design": {"volume_fraction": 0.4}}

OUT_OF_RANGE = [  # (data, path, value, message after the path)
    (mbb_data(6, 2), ("material", "E"), 1e200, "must be between 1e-30 and 1e+30 in size"),
    (mbb_data(6, 2), ("material", "E"), 1e-200, "must be between 1e-30 and 1e+30 in size"),
    (mbb_data(6, 2), ("material", "thickness"), 1e-31, "must be between 1e-30 and 1e+30 in size"),
    (mbb_data(6, 2), ("material", "Emin"), 1e-40, "must be 0 or at least 1e-30 × E (1), got 1e-40"),
    (mbb_data(6, 2), ("loads", 0, "force", 1), -1e-200, "must be 0 or between 1e-30 and 1e+30 in size"),
    (mbb_data(6, 2), ("loads", 0, "force", 1), 1e31, "must be 0 or between 1e-30 and 1e+30 in size"),
    (_with(mbb_data(6, 2), "springs", [{"at": {"x": 6}, "component": "y", "stiffness": 1}]),
     ("springs", 0, "stiffness"), 1e40, "must be between 1e-30 and 1e+30 in size"),
    (_with(mbb_data(6, 2), "load_cases", [{"weight": 1, "loads": [{"at": {"x": 0}, "force": [0, -1]}]}]),
     ("load_cases", 0, "weight"), 1e-100, "must be between 1e-30 and 1e+30 in size"),
    (dict(copy.deepcopy(HEAT)), ("material", "k"), 1e35, "must be between 1e-30 and 1e+30 in size"),
    (dict(copy.deepcopy(HEAT)), ("material", "kmin"), 1e-35, "must be at least 1e-30 × k (1), got 1e-35"),
    (dict(copy.deepcopy(HEAT)), ("loads", 0, "nodal_heat"), 1e-35, "must be 0 or between 1e-30 and 1e+30"),
]


@pytest.mark.parametrize("data, path, value, message", OUT_OF_RANGE)
def test_values_too_large_or_small_for_double_precision_are_one_line(data, path, value, message):
    data = copy.deepcopy(data)
    if "load_cases" in data:
        del data["loads"]
    _with(data, *path, value)
    with pytest.raises(femopt.ConfigError) as info:
        load_config(data)
    where = ".".join(str(p) for p in path).replace(".0", "[0]").replace(".1", "[1]")
    assert str(info.value).startswith(f"<string>: {where}: {message}"), str(info.value)


def test_the_default_emin_is_named_when_e_makes_it_too_small():
    data = mbb_data(6, 2)
    data["material"] = {"E": 1e25}
    with pytest.raises(femopt.ConfigError) as info:
        load_config(data)
    assert str(info.value) == ("<string>: material.Emin: must be 0 or at least 1e-30 × E (1e+25), got "
                               "1e-09 (the default; set it near 1e-9 × E)")


def test_oc_finds_the_same_design_in_any_units():
    """x_new depends on -∂c/∂x / λ only; the published bisection of λ in [0, 1e9] ended at
    its upper end for compliances of 1e22 (every element solid, the volume limit ignored) and
    at its floor for E = 1e30 (every element void), each reported as converged."""
    plain = femopt.run(mbb_data(12, 5, max_iterations=60))
    for E, force in [(1.0, 1e10), (1e-20, 1.0), (1e30, 1e-30), (1e-30, 1e30)]:
        data = mbb_data(12, 5, max_iterations=60)
        data["material"].update(E=E, Emin=1e-9 * E)
        data["loads"][0]["force"] = [0.0, -force]
        result = femopt.run(data)
        assert result.objective * E / force**2 == pytest.approx(plain.objective, rel=3e-3)
        assert result.volume == pytest.approx(0.5, abs=1e-3)
        assert np.abs(result.rho - plain.rho).max() < 0.02


def test_oc_keeps_the_published_bisection_where_it_works():
    from femopt.optimizers import OC

    rng = np.random.default_rng(0)
    x, dc = rng.uniform(0.3, 0.7, 50), -rng.uniform(0.1, 10, 50)
    dv = np.full(50, 1 / 50)
    g = x.mean() - 0.5
    new = OC(move=0.2).step(x, 1.0, dc, np.array([g]), dv[None])
    l1, l2 = 0.0, 1e9  # the 88-line code's loop, verbatim
    while (l2 - l1) / (l1 + l2) > 1e-3:
        lmid = 0.5 * (l2 + l1)
        xnew = np.maximum(0, np.maximum(x - 0.2, np.minimum(1, np.minimum(x + 0.2, x * np.sqrt(-dc / dv / 50 / lmid)))))
        l1, l2 = (lmid, l2) if xnew.mean() > 0.5 else (l1, lmid)
    assert np.allclose(new, xnew, rtol=1e-12, atol=0)


def test_oc_stops_when_every_sensitivity_underflowed():
    from femopt.errors import NonFiniteError
    from femopt.optimizers import OC

    x = np.full(8, 0.5)
    with pytest.raises(NonFiniteError, match="oc: every sensitivity of the objective is zero"):
        OC().step(x, 0.0, np.zeros(8), np.array([0.0]), np.full((1, 8), 1 / 8))
