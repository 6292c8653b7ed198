"""Preconditioned conjugate gradients: the iterative backend for large SPD systems.

Same interface as the direct solvers (``analyze(K_lower)``, ``factorize(K_lower)``,
``solve(B)``, ``solve_transpose(B)``), so it drops into the driver and into
:func:`femopt.adjoint.solve`. "Factorize" here means: mirror the lower triangle and
build the preconditioner (pyamg smoothed aggregation, or Jacobi). Each solve is
accurate to ``rtol`` in the relative residual; gradients computed with it are
the implicit-function adjoint — a second CG solve of Aᵀλ = x̄ — never a
derivative through the iterations, so their error follows ``rtol``.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femopt.errors import SingularStiffnessError, SolverError

PRECONDITIONERS = ("amg", "jacobi")


class CGSolver:
    """CG on an SPD matrix given by its lower triangle (CSC), like the CHOLMOD solver.

    preconditioner: "amg" (pyamg smoothed aggregation; needs ``pip install pyamg``)
        or "jacobi" (inverse diagonal).
    rtol: relative residual target ‖b − Ax‖ <= rtol·‖b‖ per right-hand side.
    maxiter: iteration cap per right-hand side (None: 10·n).
    near_null_space: (n, r) near-null-space vectors for AMG, e.g. the rigid-body
        modes on the free DOFs from :func:`rigid_body_modes`; None lets pyamg use
        the constant vector (fine for scalar problems, weaker for elasticity).

    After each :meth:`solve`, ``last_iterations`` is the list of iteration counts
    per right-hand side; ``total_iterations`` accumulates over the solver's life.
    """

    name = "cg"
    symmetric = True

    def __init__(self, preconditioner: str = "amg", rtol: float = 1e-8, maxiter: int | None = None,
                 near_null_space: np.ndarray | None = None):
        if preconditioner not in PRECONDITIONERS:
            raise SolverError(f"solver: unknown preconditioner {preconditioner!r}; "
                              f"choose one of {', '.join(PRECONDITIONERS)}")
        if preconditioner == "amg":
            _import_pyamg()  # fail at construction, not at the first iteration
        self.preconditioner = preconditioner
        self.rtol = float(rtol)
        self.maxiter = maxiter
        self.near_null_space = near_null_space
        self.n_factorizations = 0
        self.last_iterations: list[int] = []
        self.total_iterations = 0
        self._A = None
        self._M = None

    def analyze(self, K_lower) -> None:
        """Nothing to do ahead: the AMG hierarchy depends on the values, so it is built
        in :meth:`factorize`."""

    def factorize(self, K_lower) -> None:
        """Take K (n, n) by its lower triangle in CSC form and build the preconditioner."""
        self._A = _mirror(K_lower)
        self._build_preconditioner()

    def _build_preconditioner(self) -> None:
        diagonal = self._A.diagonal()
        if not np.all(diagonal > 0):
            raise SingularStiffnessError(
                "stiffness matrix has a zero or negative diagonal entry, so it is not "
                "positive definite; CG cannot solve it — check the supports")
        if self.preconditioner == "jacobi":
            self._M = sp.diags(1.0 / diagonal).tocsr()
        else:
            self._M = _amg_preconditioner(self._A, self.near_null_space)
        self.n_factorizations += 1

    def solve(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹ B for B (n,) or (n, k), column by column, each to ``rtol``."""
        if self._A is None:
            raise SolverError("solver: cg.solve called before factorize")
        B = np.asarray(B, float)
        columns = B.reshape(len(B), -1)
        X = np.empty_like(columns)
        self.last_iterations = []
        for c in range(columns.shape[1]):
            X[:, c] = self._solve_one(columns[:, c], c)
        return X.reshape(B.shape)

    solve_transpose = solve  # K is symmetric

    def _solve_one(self, b: np.ndarray, column: int) -> np.ndarray:
        x, count, converged = self._cg(b, None, self._maxiter(b))
        self.last_iterations.append(count)
        if not converged:
            self._raise_not_converged(b, x, count)
        return x

    def _cg(self, b: np.ndarray, guess: np.ndarray | None, maxiter: int):
        """CG from ``guess`` (None: 0) to ‖b − Ax‖ <= rtol·‖b‖; returns (x, iterations, converged)."""
        count = 0

        def tick(_):
            nonlocal count
            count += 1

        x, info = spla.cg(self._A, b, x0=guess, atol=0.0, maxiter=maxiter, M=self._M, callback=tick,
                          rtol=self.rtol)
        self.total_iterations += count
        return x, count, info == 0

    def _maxiter(self, b: np.ndarray) -> int:
        return self.maxiter if self.maxiter is not None else 10 * len(b)

    def _raise_not_converged(self, b, x, count):
        residual = np.linalg.norm(b - self._A @ x) / max(np.linalg.norm(b), np.finfo(float).tiny)
        raise SolverError(
            f"solver: CG ({self.preconditioner} preconditioner) did not converge in {count} "
            f"iterations: relative residual {residual:.1e} > rtol {self.rtol:.1e}; raise "
            "maxiter, loosen rtol, use preconditioner='amg' with rigid-body modes, "
            "or a direct solver")


class AMGSolver(CGSolver):
    """AMG-preconditioned CG for design iterations: the hierarchy is kept while it pays.

    Building the smoothed-aggregation hierarchy costs about as much as a solve, and
    between design iterations K changes little, so the hierarchy of an earlier K
    (still a symmetric positive definite V-cycle) keeps preconditioning the current
    one, with a few more CG iterations as the design moves on. The hierarchy is
    rebuilt by the replacement rule of :mod:`femopt.solvers.reuse`: once a solve
    costs more than the average per solve of the current hierarchy (its setup
    included), the average would only rise. A solve with an old hierarchy stops
    at the break-even point — as many iterations as the first solve after the
    build plus those the build's time would have paid for — and goes on with a
    new one. Each solve starts from the previous solution
    of the same column when that is closer than 0.

    Same arguments as :class:`CGSolver` (preconditioner "amg"), plus
    ``reuse_hierarchy`` (False: a new hierarchy every :meth:`factorize`).
    ``n_factorizations`` counts hierarchy builds.
    """

    name = "amg"

    def __init__(self, rtol: float = 1e-8, maxiter: int | None = None,
                 near_null_space: np.ndarray | None = None, reuse_hierarchy: bool = True):
        super().__init__("amg", rtol=rtol, maxiter=maxiter, near_null_space=near_null_space)
        self.reuse_hierarchy = reuse_hierarchy
        self._previous = None       # the last solution (n, k): the next solve's starting guess
        self._renew = True          # build a new hierarchy at the next factorize
        self._spent = 0.0           # seconds spent on the current hierarchy: setup and solves
        self._served = 0            # right-hand sides solved with it
        self._fresh_iterations = None  # CG iterations of its first solve
        self._stale = False         # the hierarchy belongs to an earlier K
        self._setup_seconds = 0.0   # the last build's duration
        self._iteration_seconds = None  # one CG iteration's, from its first solve

    def factorize(self, K_lower) -> None:
        """Take the new K; build a hierarchy for it only when the old one no longer pays."""
        rebuild = self._M is None or self._renew or not self.reuse_hierarchy
        # Let the previous matrix (and hierarchy) go first: at 10⁶ elements each is
        # gigabytes, and holding both generations at once is what would not fit.
        self._A = None
        if rebuild:
            self._M = None
        self._A = _mirror(K_lower)
        if rebuild:
            self._rebuild()
        else:
            self._stale = True

    def _break_even(self) -> int:
        """CG iterations with the old hierarchy that cost as much as a new one and its solve."""
        return self._fresh_iterations + int(self._setup_seconds / self._iteration_seconds)

    def _rebuild(self) -> None:
        start = time.perf_counter()
        self._build_preconditioner()
        self._spent = self._setup_seconds = time.perf_counter() - start
        self._served, self._fresh_iterations = 0, None
        self._renew, self._stale = False, False

    def solve(self, B: np.ndarray) -> np.ndarray:
        X = super().solve(B)
        self._previous = X.reshape(len(X), -1)
        return X

    solve_transpose = solve

    def _solve_one(self, b: np.ndarray, column: int) -> np.ndarray:
        guess = None
        if self._previous is not None and column < self._previous.shape[1]:
            candidate = self._previous[:, column]
            if np.linalg.norm(b - self._A @ candidate) < np.linalg.norm(b):
                guess = candidate
        maxiter = self._maxiter(b)
        start = time.perf_counter()
        if self._stale and self._fresh_iterations is not None:
            x, tried, converged = self._cg(b, guess, min(maxiter, self._break_even()))
            if not converged:  # the old hierarchy no longer preconditions K: build one for it
                self._rebuild()
                start = time.perf_counter()
                guess = x  # going on from where it stopped
        else:
            tried, converged = 0, False
        if not converged:
            fresh_start = time.perf_counter()
            x, count, converged = self._cg(b, guess, maxiter)
            if self._fresh_iterations is None and count > 0:
                self._fresh_iterations = count
                self._iteration_seconds = (time.perf_counter() - fresh_start) / count
        else:
            count = 0
        self.last_iterations.append(tried + count)
        if not converged:
            self._raise_not_converged(b, x, tried + count)
        seconds = time.perf_counter() - start
        self._spent += seconds
        self._served += 1
        self._renew = seconds > self._spent / self._served
        return x


def _mirror(K_lower) -> sp.csr_matrix:
    """The full symmetric matrix (CSR) from its lower triangle."""
    lower = sp.csc_matrix(K_lower)
    return (lower + sp.tril(lower, -1, format="csc").T).tocsr()


def rigid_body_modes(node_coords: np.ndarray, free_dofs: np.ndarray) -> np.ndarray:
    """(n_free, 3 in 2D | 6 in 3D) translations and rotations of every node, on the free DOFs.

    node_coords: (n_nodes, dim), DOF numbering ``dim · node + component`` as in
    :mod:`femopt.mesh`. The AMG near-null space of linear elasticity.
    """
    coords = np.asarray(node_coords, float)
    coords = coords - coords.mean(axis=0)  # centred rotations keep the modes well scaled
    n_nodes, dim = coords.shape
    modes = [np.tile(np.eye(dim)[a], n_nodes) for a in range(dim)]
    planes = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    for a, b in planes:
        field = np.zeros_like(coords)
        field[:, a], field[:, b] = -coords[:, b], coords[:, a]
        modes.append(field.ravel())
    return np.stack(modes, axis=1)[np.asarray(free_dofs)]


def _amg_preconditioner(A: sp.csr_matrix, near_null_space):
    pyamg = _import_pyamg()
    B = None if near_null_space is None else np.asarray(near_null_space, float).reshape(A.shape[0], -1)
    hierarchy = pyamg.smoothed_aggregation_solver(A, B=B, symmetry="hermitian")
    return hierarchy.aspreconditioner(cycle="V")


def _import_pyamg():
    try:
        import pyamg
    except ImportError:
        raise SolverError("solver: the AMG preconditioner needs pyamg (pip install pyamg); "
                          "or use preconditioner='jacobi'") from None
    return pyamg
