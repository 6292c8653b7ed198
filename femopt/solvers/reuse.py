"""Factorization reuse: an earlier Cholesky factor as the preconditioner of CG.

Between two design iterations K changes little, so the CHOLMOD factor of an
earlier K is an excellent preconditioner for the current one (approximate
reanalysis; Amir, Bendsøe & Sigmund 2009, IJNME 79:1425). Each solve runs
preconditioned CG on the current K; only when CG needs more than
``max_cg_iterations`` iterations is K refactorized — and that right-hand side is
then solved directly with the fresh factor. Early iterations, where the design
moves a lot, refactorize often; near convergence a factor serves many iterations.

Two measured costs keep a stale factor from costing more than it saves:

- CG may spend at most half the time of the last factorization (each CG
  iteration is one solve with the factor plus a product with K); beyond that,
  refactorizing is cheaper than iterating on;
- after a failed attempt the next system is refactorized directly, after two
  failures in a row the next two, then four, …; one success resets this. Early
  in an optimization, when every design step is large, CG is hardly tried.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femopt.errors import SolverError
from femopt.solvers.cholmod import CholmodSolver


class ReuseSolver:
    """K⁻¹B by CG preconditioned with the last CHOLMOD factor, refactorizing on demand.

    K is given by its lower triangle in CSC form (SPD), as for :class:`CholmodSolver`.
    rtol: relative residual target ‖b − Kx‖ ≤ rtol·‖b‖ per right-hand side.
    max_cg_iterations: CG iterations allowed with an old factor; more means the
        factor is stale: refactorize and solve directly. Fewer are allowed when they
        would take longer than half the last factorization (measured), so results are
        reproducible to ``rtol``, not bit for bit.

    Counters: ``n_factorizations`` (numeric Cholesky factorizations),
    ``cg_iterations`` (all CG iterations), ``last_iterations`` (per right-hand side
    of the last solve; 0 where it was solved directly with a fresh factor).
    """

    name = "reuse"
    symmetric = True

    def __init__(self, rtol: float = 1e-6, max_cg_iterations: int = 30):
        if not rtol > 0 or max_cg_iterations < 1:
            raise SolverError(f"solver: reuse needs rtol > 0 and max_cg_iterations >= 1, "
                              f"got {rtol} and {max_cg_iterations}")
        self.rtol = float(rtol)
        self.max_cg_iterations = int(max_cg_iterations)
        self._cholmod = CholmodSolver()
        self._lower = None          # the current K's lower triangle (CSC)
        self._factored = None       # the lower triangle the factor belongs to, or None
        self._factor_seconds = None     # duration of the last factorization
        self._iteration_seconds = None  # duration of one CG iteration, last measured
        self._failures = 0              # failed CG attempts in a row
        self._skip = 0                  # systems still to refactorize without trying CG
        self._previous = None           # the last solution (n, k): CG's starting guess
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
        B = np.asarray(B, float)
        columns = B.reshape(len(B), -1)
        X = np.empty_like(columns)
        self.last_iterations = []
        guesses = self._previous if self._previous is not None and self._previous.shape == columns.shape \
            else np.zeros_like(columns)
        for c in range(columns.shape[1]):
            X[:, c] = self._solve_one(columns[:, c], guesses[:, c])
        self._previous = X
        return X.reshape(B.shape)

    solve_transpose = solve  # K is symmetric

    def _refactorize(self) -> None:
        start = time.perf_counter()
        self._cholmod.factorize(self._lower)
        self._factor_seconds = time.perf_counter() - start
        self._factored = self._lower

    def _iteration_cap(self) -> int:
        """max_cg_iterations, or fewer when CG would outlast half a factorization."""
        if self._iteration_seconds is None or self._factor_seconds is None:
            return self.max_cg_iterations
        affordable = int(0.5 * self._factor_seconds / max(self._iteration_seconds, 1e-9))
        return max(2, min(self.max_cg_iterations, affordable))

    def _fresh_solve(self, b: np.ndarray) -> np.ndarray:
        """Refactorize the current K and solve directly."""
        self._refactorize()
        self.last_iterations.append(0)
        return self._cholmod.solve(b)

    def _solve_one(self, b: np.ndarray, guess: np.ndarray) -> np.ndarray:
        if self._factored is self._lower:  # the factor is K's own: solve directly
            self.last_iterations.append(0)
            return self._cholmod.solve(b)
        if self._skip > 0:                  # recent attempts failed: do not try yet
            self._skip -= 1
            return self._fresh_solve(b)
        lower = self._lower
        diagonal = lower.diagonal()
        # K x from the lower triangle alone: L x + Lᵀ x − diag(K) x, no mirrored copy.
        K = spla.LinearOperator(lower.shape, matvec=lambda x: lower @ x + lower.T @ x - diagonal * x,
                                dtype=float)
        M = spla.LinearOperator(lower.shape, matvec=self._cholmod.solve, dtype=float)
        # Start from the previous solution when it is closer than zero: late in an
        # optimization the displacements change little, and that saves CG iterations.
        x0 = guess if np.linalg.norm(b - K @ guess) < np.linalg.norm(b) else None
        count = 0

        def tick(_):
            nonlocal count
            count += 1

        start = time.perf_counter()
        x, info = spla.cg(K, b, x0=x0, rtol=self.rtol, atol=0.0, maxiter=self._iteration_cap(),
                          M=M, callback=tick)
        if count:
            self._iteration_seconds = (time.perf_counter() - start) / count
        self.cg_iterations += count
        if info == 0:
            self._failures = 0
            self.last_iterations.append(count)
            return x
        # The old factor no longer preconditions well enough; back off from trying again.
        self._failures += 1
        self._skip = 2 ** (self._failures - 1) - 1
        return self._fresh_solve(b)
