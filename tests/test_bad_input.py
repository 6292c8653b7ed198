"""Bad input of the second audit (issue 22): wrong Python types given to the API, values out
of the range double precision can carry, options the grid cannot hold, check-grad's options.
Each is a one-line FemoptError (exit code 2 on the command line), never a traceback."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import femopt
from femopt.cli import main
from femopt.config import load_config

from helpers import CONFIGS, mbb_data, write_yaml


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
    data["design"]["projection"] = None
    del data["design"]["projection"]
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
    from femopt.mesh import StructuredMesh
    from femopt.solvers.multigrid import MGSolver

    mesh = StructuredMesh((12, 4), (12.0, 4.0))
    ke = mesh.stiffness_matrices(0.3)
    with pytest.raises(SolverError, match=r"solver: mg levels must be at most 5 for the 12 × 4 grid, got 1000"):
        MGSolver((12, 4), ke, np.arange(10, 130), levels=1000)
