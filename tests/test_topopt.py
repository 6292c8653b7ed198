"""The optimization loop: reference results of the 88-line code and exact gradients."""

import numpy as np
import pytest

from femopt.objectives import CallableLoss, Compliance
from femopt.problem import build_problem
from femopt.solvers import cholmod_available, make_solver
from femopt.topopt import Evaluator, optimize

SOLVERS = ["cholmod", "superlu"] if cholmod_available() else ["superlu"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("filter_type,radius,compliance,iterations", [
    ("sensitivity", 1.5, 203.1925, 94),   # top88(60,20,0.5,3,1.5,1)
    ("density", 1.5, 218.8032, 127),      # top88(60,20,0.5,3,1.5,2)
    ("sensitivity", 2.4, 216.8137, 106),  # top88(60,20,0.5,3,2.4,1)
])
def test_reproduces_88_line_code(mbb_config, solver, filter_type, radius, compliance, iterations):
    config = mbb_config(filter_type=filter_type, radius=radius)
    result = optimize(build_problem(config), config.design, config.optimizer, make_solver(solver))
    assert result.objective == pytest.approx(compliance, rel=1e-4)
    assert result.iterations == iterations
    assert result.converged
    assert result.volume == pytest.approx(0.5, abs=1e-3)


def small_evaluator(mbb_config, filter_type="density", solver="auto"):
    config = mbb_config(nx=12, ny=5, filter_type=filter_type, radius=1.5)
    return Evaluator(build_problem(config), config.design, make_solver(solver)), config


def central_difference(function, x, direction, h=1e-3):
    """Fourth-order central difference: truncation O(h⁴) stays far below the
    round-off of the solves (~1e-13 relative), which a tiny h would amplify."""
    f = lambda t: function(x + t * h * direction)  # noqa: E731
    return (8 * (f(1) - f(-1)) - (f(2) - f(-2))) / (12 * h)


@pytest.mark.parametrize("filter_type", ["density", "sensitivity", "none"])
def test_compliance_gradient_matches_central_differences(mbb_config, filter_type):
    evaluate, _ = small_evaluator(mbb_config, filter_type)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.9, evaluate.problem.mesh.n_elements)
    gradient = evaluate(x, smooth=False).gradient
    for _ in range(5):
        d = rng.standard_normal(len(x))
        fd = central_difference(lambda y: evaluate(y).objective, x, d)
        assert gradient @ d == pytest.approx(fd, rel=1e-6)
    # Component-wise, too, for a few elements.
    for e in rng.choice(len(x), 4, replace=False):
        fd = central_difference(lambda y: evaluate(y).objective, x, np.eye(len(x))[e])
        assert gradient[e] == pytest.approx(fd, rel=1e-6)


def test_volume_constraint_gradient_matches_central_differences(mbb_config):
    evaluate, _ = small_evaluator(mbb_config, "density")
    rng = np.random.default_rng(1)
    x, d = rng.uniform(0.2, 0.9, evaluate.problem.mesh.n_elements), rng.standard_normal(60)
    ev = evaluate(x)
    fd = central_difference(lambda y: evaluate(y).constraints[0], x, d)
    assert ev.constraint_gradients[0] @ d == pytest.approx(fd, rel=1e-8)


def test_self_adjoint_and_generic_adjoint_give_the_same_compliance_gradient(mbb_config):
    evaluate, _ = small_evaluator(mbb_config, "density")
    forces = evaluate.problem.forces
    generic = Evaluator(evaluate.problem, small_evaluator(mbb_config)[1].design, make_solver("auto"),
                        objective=CallableLoss(lambda u: (np.sum(forces * u), forces)))
    x = np.random.default_rng(2).uniform(0.2, 0.9, evaluate.problem.mesh.n_elements)
    shortcut, adjoint = evaluate(x), generic(x)
    assert isinstance(evaluate.objective, Compliance)
    assert shortcut.objective == pytest.approx(adjoint.objective, rel=1e-14)
    np.testing.assert_allclose(shortcut.gradient, adjoint.gradient, rtol=1e-9)


def test_stop_iteration_from_callback_ends_the_run(mbb_config):
    config = mbb_config(nx=12, ny=5)

    def stop_at_three(record):
        if record.iteration == 3:
            raise StopIteration

    result = optimize(build_problem(config), config.design, config.optimizer, make_solver("auto"),
                      callback=stop_at_three)
    assert result.iterations == 3 and not result.converged
    assert set(result.timings) >= {"assembly", "factorization", "solve", "sensitivity", "filter", "update"}
