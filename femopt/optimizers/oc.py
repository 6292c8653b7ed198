"""Optimality criteria, exactly as in the 88-line code (Andreassen et al. 2011)."""

from __future__ import annotations

import numpy as np

from femopt.optimizers.base import Optimizer


class OC(Optimizer):
    """Fixed-point update x ← x √(−∂f/∂x / (λ ∂g/∂x)) with a move limit and bisection on λ.

    Needs one constraint g that is linear in x with positive gradient (a volume
    fraction), and ∂f/∂x ≤ 0 (compliance); bisection stops when
    (λ2 − λ1)/(λ1 + λ2) < 10⁻³.
    """

    def __init__(self, lower=0.0, upper=1.0, move: float = 0.2):
        super().__init__(lower, upper)
        self.move = move

    def step(self, x, objective, gradient, constraints, constraint_gradients):
        if len(constraints) != 1:
            raise ValueError("OC handles exactly one (volume) constraint")
        g, dg = constraints[0], constraint_gradients[0]
        lo = np.maximum(self.lower, x - self.move)
        hi = np.minimum(self.upper, x + self.move)
        # The 88-line code bisects λ in [0, 10⁹] for ∂g/∂x of mean 1 (dv = ones);
        # normalizing the same way keeps its iterates, whatever g's scale.
        ratio = np.maximum(0.0, -gradient / (dg / dg.mean()))
        target = dg @ x - g  # g(x_new) = dg·x_new − target, since g is linear
        base = x * np.sqrt(ratio)
        x_new = np.empty_like(x)
        l1, l2 = 0.0, 1e9
        # (l2 − l1)/(l1 + l2) > 10⁻³, written so that it ends instead of dividing by zero
        # when λ → 0 (a volume fraction of 1: every element wants to be solid).
        while l2 - l1 > 1e-3 * (l1 + l2) and l2 > 1e-200:
            lmid = 0.5 * (l1 + l2)
            np.multiply(base, 1.0 / np.sqrt(lmid), out=x_new)
            np.minimum(x_new, hi, out=x_new)
            np.maximum(x_new, lo, out=x_new)
            if dg @ x_new > target:
                l1 = lmid
            else:
                l2 = lmid
        return x_new
