"""Formulations: MMA against OC, L-BFGS-B, projection with continuation, the force
inverter, several load cases and minimum volume (the example configs, through the
build layer)."""

import numpy as np
import pytest
import yaml

import femopt
from femopt.build import build_problem, build_responses
from femopt.design import grayness
from femopt.responses import Compliance
from femopt.solvers import make_solver
from femopt.loop.driver import optimize
from femopt.loop.evaluator import Evaluator

from helpers import CONFIGS, mbb_data


def run(data, x0=None):
    """(result, problem) of the problem ``data`` (YAML data), from ``x0`` if given."""
    model = femopt.prepare(data)
    loop = model.config.optimizer
    result = optimize(model.evaluator(), model.optimizer, model.x0 if x0 is None else x0,
                      max_iterations=loop.max_iterations, tolerance=loop.tolerance,
                      continuation=model.continuation())
    return result, model.problem


def scaled(path, grid):
    """A config file's data on a coarser grid of the same physical size (selections still hold)."""
    data = yaml.safe_load(path.read_text())
    data["mesh"]["size"] = data["mesh"].get("size", [float(n) for n in data["mesh"]["grid"]])
    data["mesh"]["grid"] = grid
    return data


# ---------------------------------------------------------------- MMA and OC


def test_mma_reaches_ocs_compliance_or_better_on_the_density_filtered_mbb():
    """On configs/mbb.yaml's beam with the density filter (top88(60,20,0.5,3,1.5,2)), OC stops
    at 218.80 after 127 iterations; MMA converges to another local optimum, 3.6 % lower. OC's
    design is not stationary: MMA started from it also descends below it."""
    oc, problem = run(mbb_data(filter_type="density"))
    assert oc.objective == pytest.approx(218.8032, rel=1e-4) and oc.iterations == 127
    mma_config = mbb_data(filter_type="density", type="mma")
    mma, _ = run(mma_config)
    assert mma.converged and mma.volume == pytest.approx(0.5, abs=1e-3)
    assert mma.objective <= 1.01 * oc.objective
    assert mma.objective == pytest.approx(210.83, rel=1e-3)
    warm, _ = run(mma_config, x0=oc.x)
    assert warm.converged and warm.objective < oc.objective


def test_mma_and_oc_agree_within_one_percent_where_they_find_the_same_optimum():
    oc, _ = run(mbb_data(nx=30, ny=10, filter_type="density"))
    mma, _ = run(mbb_data(nx=30, ny=10, filter_type="density", type="mma"))
    assert oc.converged and mma.converged
    assert abs(mma.objective - oc.objective) / oc.objective <= 0.01


def test_lbfgs_with_augmented_lagrangian_matches_oc():
    lbfgs, _ = run(mbb_data(nx=30, ny=10, filter_type="density", type="lbfgs"))
    oc, _ = run(mbb_data(nx=30, ny=10, filter_type="density"))
    assert lbfgs.converged
    assert abs(lbfgs.objective - oc.objective) / oc.objective <= 0.01
    assert lbfgs.volume == pytest.approx(0.5, abs=1e-3)  # the multiplier drove g to 0
    assert lbfgs.factorizations > 5 * lbfgs.iterations  # its line searches evaluated designs


def test_lbfgs_options_from_yaml_reach_the_optimizer():
    data = mbb_data(nx=12, ny=4, filter_type="density", type="lbfgs", max_iterations=3)
    data["optimizer"].update(inner_iterations=2, constraint_penalty=100.0)
    optimizer = femopt.prepare(data).optimizer
    assert (optimizer.inner_iterations, optimizer.penalty) == (2, 100.0)
    result, _ = run(data)
    # One evaluation per step plus at most 3 × inner_iterations by its line search.
    assert result.iterations == 3 and result.factorizations <= 3 * (1 + 3 * 2)


# ---------------------------------------------------------------- projection and continuation


def projected_mbb(nx=60, ny=20, every=40, end=32, **optimizer):
    data = mbb_data(nx=nx, ny=ny, filter_type="density", type="mma", **optimizer)
    data["design"]["projection"] = {"beta": {"start": 1, "end": end, "factor": 2, "every": every},
                                    "eta": 0.5, "preserve_volume": True}
    return data


def test_projection_with_beta_continuation_gives_a_black_and_white_mbb():
    result, _ = run(projected_mbb())
    assert result.converged and result.parameters["beta"] == 32
    assert grayness(result.rho) < 0.02
    assert result.volume == pytest.approx(0.5, abs=1e-3)
    assert result.objective < 218.8  # black and white, and stiffer than the gray OC design


def test_convergence_does_not_end_the_run_before_the_schedule_ends():
    # A huge tolerance: every iteration counts as settled, so each stage lasts one iteration,
    # and the run must still go through beta = 1, 2, 4, 8, 16, 32.
    result, _ = run(projected_mbb(nx=12, ny=4, every=100, tolerance=10.0))
    assert result.converged and result.iterations == 6 and result.parameters["beta"] == 32
    assert [h.parameters["beta"] for h in result.history] == [1, 2, 4, 8, 16, 32]  # history.csv's column
    # Without convergence, a stage lasts `every` iterations: 3 per stage, then 3 at beta = 4.
    result, _ = run(projected_mbb(nx=12, ny=4, every=3, end=4, tolerance=1e-12, max_iterations=9))
    assert not result.converged and result.iterations == 9 and result.parameters["beta"] == 4


def test_penalty_continuation_and_ramp():
    data = mbb_data(nx=30, ny=10, filter_type="density")
    data["design"]["penalty"] = {"start": 1.0, "end": 3.0, "step": 0.5, "every": 20}
    continued, _ = run(data)
    assert continued.converged and continued.parameters["penalty"] == 3.0
    data["design"].update(interpolation="ramp", penalty=8.0)
    ramp, _ = run(data)
    assert ramp.converged and ramp.volume == pytest.approx(0.5, abs=1e-3)


# ---------------------------------------------------------------- compliant mechanism


def test_inverter_moves_its_output_against_the_input_force():
    config = scaled(CONFIGS / "inverter.yaml", [40, 20])  # the 99-line mechanism's own grid
    result, problem = run(config)
    node_in = problem.mesh.select_nodes([("x", 0, 0), ("y", 40, 40)])[0]
    node_out = problem.mesh.select_nodes([("x", 80, 80), ("y", 40, 40)])[0]
    u_in, u_out = result.u[2 * node_in, 0], result.u[2 * node_out, 0]
    force_in = problem.forces[2 * node_in, 0]
    assert force_in > 0 and u_in > 0
    assert u_out < -0.5  # opposite to the input force, and not marginally
    assert result.objective == pytest.approx(u_out)
    assert result.volume == pytest.approx(0.3, abs=1e-3)


# ---------------------------------------------------------------- several load cases


def test_load_cases_give_a_weighted_compliance_from_one_block_solve():
    config = femopt.load_config(CONFIGS / "multiload.yaml")
    problem = build_problem(config)
    assert problem.forces.shape == (problem.dofmap.n_dofs, 2)
    np.testing.assert_array_equal(problem.case_weights, [1.0, 0.5])
    objective, _ = build_responses(config, problem)
    assert isinstance(objective, Compliance)
    evaluate = Evaluator(problem, make_solver("auto"), objective=objective)
    ev = evaluate(np.full(evaluate.n_variables, 0.4))
    per_case = np.einsum("nc,nc->c", problem.forces, ev.u)
    assert ev.objective == pytest.approx(per_case @ [1.0, 0.5], rel=1e-12)
    assert evaluate.solver.n_factorizations == 1


# ---------------------------------------------------------------- minimum volume


def test_minimum_volume_subject_to_compliance():
    data = scaled(CONFIGS / "min_volume.yaml", [60, 20])
    result, problem = run(data)
    evaluate = femopt.prepare(data).evaluator()
    evaluate.set_parameters(**result.parameters)
    compliance = evaluate(result.x[evaluate.space.active]).responses["constraints[0]"]
    assert compliance == result.responses["constraints[0]"]  # the run reports the final design's
    assert result.converged and result.parameters["beta"] == 32
    assert compliance <= 250.0 * (1 + 1e-3)  # the constraint holds ...
    assert compliance >= 250.0 * (1 - 2e-2)  # ... and is active: the volume went as low as it could
    assert result.objective < 0.4 and grayness(result.rho) < 0.03
