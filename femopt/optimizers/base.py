"""The interface every optimizer implements: one design update per call to ``step``."""

from __future__ import annotations

import numpy as np


class Optimizer:
    """Minimize f(x) subject to g_i(x) ≤ 0 and lower ≤ x ≤ upper, one step at a time.

    lower, upper: scalars or (n,) bounds.
    """

    def __init__(self, lower=0.0, upper=1.0):
        self.lower = lower
        self.upper = upper

    def step(self, x: np.ndarray, objective: float, gradient: np.ndarray,
             constraints: np.ndarray, constraint_gradients: np.ndarray) -> np.ndarray:
        """Return the next design (n,) within bounds.

        x: (n,) current design; objective: f(x); gradient: (n,) ∂f/∂x;
        constraints: (m,) g(x); constraint_gradients: (m, n) ∂g/∂x.
        """
        raise NotImplementedError
