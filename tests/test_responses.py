"""Every loss gets its gradient from one extra (block) solve with the factor in hand."""

import numpy as np
import pytest

from femopt.responses import CallableLoss, Compliance, Displacement, DisplacementTarget, UserFunctionError, Volume
from femopt.fem.problem import Problem
from femopt.solvers import make_solver
from femopt.loop.evaluator import Constraint

from helpers import central_difference, mbb_evaluator, mbb_problem


class CountingSolver:
    """Wraps a solver and counts factorizations and solve calls (a block counts once)."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.factorizations = self.solves = self.transpose_solves = 0
        self.n_factorizations = 0

    def analyze(self, K):
        self.inner.analyze(K)

    def factorize(self, K):
        self.factorizations += 1
        self.inner.factorize(K)

    def solve(self, B):
        self.solves += 1
        return self.inner.solve(B)

    def solve_transpose(self, B):
        self.transpose_solves += 1
        return self.inner.solve_transpose(B)


def two_load_cases():
    """The 12×5 MBB problem with a second load case (a horizontal pull at the top right)."""
    problem = mbb_problem(12, 5)
    second = np.zeros(problem.dofmap.n_dofs)
    node = problem.mesh.select_nodes([("x", 12.0, 12.0), ("y", 5.0, 5.0)])[0]
    second[2 * node] = 0.5
    return Problem(problem.mesh, problem.element_matrix, problem.fixed_dofs,
                   np.column_stack([problem.forces[:, 0], second]), problem.E, problem.Emin)


def losses(problem):
    rng = np.random.default_rng(5)
    dofs = rng.choice(problem.free_dofs, 4, replace=False)
    weights = np.array([1.0, -2.0])
    return {
        "compliance": Compliance(weights=weights),
        "displacement": Displacement(dofs, rng.standard_normal(4), case=1),
        "target": DisplacementTarget(dofs, rng.standard_normal(4) * 0.1),
        "callable": CallableLoss(lambda u: (np.sum(np.sin(0.01 * u)), 0.01 * np.cos(0.01 * u))),
    }


@pytest.mark.parametrize("name", ["compliance", "displacement", "target", "callable"])
def test_each_loss_costs_at_most_one_extra_block_solve_and_matches_finite_differences(name):
    problem = two_load_cases()
    solver = CountingSolver(make_solver("auto"))
    evaluate = mbb_evaluator(problem=problem, solver=solver, objective=losses(problem)[name],
                             constraints=[Constraint(Volume(), 0.5)])
    x = np.random.default_rng(3).uniform(0.2, 0.9, problem.mesh.n_elements)
    gradient = evaluate(x, smooth=False).gradient
    assert (solver.factorizations, solver.solves) == (1, 1)  # both load cases in one block solve
    assert solver.transpose_solves == (0 if name == "compliance" else 1)  # self-adjoint needs none

    d = np.random.default_rng(4).standard_normal(len(x))
    fd = central_difference(lambda y: evaluate(y).objective, x, d)
    assert gradient @ d == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("function, message", [
    (lambda u: 1 / 0, "python loss 'f' raised ZeroDivisionError: division by zero"),
    (lambda u: (1.0, "x"), "python loss 'f' must return (value, dL/du)"),
    (lambda u: (1.0, np.zeros(3)), "python loss 'f' returned dL/du of shape (3,)"),
])
def test_user_loss_errors_are_one_line(function, message):
    evaluate = mbb_evaluator(6, 2, objective=CallableLoss(function, "f"))
    with pytest.raises(UserFunctionError) as info:
        evaluate(np.full(evaluate.n_variables, 0.5))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
