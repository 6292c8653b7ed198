"""The Taylor remainder test of a gradient (dolfin-adjoint's ``taylor_test``), with a round-off floor.

Along a direction d, the remainder r(h) = |f(x + h d) − f(x) − h ∇f·d| of a smooth f is
O(h²) when ∇f is right and only O(h) when it is wrong: halving h divides r by 4 or by 2,
whatever the size of the gradient's components. The observed rate log₂(r(h) / r(h/2))
therefore tests the gradient, not a step size — as long as r stays above the round-off of
f's values, below which it flattens (rate ≈ 0) or jumps. This module estimates that floor
from f's own noise, halves h until the remainders reach it, and judges the rates of the
steps well above it only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = np.finfo(float).eps
MIN_RATE = 1.9       # default verdict: the observed rate at least this (a wrong gradient gives ≈ 1)
ABOVE_FLOOR = 100.0  # a remainder counts when ≥ this × its floor: the noise then moves a rate by ~0.02 (1 sd)
HALVINGS = 12        # at most h0 / 2¹²: r falls ~7 decades at rate 2, from ~1e-3·|f| to the floor
FIRST_STEP = 0.1     # h0 as a fraction of the room to the bounds: past the strongly nonlinear range
LAST_RATES = 3       # the observed rate: the median of the rates of the smallest valid steps
NOISE_POINTS = 5     # evaluations at tiny offsets that measure f's noise (with f(x): 4 degrees of freedom)
NOISE_OFFSET = 1e-6  # their spacing as a fraction of h0: curvature below round-off there


def room(x: np.ndarray, d: np.ndarray, lower: float = 0.0, upper: float = 1.0) -> float:
    """The largest h ≥ 0 with lower ≤ x + h d ≤ upper (x, d: (n,)); inf when d = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(d > 0, (upper - x) / d, np.where(d < 0, (lower - x) / d, np.inf))
    return float(np.min(limits, initial=np.inf))


def noise_level(offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Standard deviation of the round-off of m functions from values (k, m) at tiny offsets
    (k,) along a line, where every function is linear up to round-off: the residual of a
    least-squares line per column, with k − 2 degrees of freedom (k ≥ 3). Returns (m,)."""
    A = np.vander(np.asarray(offsets, float), 2)
    coefficients = np.linalg.lstsq(A, values, rcond=None)[0]
    residual = values - A @ coefficients
    return np.sqrt(np.sum(residual ** 2, axis=0) / (len(offsets) - 2))


def remainder_floor(value: float, slope: float, step: float, noise: float) -> float:
    """The round-off floor of r(h) ≤ step: the spread √2·noise of f(x + h d) − f(x) plus the
    rounding of the subtraction and of h ∇f·d (a few ulps of |f| and |h ∇f·d|)."""
    return float(np.sqrt(2.0) * noise + 4 * EPS * (abs(value) + abs(step * slope)))


@dataclass(frozen=True)
class TaylorSeries:
    """The remainders of one function along one direction and the verdict on them.

    steps: (K,) h, halving; remainders: (K,) r(h); floor: round-off floor of the remainders.
    """

    steps: np.ndarray
    remainders: np.ndarray
    floor: float
    min_rate: float = MIN_RATE

    @property
    def valid(self) -> np.ndarray:
        """(K,) bool: the steps whose remainder is ≥ ABOVE_FLOOR × the floor."""
        return self.remainders >= ABOVE_FLOOR * self.floor

    @property
    def rates(self) -> np.ndarray:
        """(K − 1,) log(r_k / r_{k+1}) / log(h_k / h_{k+1}), NaN where r_k+1 is 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.remainders[:-1] / self.remainders[1:]) / np.log(self.steps[:-1] / self.steps[1:])

    @property
    def valid_rates(self) -> np.ndarray:
        """The rates between two steps that are both above the floor."""
        both = self.valid[:-1] & self.valid[1:]
        return self.rates[both]

    @property
    def rate(self) -> float | None:
        """The observed rate: the median of the last LAST_RATES valid rates, those of the
        smallest steps (the asymptotic range; a median, since where r changes sign one rate
        spikes); None when fewer than two steps are above the floor."""
        rates = self.valid_rates
        return float(np.median(rates[-LAST_RATES:])) if len(rates) else None

    @property
    def status(self) -> str:
        """"ok" (rate ≥ min_rate), "floor" (every remainder at the round-off floor: f is
        linear along d and the gradient matches to round-off) or "FAILED"."""
        rate = self.rate
        if rate is None:
            return "floor"
        return "ok" if rate >= self.min_rate else "FAILED"

    @property
    def slope_error(self) -> float:
        """An upper bound of |∇f·d − f'(x; d)| the series resolves: ABOVE_FLOOR × floor / h at
        its smallest step at the floor, else r / h at its last step (both first order)."""
        below = ~self.valid
        k = int(np.flatnonzero(below)[0]) if below.any() else len(self.steps) - 1
        return float(max(self.remainders[k], ABOVE_FLOOR * self.floor) / self.steps[k])


def taylor_series(values, x: np.ndarray, d: np.ndarray, f0: np.ndarray, slopes: np.ndarray,
                  noise: np.ndarray, h0: float, halvings: int = HALVINGS,
                  min_rate: float = MIN_RATE) -> list[TaylorSeries]:
    """The remainders of m functions along d from x, for h = h0, h0/2, … until every one is
    below ABOVE_FLOOR × its floor (the next steps would be round-off) or after ``halvings``.

    values: y (n,) → (m,) the function values; f0: (m,) values at x; slopes: (m,) ∇f·d;
    noise: (m,) standard deviation of the values' round-off (:func:`noise_level`).
    """
    f0, slopes, noise = (np.asarray(a, float) for a in (f0, slopes, noise))
    floors = np.array([remainder_floor(v, s, h0, e) for v, s, e in zip(f0, slopes, noise)])
    steps, remainders = [], []
    h = h0
    for _ in range(halvings + 1):
        remainder = np.abs(np.asarray(values(x + h * d), float) - f0 - h * slopes)
        steps.append(h)
        remainders.append(remainder)
        if np.all(remainder < ABOVE_FLOOR * floors):
            break
        h /= 2
    steps, remainders = np.array(steps), np.array(remainders)
    return [TaylorSeries(steps, remainders[:, i], float(floors[i]), min_rate) for i in range(len(f0))]


def measure_noise(values, x: np.ndarray, d: np.ndarray, f0: np.ndarray, h0: float) -> np.ndarray:
    """(m,) the standard deviation of the round-off of m functions: f at x + j·δ·d (j = 0 …
    NOISE_POINTS, δ = NOISE_OFFSET·h0), where they are linear to round-off (the second-order
    term ~ δ² is ~1e-12 of the remainder at h0), less a fitted line. Each offset changes
    every input by far more than an ulp, so the round-off of each evaluation is independent."""
    offsets = NOISE_OFFSET * h0 * np.arange(NOISE_POINTS + 1)
    samples = [np.asarray(f0, float)] + [np.asarray(values(x + t * d), float) for t in offsets[1:]]
    return noise_level(offsets, np.array(samples))
