"""L-BFGS-B (through scipy) on an augmented Lagrangian, for bound-constrained formulations.

L-BFGS-B handles only the bounds 0 ≤ x ≤ 1. The constraints g_i(x) ≤ 0 enter
through the Powell–Hestenes–Rockafellar augmented Lagrangian

    L_A(x; λ, μ) = s f(x) + Σ_i (max(0, λ_i + μ g_i(x))² − λ_i²) / (2μ)

(s = 1/|f(x₀)| makes the objective O(1), whatever its units). Each :meth:`LBFGSB.step`
is one outer iteration: it first updates the multipliers from the constraints at
the current design, λ ← max(0, λ + μ g) (raising μ when the violation did not shrink
enough), then runs a few L-BFGS-B iterations on L_A inside the move-limit box. The
line search evaluates designs of its own choosing, through the evaluation function
handed over by :meth:`Optimizer.attach` — the one extension of the ``step``
interface this optimizer needs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, minimize

from femopt.optimizers.base import Optimizer


class LBFGSB(Optimizer):
    """Augmented-Lagrangian outer iterations with scipy's L-BFGS-B as the inner solver.

    lower, upper: scalars or (n,) bounds; move: largest change of a variable per step.
    inner_iterations: L-BFGS-B iterations per step (its function evaluations are capped
    at three times as many). constraint_penalty, penalty_growth, max_penalty: μ at the start, its
    growth factor when the violation ‖max(g, −λ/μ)‖∞ fails to fall below a quarter of the
    previous one, and its cap.
    """

    # What a checkpoint keeps: scipy's L-BFGS-B restarts its memory at every step anyway.
    STATE = ("multipliers", "objective_scale", "penalty", "_violation", "evaluations")

    def __init__(self, lower=0.0, upper=1.0, move: float = 0.2, inner_iterations: int = 50,
                 constraint_penalty: float = 10.0, penalty_growth: float = 2.0, max_penalty: float = 1e4):
        super().__init__(lower, upper)
        self.move = move
        self.inner_iterations = inner_iterations
        self.penalty = constraint_penalty
        self.penalty_growth = penalty_growth
        self.max_penalty = max_penalty
        self.evaluate = None
        self.multipliers = None       # (m,) λ, set at the first step
        self.objective_scale = None   # s = 1/|f(x₀)|
        self.evaluations = 0          # function evaluations by the line searches
        self._violation = np.inf

    def step(self, x, objective, gradient, constraints, constraint_gradients):
        if self.evaluate is None:
            raise RuntimeError("LBFGSB needs attach(evaluate) first: its line search evaluates designs")
        g = np.atleast_1d(np.asarray(constraints, float))
        dg = np.asarray(constraint_gradients, float).reshape(len(g), -1)
        if self.multipliers is None:
            self.objective_scale = 1.0 / (abs(objective) or 1.0)
            # First multipliers: the least-squares fit of s ∇f + λ ∇g = 0, the KKT estimate.
            fit = np.linalg.lstsq(dg.T, -self.objective_scale * np.asarray(gradient), rcond=None)[0]
            self.multipliers = np.maximum(0.0, fit)
        else:
            self._update_multipliers(g)
        lo = np.maximum(self.lower, x - self.move)
        hi = np.minimum(self.upper, x + self.move)
        result = minimize(self._merit, x, jac=True, method="L-BFGS-B", bounds=Bounds(lo, hi),
                          options={"maxiter": self.inner_iterations,
                                   "maxfun": 3 * self.inner_iterations, "ftol": 1e-12, "gtol": 1e-10})
        return np.clip(result.x, lo, hi)

    def _update_multipliers(self, g: np.ndarray) -> None:
        """λ ← max(0, λ + μ g); μ grows when the constraints did not improve enough."""
        violation = float(np.max(np.abs(np.maximum(g, -self.multipliers / self.penalty))))
        self.multipliers = np.maximum(0.0, self.multipliers + self.penalty * g)
        if violation > 0.25 * self._violation:
            self.penalty = min(self.max_penalty, self.penalty * self.penalty_growth)
        self._violation = violation

    def _merit(self, x: np.ndarray):
        """(L_A(x), ∇L_A(x) (n,)) at the current λ and μ."""
        self.evaluations += 1
        f, df, g, dg = self.evaluate(x)
        g = np.atleast_1d(g)
        dg = np.asarray(dg).reshape(len(g), -1)
        lam, mu = self.multipliers, self.penalty
        shifted = np.maximum(0.0, lam + mu * g)  # ∂L_A/∂g_i
        value = self.objective_scale * f + np.sum(shifted**2 - lam**2) / (2.0 * mu)
        return value, self.objective_scale * np.asarray(df) + shifted @ dg
