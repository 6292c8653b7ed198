"""The Taylor remainder test (femopt.loop.taylor) on analytic functions: rate 2 for a right
gradient, 1 for a wrong one, a pass at the round-off floor for a linear function, and a
floor measured from a noisy function's own noise."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from femopt.loop.gradcheck import taylor_check, verdicts
from femopt.loop.taylor import (ABOVE_FLOOR, HALVINGS, TaylorSeries, measure_noise, noise_level, room,
                           taylor_series)

from helpers import mbb_evaluator

N = 20
RNG = np.random.default_rng(5)
A = RNG.standard_normal((N, N))
A = A @ A.T / N + np.eye(N)      # symmetric positive definite (N, N)
B = RNG.standard_normal(N)


def quadratic(x):
    """f(x) = ½ xᵀAx + bᵀx + exp(x₀) (the exponential: a third-order term) and its gradient."""
    return 0.5 * x @ A @ x + B @ x + np.exp(x[0]), A @ x + B + np.eye(1, N, 0).ravel() * np.exp(x[0])


def series(fun, gradient_scale=1.0, noise=None, seed=0):
    """The Taylor series of fun (x → (value, gradient)) at a random x in [0.2, 0.9]ᴺ along a
    random d (max |d_e| = 1), as :func:`femopt.loop.gradcheck.taylor_check` runs it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.9, N)
    d = rng.standard_normal(N)
    d /= np.abs(d).max()
    f0, g = fun(x)
    h0 = 0.1 * room(x, d)

    def values(y):
        return np.array([fun(y)[0]])

    if noise is None:
        noise = measure_noise(values, x, d, np.array([f0]), h0)
    return taylor_series(values, x, d, np.array([f0]), np.array([gradient_scale * g @ d]), noise, h0)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_right_gradient_converges_at_rate_2(seed):
    s = series(quadratic, seed=seed)
    assert s.status == "ok"
    assert s.rate == pytest.approx(2.0, abs=0.05)
    assert len(s.valid_rates) >= 3
    assert len(s.steps) == HALVINGS + 1  # exact values: r = h²·c stays above the floor (~1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_gradient_wrong_by_one_percent_converges_at_rate_1(seed):
    s = series(quadratic, gradient_scale=1.01, seed=seed)
    assert s.status == "FAILED"
    assert s.rate == pytest.approx(1.0, abs=0.05)
    assert len(s.steps) == HALVINGS + 1  # r = 0.01·h·|∇f·d| stays far above the floor


def test_a_linear_function_passes_at_the_floor():
    """f = bᵀx: every remainder is round-off, there is no rate to observe, and the
    gradient matches to round-off."""
    s = series(lambda x: (B @ x + 3.0, B))
    assert s.status == "floor" and s.rate is None
    assert len(s.steps) == 1  # nothing to halve: the first remainder is at the floor
    assert s.slope_error < 1e-10  # 100 × the floor (a few ulps of f) / h0


def test_a_wrong_gradient_of_a_linear_function_fails():
    s = series(lambda x: (B @ x + 3.0, B), gradient_scale=1.01)
    assert s.status == "FAILED" and s.rate == pytest.approx(1.0, abs=1e-6)


def noisy(x):
    """The quadratic plus deterministic 'round-off' of relative size 1e-9 (a hash of x)."""
    f, g = quadratic(x)
    u = int.from_bytes(hashlib.sha256(x.tobytes()).digest()[:8], "little") / 2 ** 64 - 0.5
    return f * (1 + 1e-9 * u), g


def test_the_floor_is_measured_from_the_functions_own_noise():
    s = series(noisy)
    f0 = noisy(np.random.default_rng(0).uniform(0.2, 0.9, N))[0]
    # uniform noise of width 1e-9·f: standard deviation 2.9e-10·f; the floor is √2 of it
    assert 0.2e-9 * abs(f0) < s.floor < 1.5e-9 * abs(f0)
    assert s.status == "ok" and s.rate == pytest.approx(2.0, abs=0.05)
    assert len(s.steps) < HALVINGS + 1  # stopped where the noise takes over
    assert s.remainders[-1] < ABOVE_FLOOR * s.floor


def test_without_the_floor_the_noise_would_fail_a_right_gradient():
    """Judged on every step down to h0/2¹², the noisy remainders flatten: the rates at the
    smallest steps are noise, not 2. The floor is what keeps them out of the verdict."""
    s = series(noisy, noise=np.zeros(1))
    assert len(s.steps) == HALVINGS + 1
    assert np.all(np.abs(s.valid_rates[-3:] - 2) > 0.1)
    assert s.status == "FAILED"
    rescored = TaylorSeries(s.steps, s.remainders, series(noisy).floor)
    assert rescored.status == "ok"


def test_noise_level_of_independent_noise():
    rng = np.random.default_rng(1)
    offsets = np.arange(2000) * 1e-3
    values = np.column_stack([3 + 2 * offsets + 1e-6 * rng.standard_normal(2000), 5 - offsets])
    sigma = noise_level(offsets, values)
    assert sigma[0] == pytest.approx(1e-6, rel=0.05) and sigma[1] < 1e-14


def test_room_keeps_every_step_inside_the_bounds():
    x = np.array([0.2, 0.9, 0.5, 0.5])
    d = np.array([1.0, 0.5, -1.0, 0.0])
    assert room(x, d) == pytest.approx(0.2)  # x[1] reaches 1 at h = 0.2
    assert room(x, np.zeros(4)) == np.inf
    assert np.all((x + room(x, d) * d >= 0) & (x + room(x, d) * d <= 1 + 1e-15))


def test_the_verdict_is_on_the_smallest_steps():
    """r(h) = h²·|1 − 12h| (a third-order term against the second, crossing zero at h = 1/12):
    the first rates are far from 2 (1.0 there), the smallest steps' are 2 — and they decide."""
    steps = 0.1 / 2.0 ** np.arange(10)
    s = TaylorSeries(steps, steps ** 2 * np.abs(1 - 12 * steps), floor=1e-16)
    assert s.rates[0] == pytest.approx(1.0)
    assert s.status == "ok" and s.rate == pytest.approx(2.0, abs=0.05)


# ---------------------------------------------------------------- on an evaluator


def test_taylor_check_passes_a_right_evaluator_and_fails_one_wrong_term():
    """A small MBB beam, compliance and the volume constraint; then the same with the objective's
    gradient wrapped and scaled by 1.01: only that function fails, at rate ≈ 1."""
    evaluate = mbb_evaluator(12, 5)
    labels = ["objective", "volume"]
    found = verdicts(taylor_check(evaluate, evaluate.n_variables, labels, directions=2, seed=3))
    assert [v.status for v in found] == ["ok", "floor"]
    assert found[0].rate == pytest.approx(2.0, abs=0.05)

    def wrong(x, smooth=True):
        ev = evaluate(x, smooth)
        return replace(ev, gradient=1.01 * ev.gradient)

    results = taylor_check(wrong, evaluate.n_variables, labels, directions=2, seed=3)
    found = verdicts(results)
    assert [v.status for v in found] == ["FAILED", "floor"]
    assert found[0].rate == pytest.approx(1.0, abs=0.05)
    assert all(r.series.status == "FAILED" for r in results if r.function == "objective")
