"""The optimization loop: reference results of the 88-line code and exact gradients."""

import numpy as np
import pytest

from femopt.responses import CallableLoss, Compliance
from femopt.solvers import cholmod_available

from helpers import central_difference, mbb_evaluator, run_oc

SOLVERS = ["cholmod", "superlu"] if cholmod_available() else ["superlu"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("filter_type,radius,compliance,iterations", [
    ("sensitivity", 1.5, 203.1925, 94),   # top88(60,20,0.5,3,1.5,1)
    ("density", 1.5, 218.8032, 127),      # top88(60,20,0.5,3,1.5,2)
    ("sensitivity", 2.4, 216.8137, 106),  # top88(60,20,0.5,3,2.4,1)
])
def test_reproduces_88_line_code(solver, filter_type, radius, compliance, iterations):
    result = run_oc(mbb_evaluator(60, 20, filter_type, radius, solver))
    assert result.objective == pytest.approx(compliance, rel=1e-4)
    assert result.iterations == iterations
    assert result.converged
    assert result.volume == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("filter_type", ["density", "sensitivity", "none"])
def test_compliance_gradient_matches_central_differences(filter_type):
    evaluate = mbb_evaluator(filter_type=filter_type)
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


def test_volume_constraint_gradient_matches_central_differences():
    evaluate = mbb_evaluator()
    rng = np.random.default_rng(1)
    x, d = rng.uniform(0.2, 0.9, evaluate.problem.mesh.n_elements), rng.standard_normal(60)
    ev = evaluate(x)
    fd = central_difference(lambda y: evaluate(y).constraints[0], x, d)
    assert ev.constraint_gradients[0] @ d == pytest.approx(fd, rel=1e-8)


def test_self_adjoint_and_generic_adjoint_give_the_same_compliance_gradient():
    evaluate = mbb_evaluator()
    forces = evaluate.problem.forces
    generic = mbb_evaluator(problem=evaluate.problem,
                            objective=CallableLoss(lambda u: (np.sum(forces * u), forces)))
    x = np.random.default_rng(2).uniform(0.2, 0.9, evaluate.problem.mesh.n_elements)
    shortcut, adjoint = evaluate(x), generic(x)
    assert isinstance(evaluate.objective, Compliance)
    assert shortcut.objective == pytest.approx(adjoint.objective, rel=1e-14)
    np.testing.assert_allclose(shortcut.gradient, adjoint.gradient, rtol=1e-9)


def test_result_reports_status_responses_and_timings():
    result = run_oc(mbb_evaluator(), max_iterations=3)
    assert result.iterations == 3 and result.status == "iteration_limit" and not result.converged
    assert result.message == "stopped at the iteration limit"
    assert result.responses == {"objective": result.objective, "constraints[0]": result.volume}
    assert set(result.timings) >= {"assembly", "factorization", "solve", "sensitivity", "filter", "update"}
