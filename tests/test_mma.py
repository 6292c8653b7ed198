"""Tests for the MMA optimizer (femopt.optimizers.mma)."""
import tracemalloc

import numpy as np
import pytest

from femopt.optimizers.mma import MMA


def optimize(problem, x0, lower, upper, max_iter=300, tol=1e-8, **options):
    """Iterate MMA until the design stops moving.

    Returns (x, f, iterations, kkt residual norm, optimizer).
    """
    opt = MMA(lower, upper, **options)
    x = np.asarray(x0, dtype=float)
    for it in range(1, max_iter + 1):
        f, df, g, dg = problem(x)
        x_new = opt.step(x, f, df, g, dg)
        change = np.abs(x_new - x).max()
        x = x_new
        if change < tol:
            break
    f, df, g, dg = problem(x)
    return x, f, it, opt.kkt_residual(x, df, g, dg), opt


# --- 1. projection onto {sum(x) <= 1, 0 <= x <= 1}: known closed form -------
C = np.array([0.8, 0.6, 0.3, -0.2])


def projection(x):
    return (np.sum((x - C) ** 2), 2 * (x - C),
            np.array([x.sum() - 1.0]), np.ones((1, x.size)))


@pytest.mark.parametrize("x0", [np.full(4, 0.1), np.ones(4)],
                         ids=["feasible-start", "infeasible-start"])
def test_quadratic_projection_matches_analytic_optimum(x0):
    # x* = clip(C - tau, 0, 1) with sum(x*) = 1 -> tau = 0.7/3; the last
    # component sits on its lower bound.  Multiplier of sum(x) <= 1 is 2 tau.
    tau = 0.7 / 3
    x_star = np.clip(C - tau, 0.0, 1.0)
    x, f, iters, kkt, opt = optimize(projection, x0, 0.0, 1.0)
    assert iters < 50
    np.testing.assert_allclose(x, x_star, atol=1e-4)
    np.testing.assert_allclose(opt.multipliers, [2 * tau], atol=1e-4)
    assert kkt < 1e-5


# --- 2. Svanberg's cantilever beam (1987 paper, 2007 note) -----------------
CANT = np.array([61.0, 37.0, 19.0, 7.0, 1.0])


def cantilever(x):
    return (0.0624 * x.sum(), np.full(x.size, 0.0624),
            np.array([np.sum(CANT / x ** 3) - 1.0]), (-3 * CANT / x ** 4)[None])


def test_cantilever_beam():
    x, f, iters, kkt, _ = optimize(cantilever, np.full(5, 5.0), 1.0, 10.0)
    assert iters < 60
    assert f == pytest.approx(1.340, rel=1e-3)
    np.testing.assert_allclose(x, [6.016, 5.309, 4.494, 3.502, 2.153], rtol=1e-3)
    assert cantilever(x)[2][0] <= 1e-6          # feasible
    assert kkt < 1e-4


# --- 3. the toy problem of the 2007 note (3 variables, 2 constraints) -------
C1, C2 = np.array([5.0, 2.0, 1.0]), np.array([3.0, 4.0, 3.0])


def toy(x):
    g = np.array([np.sum((x - C1) ** 2) - 9.0, np.sum((x - C2) ** 2) - 9.0])
    return x @ x, 2 * x, g, np.vstack([2 * (x - C1), 2 * (x - C2)])


def test_svanberg_toy_problem():
    x, f, iters, kkt, opt = optimize(toy, [4.0, 3.0, 2.0], 0.0, 5.0)
    assert iters < 40
    np.testing.assert_allclose(x, [2.017, 1.780, 1.237], atol=1e-3)
    np.testing.assert_allclose(toy(x)[2], 0.0, atol=1e-5)   # both active
    assert np.all(opt.multipliers > 0.1)
    assert kkt < 1e-5


# --- m >= n: exercises the (n+1) x (n+1) Newton system ---------------------
def test_dense_path_when_constraints_outnumber_variables():
    # min |x - (2, 2)|^2 s.t. x1 + x2 <= 2, x1 - x2 <= 0.5, -x1 <= 0 and
    # x2 <= 0.8 (box) -> x* = (1.2, 0.8), lambda = (1.6, 0, 0), and the
    # upper-bound multiplier 0.8 enters the KKT residual.
    A = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 0.0]])
    rhs = np.array([2.0, 0.5, 0.0])

    def problem(x):
        return np.sum((x - 2) ** 2), 2 * (x - 2), A @ x - rhs, A

    x, _, _, kkt, opt = optimize(problem, [0.2, 0.3], [-3.0, -3.0], [3.0, 0.8])
    np.testing.assert_allclose(x, [1.2, 0.8], atol=1e-4)
    np.testing.assert_allclose(opt.multipliers, [1.6, 0.0, 0.0], atol=1e-4)
    assert kkt < 1e-5


def test_without_constraints():
    target = np.array([-1.0, 0.3, 2.0])

    def problem(x):
        return np.sum((x - target) ** 2), 2 * (x - target), None, None

    x, _, _, _, opt = optimize(problem, np.zeros(3), -0.5, 1.0, max_iter=60)
    assert opt.multipliers.shape == (0,)
    np.testing.assert_allclose(x[[0, 2]], [-0.5, 1.0], atol=1e-6)
    # An interior optimum of an unconstrained variable is only reached up to
    # a limit cycle: the note's MMA steps ~0.9 of the asymptote distance,
    # which is floored at 0.01 * (upper - lower) = 0.015 here.
    assert abs(x[1] - 0.3) < 0.01


# --- 4. large n, small m: only (m+1) x (m+1) solves, modest memory ----------
def test_large_problem_uses_small_system(monkeypatch):
    n = 20_000
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 2.0, n)

    def problem(x):   # compliance-like: min mean(w/x) s.t. mean(x) <= 0.3
        return (np.mean(w / x), -w / x ** 2 / n,
                np.array([x.mean() - 0.3]), np.full((1, n), 1.0 / n))

    shapes = []
    solve = np.linalg.solve

    def recording_solve(A, b):
        shapes.append(A.shape)
        return solve(A, b)

    monkeypatch.setattr(np.linalg, "solve", recording_solve)
    opt = MMA(1e-3, 1.0)
    x = np.full(n, 0.3)
    f_start = problem(x)[0]
    tracemalloc.start()
    for _ in range(5):
        x = opt.step(x, *problem(x))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert set(shapes) == {(2, 2)}
    assert peak < 50e6          # an n x n float array alone would be 3.2 GB
    f, _, g, _ = problem(x)
    assert f < f_start and g[0] < 1e-3


# --- 5. robustness ----------------------------------------------------------
def test_bounds_respected_with_wild_gradients():
    rng = np.random.default_rng(1)
    n, m = 50, 3
    lower = rng.uniform(-2.0, 0.0, n)
    upper = lower + rng.uniform(0.1, 3.0, n)
    opt = MMA(lower, upper, move=1.0)
    x = rng.uniform(lower, upper)
    for _ in range(20):
        x = opt.step(x, 0.0, rng.normal(scale=1e3, size=n),
                     rng.normal(scale=10.0, size=m),
                     rng.normal(scale=1e3, size=(m, n)))
        assert np.all(np.isfinite(x))
        assert np.all(x >= lower) and np.all(x <= upper)


def test_zero_gradients_and_stationary_design_give_no_nan():
    # Identical designs make (x - xold1)(xold1 - xold2) = 0 in the asymptote
    # update, and zero derivatives leave only the raa0 regularisation.
    opt = MMA(0.0, 1.0)
    x = np.array([0.0, 0.5, 1.0])       # includes both bounds
    for _ in range(5):
        x_new = opt.step(x, 1.0, np.zeros(3), np.array([-1.0]), np.zeros((1, 3)))
        assert np.all(np.isfinite(x_new))
        assert np.all(x_new >= 0.0) and np.all(x_new <= 1.0)
        np.testing.assert_allclose(x_new[1], 0.5, atol=1e-6)  # nothing to gain
        assert np.all(np.isfinite(opt.multipliers))
        x = x_new
    assert np.all(np.isfinite(opt.low)) and np.all(np.isfinite(opt.upp))


def test_rejects_empty_box():
    with pytest.raises(ValueError):
        MMA(np.zeros(3), np.array([1.0, 0.0, 1.0]))
