"""Check adjoint gradients at a random design: the Taylor test (the verdict) and a table of
finite differences (information).

The verdict is :mod:`femopt.taylor`'s: along random directions d the remainder
|f(x + h d) − f(x) − h ∇f·d| must fall as h² while it is above the round-off of f. A
per-component relative error of one finite difference cannot tell a wrong gradient from
round-off (over a component 8,000× smaller than the largest, the difference's round-off is
8,000× magnified); a rate can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femopt.loop.taylor import ABOVE_FLOOR, FIRST_STEP, MIN_RATE, TaylorSeries, measure_noise, room, taylor_series

# The random design lies in [0.2, 0.9] and the table's probes go ±2 steps along unit
# directions: a larger step leaves [0, 1], where densities mean nothing (and K may lose
# definiteness). The Taylor steps stay inside by construction (FIRST_STEP × the room).
MAX_STEP = 0.05
LOW, HIGH = 0.2, 0.9  # the random design's range


def default_step(n: int) -> float:
    """The table's finite-difference step for n design variables: 1e-3, growing as √(n/300)
    beyond 300 variables (at most MAX_STEP). Along a random unit direction the derivative
    shrinks as 1/√n while the round-off of the difference does not."""
    return float(min(MAX_STEP, 1e-3 * max(1.0, np.sqrt(n / 300))))


def random_design(n: int, seed: int) -> tuple[np.ndarray, np.random.Generator, np.random.Generator]:
    """(x, table generator, Taylor generator): x ~ U(0.2, 0.9)ⁿ from ``seed``; the table's
    probes go on in the same stream (as before the Taylor test: the same components for a
    seed), the Taylor directions in a spawned one, so that the table's size leaves them be."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(LOW, HIGH, n)
    _, taylor = rng.spawn(2)  # spawning leaves rng's own stream as it is
    return x, rng, taylor


def _values(evaluate):
    """y (n,) → (1 + m,) [objective, constraints] of ``evaluate`` (exact gradients: smooth=False)."""
    def values(y):
        ev = evaluate(y, smooth=False)
        return np.concatenate([[ev.objective], ev.constraints])
    return values


def _gradients(evaluate, x):
    """((1 + m,) values, (1 + m, n) gradients) at x."""
    ev = evaluate(x, smooth=False)
    return np.concatenate([[ev.objective], ev.constraints]), np.vstack([ev.gradient, ev.constraint_gradients])


@dataclass(frozen=True)
class GradientSample:
    """One finite-difference comparison of one function's derivative along one probe.

    scaled_error: |adjoint − fd| over the gradient's scale along the probe — ‖∇f‖∞ for a
    component x[e], ‖∇f‖₂ for a unit direction — not over the (possibly tiny) derivative.
    """

    function: str        # "objective" or "constraints[i]"
    probe: str           # "x[e]" or "direction k"
    adjoint: float
    finite_difference: float
    scaled_error: float


def check_gradients(evaluate, n: int, labels: list[str], samples: int = 5, step: float = 1e-3,
                    seed: int = 0) -> list[GradientSample]:
    """The table: d/dx of every function of ``evaluate`` (a :class:`femopt.loop.evaluator.Evaluator`)
    at the random design of ``seed`` (:func:`random_design`), adjoint against a fourth-order
    central difference of step ``step`` along ``samples`` random components and ``samples``
    random unit directions. labels: names of [objective, constraint 0, …]."""
    x, rng, _ = random_design(n, seed)
    _, gradients = _gradients(evaluate, x)
    values = _values(evaluate)
    probes = [(f"x[{e}]", np.eye(1, n, e).ravel(), np.max(np.abs(gradients), axis=1))
              for e in rng.choice(n, min(samples, n), replace=False)]
    for k in range(samples):
        d = rng.standard_normal(n)
        probes.append((f"direction {k}", d / np.linalg.norm(d), np.linalg.norm(gradients, axis=1)))

    results = []
    for probe, d, scale in probes:
        f = {t: values(x + t * step * d) for t in (-2, -1, 1, 2)}
        fd = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * step)
        adjoint = gradients @ d
        for i, label in enumerate(labels):
            error = abs(adjoint[i] - fd[i]) / max(scale[i], 1e-300)
            results.append(GradientSample(label, probe, float(adjoint[i]), float(fd[i]), float(error)))
    return results


@dataclass(frozen=True)
class TaylorResult:
    """The Taylor series of one function along one random direction (max-norm 1)."""

    function: str
    direction: int
    slope: float          # the adjoint's ∇f·d
    series: TaylorSeries


@dataclass(frozen=True)
class FunctionVerdict:
    """One function over every direction: rate, the smallest observed rate (None when every
    direction is at the round-off floor); status "ok", "floor" or "FAILED"; worst: the
    direction of that rate (or the first failing one)."""

    function: str
    rate: float | None
    status: str
    worst: TaylorResult


def taylor_check(evaluate, n: int, labels: list[str], directions: int = 5, seed: int = 0,
                 min_rate: float = MIN_RATE, callback=None) -> list[TaylorResult]:
    """The Taylor test of every function of ``evaluate`` along ``directions`` random
    directions d (standard normal, scaled to max |d_e| = 1) at the random design of ``seed``.

    For each d, h0 = FIRST_STEP × the room to the bounds (x + h d stays in [0, 1]) and h
    halves until the remainders reach the round-off floor, measured once from f's noise.
    ``callback(result)`` hears of each :class:`TaylorResult` as it is done.
    """
    x, _, rng = random_design(n, seed)
    f0, gradients = _gradients(evaluate, x)
    values = _values(evaluate)
    results, noise = [], None
    for k in range(directions):
        d = rng.standard_normal(n)
        d /= np.max(np.abs(d))
        h0 = FIRST_STEP * room(x, d)
        if noise is None:  # the round-off of f does not depend on the direction
            noise = measure_noise(values, x, d, f0, h0)
        slopes = gradients @ d
        for label, slope, series in zip(labels, slopes, taylor_series(values, x, d, f0, slopes, noise, h0,
                                                                      min_rate=min_rate)):
            results.append(TaylorResult(label, k, float(slope), series))
            if callback is not None:
                callback(results[-1])
    return results


def verdicts(results: list[TaylorResult]) -> list[FunctionVerdict]:
    """Per function (in order of appearance): failed when any direction fails; else the
    smallest observed rate; "floor" when every direction is at the round-off floor."""
    out = []
    for label in dict.fromkeys(r.function for r in results):
        mine = [r for r in results if r.function == label]
        failed = [r for r in mine if r.series.status == "FAILED"]
        rated = [r for r in mine if r.series.rate is not None]
        if failed:
            worst = min(failed, key=lambda r: r.series.rate)
            out.append(FunctionVerdict(label, worst.series.rate, "FAILED", worst))
        elif rated:
            worst = min(rated, key=lambda r: r.series.rate)
            out.append(FunctionVerdict(label, worst.series.rate, "ok", worst))
        else:
            out.append(FunctionVerdict(label, None, "floor", max(mine, key=lambda r: r.series.slope_error)))
    return out


def taylor_header() -> str:
    """The Taylor table's header (:func:`taylor_row`)."""
    return (f"{'function':<32} {'dir':>3} {'h0':>9} {'r(h0)':>9} {'floor':>8}  "
            f"{'rates log2(r(h) / r(h/2)) where r > ' + format(ABOVE_FLOOR, 'g') + ' × floor':<55} {'rate':>5}")


def taylor_row(result: TaylorResult) -> str:
    """One function along one direction: h0, r(h0), the floor, the counted rates and the
    observed rate."""
    s = result.series
    rates = " ".join(f"{q:.2f}" for q in s.valid_rates)
    if s.status == "floor":
        rates = f"at the floor: linear along d, ∇f·d right to ±{s.slope_error:.1e}"
    rate = "-" if s.rate is None else f"{s.rate:.2f}"
    return (f"{result.function:<32} {result.direction:>3} {s.steps[0]:9.2e} {s.remainders[0]:9.2e} "
            f"{s.floor:8.1e}  {rates:<55} {rate:>5}")


def verdict_lines(found: list[FunctionVerdict], min_rate: float) -> list[str]:
    """Per function: its smallest rate and verdict, one line each."""
    lines = []
    for v in found:
        if v.status == "floor":
            what = (f"ok: linear to round-off along every direction (remainders at the floor; "
                    f"∇f·d right to ±{v.worst.series.slope_error:.1e})")
        else:
            what = f"{v.status}: rate {v.rate:.2f} (direction {v.worst.direction}; " \
                   f"at least {min_rate:g} expected, a wrong gradient gives 1)"
        lines.append(f"{v.function:<32} {what}")
    return lines


def sample_lines(samples: list[GradientSample]) -> list[str]:
    """The finite-difference table."""
    lines = [f"{'function':<32} {'probe':<14} {'adjoint':>14} {'finite diff.':>14} {'error':>9}"]
    lines += [f"{s.function:<32} {s.probe:<14} {s.adjoint:14.6e} {s.finite_difference:14.6e} "
              f"{s.scaled_error:9.2e}" for s in samples]
    return lines


def summary_line(found: list[FunctionVerdict], tolerance: float) -> str:
    """The last line: "Taylor test ok: …" or "Taylor test FAILED: <functions> …"."""
    min_rate = 2.0 - tolerance
    failed = [v for v in found if v.status == "FAILED"]
    if failed:
        return (f"Taylor test FAILED: {', '.join(v.function for v in failed)} converge(s) at rate "
                f"{min(v.rate for v in failed):.2f} < {min_rate:g} (tolerance {tolerance:g})")
    rates = [v.rate for v in found if v.rate is not None]
    smallest = f"smallest rate {min(rates):.2f}" if rates else "every function linear to round-off"
    return f"Taylor test ok: {smallest} (at least {min_rate:g}: tolerance {tolerance:g})"
