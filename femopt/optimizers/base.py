"""The interface every optimizer implements: one design update per call to ``step``."""

from __future__ import annotations

import numpy as np


class Optimizer:
    """Minimize f(x) subject to g_i(x) ≤ 0 and lower ≤ x ≤ upper, one step at a time.

    lower, upper: scalars or (n,) bounds.

    Optimizers that need values at designs of their own choosing (a line search, as
    in L-BFGS-B) receive an evaluation function through :meth:`attach` before the
    first step; OC and MMA use only what ``step`` is given and ignore it.

    ``STATE`` names the attributes that change from step to step (a checkpoint saves
    and restores them; none for a stateless optimizer such as OC).
    """

    STATE: tuple[str, ...] = ()

    def __init__(self, lower=0.0, upper=1.0):
        self.lower = lower
        self.upper = upper

    def attach(self, evaluate) -> None:
        """Hand over ``evaluate(x) -> (objective, gradient, constraints, constraint_gradients)``
        with the shapes of :meth:`step`'s arguments; the driver calls this once."""
        self.evaluate = evaluate

    def step(self, x: np.ndarray, objective: float, gradient: np.ndarray,
             constraints: np.ndarray, constraint_gradients: np.ndarray) -> np.ndarray:
        """Return the next design (n,) within bounds.

        x: (n,) current design; objective: f(x); gradient: (n,) ∂f/∂x;
        constraints: (m,) g(x); constraint_gradients: (m, n) ∂g/∂x.
        """
        raise NotImplementedError
