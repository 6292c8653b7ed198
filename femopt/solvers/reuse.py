"""Factorization reuse: an earlier Cholesky factor as the preconditioner of CG.

Between two design iterations K changes little, so the CHOLMOD factor of an
earlier K is an excellent preconditioner for the current one (approximate
reanalysis; Amir, Bendsøe & Sigmund 2009, IJNME 78:1474). Each solve runs
preconditioned CG on the current K, starting from the previous solution; when CG
needs more than ``max_cg_iterations`` iterations, K is refactorized and that
right-hand side solved directly with the fresh factor. Early iterations, where
the design moves a lot, refactorize often; near convergence a factor serves many.

Measured costs decide the rest, so that a stale factor never costs more than it saves:

- **renewal**: a factor's cost per system served is (factorization + its CG solves)
  / systems. CG solves get dearer as the factor ages; once the next one, extrapolated
  geometrically from the last two, would cost more than that average, the average
  would only rise: the next system is refactorized instead (the replacement rule);
- **cap**: one CG attempt may take at most half the last factorization's time;
  beyond that refactorizing is cheaper than iterating on. CG stops as soon as its
  residual decay so far predicts that it would not reach ``rtol`` within the cap,
  so a hopeless attempt costs a few iterations, not the whole cap;
- **back-off**: after a failed attempt the next system is refactorized without
  trying, after two failures in a row the next three (at most). Early in an
  optimization, when every design step is large, CG is seldom tried in vain.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from femopt.errors import SolverError
from femopt.solvers.cholmod import CholmodSolver
from femopt.solvers.iterative import pcg, solve_columns

MAX_SKIP = 3  # systems refactorized without trying CG after repeated failures, at most


class ReuseSolver:
    """K⁻¹B by CG preconditioned with the last CHOLMOD factor, refactorizing on demand.

    K is given by its lower triangle in CSC form (SPD), as for :class:`CholmodSolver`.
    rtol: relative residual target ‖b − Kx‖ ≤ rtol·‖b‖ per right-hand side.
    max_cg_iterations: CG iterations allowed with an old factor; more means the
        factor is stale: refactorize and solve directly. The measured costs of the
        module docstring may refactorize sooner, so results are reproducible to
        ``rtol``, not bit for bit.
    clock: () -> seconds, what the costs are measured with (tests inject a fake one
        to make the decisions independent of the machine's speed).

    Counters: ``n_factorizations`` (numeric Cholesky factorizations),
    ``cg_iterations`` (all CG iterations, failed attempts included),
    ``last_iterations`` (per right-hand side of the last solve; 0 where it was
    solved directly with a fresh factor).
    """

    name = "reuse"
    symmetric = True
    STATE = ("_previous",)  # CG's starting guess, kept by checkpoints (the factor is rebuilt)

    def __init__(self, rtol: float = 1e-4, max_cg_iterations: int = 30, clock=time.perf_counter):
        if not rtol > 0 or max_cg_iterations < 1:
            raise SolverError(f"solver: reuse needs rtol > 0 and max_cg_iterations >= 1, "
                              f"got {rtol} and {max_cg_iterations}")
        self.rtol = float(rtol)
        self.max_cg_iterations = int(max_cg_iterations)
        self.clock = clock
        self._cholmod = CholmodSolver()
        self._lower = None           # the current K's lower triangle (CSC)
        self._factored = None        # the lower triangle the factor belongs to, or None
        self._previous = None        # the last solution (n, k): CG's starting guess
        self._factor_seconds = 0.0   # the last factorization's duration
        self._iteration_seconds = None  # one CG iteration's, last measured
        self._spent = 0.0            # seconds spent on the current factor: it and its CG solves
        self._served = 0             # right-hand sides solved with the current factor
        self._last_seconds = 0.0     # the last CG solve's duration on the current factor
        self._renew = False          # the next CG solve would raise the average: refactorize
        self._failures = 0           # failed CG attempts in a row
        self._skip = 0               # systems still to refactorize without trying CG
        self.cg_iterations = 0
        self.last_iterations: list[int] = []

    @property
    def n_factorizations(self) -> int:
        return self._cholmod.n_factorizations

    def analyze(self, K_lower) -> None:
        """Fill-reducing ordering and symbolic factorization, once per pattern."""
        self._cholmod.analyze(K_lower)

    def factorize(self, K_lower) -> None:
        """Take the new K; factorize only the first time (later: when CG asks for it)."""
        self._lower = sp.csc_matrix(K_lower)
        if self._factored is None:
            self._refactorize()

    def solve(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹ B for B (n,) or (n, k), each column to ``rtol`` (or exact after a refactorization)."""
        if self._lower is None:
            raise SolverError("solver: reuse.solve called before factorize")
        self.last_iterations = []
        n_columns = 1 if np.ndim(B) == 1 else np.shape(B)[1]
        same_shape = self._previous is not None and self._previous.shape == (len(B), n_columns)
        guesses = self._previous if same_shape else np.zeros((len(B), n_columns))
        X = solve_columns(B, lambda b, c: self._solve_one(b, guesses[:, c]))
        self._previous = X.reshape(len(B), -1)
        return X

    solve_transpose = solve  # K is symmetric

    def _refactorize(self) -> None:
        start = self.clock()
        self._cholmod.factorize(self._lower)
        self._factor_seconds = self._spent = self.clock() - start
        self._factored = self._lower
        self._served, self._last_seconds, self._renew = 0, 0.0, False

    def _direct(self, b: np.ndarray) -> np.ndarray:
        """Solve with the factor of the current K (refactorizing first if it is older)."""
        if self._factored is not self._lower:
            self._refactorize()
        self._served += 1
        self.last_iterations.append(0)
        return self._cholmod.solve(b)

    def _iteration_cap(self) -> int:
        """max_cg_iterations, or fewer when CG would outlast half a factorization."""
        if self._iteration_seconds is None:
            return self.max_cg_iterations
        affordable = int(0.5 * self._factor_seconds / max(self._iteration_seconds, 1e-12))
        return max(2, min(self.max_cg_iterations, affordable))

    def _solve_one(self, b: np.ndarray, guess: np.ndarray) -> np.ndarray:
        if self._factored is self._lower or self._renew:
            return self._direct(b)
        if self._skip > 0:  # recent attempts failed: do not try yet
            self._skip -= 1
            return self._direct(b)
        lower = self._lower
        diagonal = lower.diagonal()

        def K(x):  # K x from the lower triangle alone: L x + Lᵀ x − diag(K) x, no mirrored copy
            return lower @ x + lower.T @ x - diagonal * x

        start = self.clock()
        x, count, converged = pcg(K, self._cholmod.solve, b, guess, self.rtol, self._iteration_cap())
        seconds = self.clock() - start
        if count:
            self._iteration_seconds = seconds / count
        self.cg_iterations += count
        if not converged:  # the factor no longer preconditions well enough: back off from CG
            self._failures += 1
            self._skip = min(2 ** (self._failures - 1) - 1, MAX_SKIP)
            return self._direct(b)
        self._failures = 0
        self._spent += seconds
        self._served += 1
        # CG cost grows with the factor's age, faster than linearly.
        predicted = seconds**2 / self._last_seconds if self._last_seconds > 0 else 2 * seconds
        self._renew = predicted > self._spent / self._served
        self._last_seconds = seconds
        self.last_iterations.append(count)
        return x

