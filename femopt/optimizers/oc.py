"""Optimality criteria, exactly as in the 88-line code (Andreassen et al. 2011), or as in
the 99-line code (Sigmund 2001) with ``variant="top99"``."""

from __future__ import annotations

import numpy as np

from femopt.errors import NonFiniteError
from femopt.optimizers.base import Optimizer

# How each published code bisects the Lagrange multiplier λ: its interval, its stopping
# test, and a lower bound on x. top88: [0, 10⁹] until (λ2 − λ1)/(λ1 + λ2) < 10⁻³, x ≥ 0;
# top99: [0, 10⁵] until λ2 − λ1 ≤ 10⁻⁴ (absolute), x ≥ 0.001 (its Emin is 0: the floor
# keeps K nonsingular).
VARIANTS = {
    "top88": {"upper": 1e9, "relative": 1e-3, "absolute": 0.0, "x_min": 0.0},
    "top99": {"upper": 1e5, "relative": 0.0, "absolute": 1e-4, "x_min": 1e-3},
}

# Sensitivities below this leave the bisection's floor (λ > 1e-200) too close: rescaled.
TINY_SENSITIVITY = 1e-100


class OC(Optimizer):
    """Fixed-point update x ← x √(−∂f/∂x / (λ ∂g/∂x)) with a move limit and bisection on λ.

    Needs one constraint g that is linear in x with positive gradient (a volume
    fraction), and ∂f/∂x ≤ 0 (compliance). variant: "top88" (default) bisects until
    (λ2 − λ1)/(λ1 + λ2) < 10⁻³; "top99" is the 99-line code's OC (λ in [0, 10⁵] to an
    absolute 10⁻⁴, x ≥ 0.001 besides ``lower``), to reproduce its results exactly.
    """

    def __init__(self, lower=0.0, upper=1.0, move: float = 0.2, variant: str = "top88"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown OC variant {variant!r}; one of {', '.join(VARIANTS)}")
        super().__init__(lower, upper)
        self.move = move
        self.variant = variant

    def step(self, x, objective, gradient, constraints, constraint_gradients):
        if len(constraints) != 1:
            raise ValueError("OC handles exactly one (volume) constraint")
        variant = VARIANTS[self.variant]
        g, dg = constraints[0], constraint_gradients[0]
        # Five full-size arrays (lo, hi, ratio, base, x_new) and no other temporaries (at 10⁷
        # elements each is 80 MB), with the values, operation for operation, of
        # lo = max(lower, x_min, x − move), hi = min(upper, x + move), ratio = max(0, −∂f/(∂g/mean ∂g)).
        lo = np.subtract(x, self.move)
        np.maximum(np.maximum(self.lower, variant["x_min"]), lo, out=lo)
        hi = np.add(x, self.move)
        np.minimum(self.upper, hi, out=hi)
        # The 88-line code bisects λ in [0, 10⁹] for ∂g/∂x of mean 1 (dv = ones);
        # normalizing the same way keeps its iterates, whatever g's scale.
        ratio = np.divide(dg, dg.mean())
        np.divide(gradient, ratio, out=ratio)
        np.negative(ratio, out=ratio)
        np.maximum(0.0, ratio, out=ratio)
        if not np.any(ratio > 0):  # compliance's are < 0 wherever an element strains
            raise NonFiniteError("oc: every sensitivity of the objective is zero (a compliance that "
                                 "underflowed: material, loads or sizes too small or too large for "
                                 "double precision?); the run stops")
        target = dg @ x - g  # g(x_new) = dg·x_new − target, since g is linear
        base = np.sqrt(ratio)
        base *= x
        x_new = np.empty_like(x)
        l1, l2 = 0.0, variant["upper"]
        # The published interval [0, upper] assumes sensitivities of order one. Beyond it (other
        # units, E = 1e200) λ would end at an end of the interval and every element go solid
        # or void. x_new depends on ratio / λ only, so scaling ratio to a maximum of 1 gives the
        # same designs with λ inside the interval; it is done only where the interval fails,
        # which keeps the published codes' iterates everywhere else.
        if ratio.max() < TINY_SENSITIVITY or dg @ np.clip(np.divide(base, np.sqrt(l2), out=x_new), lo, hi,
                                                          out=x_new) > target:
            base = x * np.sqrt(ratio / ratio.max())
        relative, absolute = variant["relative"], variant["absolute"]
        # (l2 − l1)/(l1 + l2) > 10⁻³, written so that it ends instead of dividing by zero
        # when λ → 0 (a volume fraction of 1: every element wants to be solid).
        while l2 - l1 > relative * (l1 + l2) + absolute and l2 > 1e-200:
            lmid = 0.5 * (l1 + l2)
            np.multiply(base, 1.0 / np.sqrt(lmid), out=x_new)
            np.minimum(x_new, hi, out=x_new)
            np.maximum(x_new, lo, out=x_new)
            if dg @ x_new > target:
                l1 = lmid
            else:
                l2 = lmid
        return x_new
