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
        self._mirror = None  # LowerMirror of the last pattern: K's pattern is fixed during a run

    def analyze(self, K_lower) -> None:
        """Nothing to do ahead: the AMG hierarchy depends on the values, so it is built
        in :meth:`factorize`."""

    def factorize(self, K_lower) -> None:
        """Take K (n, n) by its lower triangle in CSC form and build the preconditioner."""
        lower = sp.csc_matrix(K_lower)
        if self._mirror is None or not self._mirror.fits(lower):
            self._mirror = LowerMirror(lower)
        self._A = self._mirror(lower)
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
        self.last_iterations = []
        return solve_columns(B, self._solve_one)

    solve_transpose = solve  # K is symmetric

    def _solve_one(self, b: np.ndarray, column: int) -> np.ndarray:
        count = 0

        def tick(_):
            nonlocal count
            count += 1

        maxiter = self.maxiter if self.maxiter is not None else 10 * len(b)
        x, info = spla.cg(self._A, b, x0=self._guess(b, column), atol=0.0, maxiter=maxiter, M=self._M,
                          callback=tick, rtol=self.rtol)
        self.last_iterations.append(count)
        self.total_iterations += count
        if info != 0:
            residual = np.linalg.norm(b - self._A @ x) / max(np.linalg.norm(b), np.finfo(float).tiny)
            raise SolverError(
                f"solver: CG ({self.preconditioner} preconditioner) did not converge in {count} "
                f"iterations: relative residual {residual:.1e} > rtol {self.rtol:.1e}; raise "
                "maxiter, loosen rtol, use preconditioner='amg' with rigid-body modes, "
                "or a direct solver")
        return x

    def _guess(self, b: np.ndarray, column: int) -> np.ndarray | None:
        """CG's starting point for right-hand side ``column``; None: 0."""
        return None


class AMGSolver(CGSolver):
    """AMG-preconditioned CG for design iterations (:class:`CGSolver`, preconditioner "amg").

    Between design iterations the displacements change little, so each solve starts
    from the previous solution of the same column when that is closer than 0 (the 3D section of
    docs/solvers.md gives the CG iterations this saves). The hierarchy is rebuilt
    for every K: one built for an earlier design, tried as a preconditioner, needed
    more CG iterations than a new build costs in nearly every step (SIMP's contrast
    moves by orders of magnitude where elements empty).
    """

    name = "amg"
    STATE = ("_previous",)  # the warm start, kept by checkpoints

    def __init__(self, rtol: float = 1e-8, maxiter: int | None = None,
                 near_null_space: np.ndarray | None = None):
        super().__init__("amg", rtol=rtol, maxiter=maxiter, near_null_space=near_null_space)
        self._previous = None  # the last solution (n, k): the next solve's starting guess

    def factorize(self, K_lower) -> None:
        # Let the previous matrix and hierarchy go first: at 10⁶ elements each is
        # gigabytes, and holding both generations at once is what would not fit.
        self._A = self._M = None
        super().factorize(K_lower)

    def solve(self, B: np.ndarray) -> np.ndarray:
        X = super().solve(B)
        self._previous = X.reshape(len(X), -1)
        return X

    solve_transpose = solve

    def _guess(self, b: np.ndarray, column: int) -> np.ndarray | None:
        if self._previous is None or column >= self._previous.shape[1]:
            return None
        guess = self._previous[:, column]
        return guess if np.linalg.norm(b - self._A @ guess) < np.linalg.norm(b) else None


class LowerMirror:
    """The full symmetric CSR matrix of a lower triangle (CSC) of one fixed pattern, by a
    gather of its stored values: ``lower + tril(lower, -1).T`` in CSR form, bit for bit.

    The pattern's work (transpose, sum, conversion to CSR: 3.4 s CPU at 10⁶ T4 cells,
    a quarter of pyamg's own set-up) is done once, on the value *numbers* 1…nnz, which
    gives for every stored entry of the full matrix the lower-triangle value it copies:
    an entry comes from one value only (the strict upper part is the mirrored strict
    lower part), so the gather is exact. An exact zero among the values is dropped, as
    the sum drops it.
    """

    def __init__(self, lower: sp.csc_matrix):
        self.shape = lower.shape
        self._indptr_lower, self._indices_lower = lower.indptr.copy(), lower.indices.copy()
        numbered = sp.csc_matrix((np.arange(1, lower.nnz + 1, dtype=float), lower.indices, lower.indptr),
                                 shape=lower.shape)
        full = (numbered + sp.tril(numbered, -1, format="csc").T).tocsr()
        full.sort_indices()  # canonical already; says so for scipy
        self.indptr, self.indices = full.indptr, full.indices
        self.source = (full.data - 1).astype(_index_type(lower.nnz))  # full entry -> lower value

    def fits(self, lower: sp.csc_matrix) -> bool:
        """Whether ``lower`` (CSC) has this mirror's pattern."""
        return (lower.shape == self.shape and np.array_equal(lower.indptr, self._indptr_lower)
                and np.array_equal(lower.indices, self._indices_lower))

    def __call__(self, lower: sp.csc_matrix) -> sp.csr_matrix:
        """(n, n) CSR: the full symmetric matrix of ``lower`` (this mirror's pattern)."""
        # Its own copy of the pattern: whatever changes the matrix in place (eliminate_zeros
        # here, a preconditioner's set-up) must not change the next one's.
        full = sp.csr_matrix((lower.data[self.source], self.indices.copy(), self.indptr.copy()),
                             shape=self.shape)
        full.has_sorted_indices = True
        if not np.all(full.data):
            full.eliminate_zeros()  # the sum stores no zeros
        return full


def _index_type(largest: int):
    return np.int32 if largest < 2**31 - 1 else np.int64


def solve_columns(B: np.ndarray, solve_one) -> np.ndarray:
    """X shaped like B (n,) or (n, k), column c = solve_one(B[:, c], c): the right-hand
    sides of an iterative solver, one at a time."""
    B = np.asarray(B, float)
    columns = B.reshape(len(B), -1)
    X = np.empty_like(columns)
    for c in range(columns.shape[1]):
        X[:, c] = solve_one(columns[:, c], c)
    return X.reshape(B.shape)


def pcg(matvec, precondition, b: np.ndarray, guess: np.ndarray, rtol: float, maxiter: int,
        give_up: bool = True):
    """Preconditioned conjugate gradients for K x = b, stopping early when hopeless.

    matvec(x) = K x and precondition(r) ≈ K⁻¹ r, both (n,) → (n,). Starts from
    ``guess`` when its residual is below ‖b‖ (late in an optimization the previous
    displacements are close), else from 0. Converged when ‖b − K x‖ ≤ rtol·‖b‖.
    With ``give_up``, after 3 iterations, stops unconverged as soon as the mean residual
    decay per iteration so far predicts more than ``maxiter`` iterations in all. (Not for a
    concentrated load with a strong preconditioner: CG minimizes the energy norm, and its
    residual norm may rise over the first iterations — ``mg`` turns it off.)

    Returns (x (n,), iterations done, converged).
    """
    target = rtol * np.linalg.norm(b)
    x = np.array(guess, float)
    r = b - matvec(x)
    if not np.linalg.norm(r) < np.linalg.norm(b):
        x, r = np.zeros_like(b), b.copy()
    start = np.linalg.norm(r)
    if start <= target:
        return x, 0, True
    z = precondition(r)
    p = z.copy()
    rz = r @ z
    for k in range(1, maxiter + 1):
        q = matvec(p)
        alpha = rz / (p @ q)
        x += alpha * p
        r -= alpha * q
        norm = np.linalg.norm(r)
        if norm <= target:
            return x, k, True
        if give_up and k >= 3:
            rate = (norm / start) ** (1 / k)          # mean decay per iteration so far
            if rate >= 1 or k + np.log(target / norm) / np.log(rate) > maxiter:
                return x, k, False
        z = precondition(r)
        rz, rz_old = r @ z, rz
        p *= rz / rz_old  # in place: at 10⁶ elements each vector is 24 MB
        p += z
    return x, maxiter, False


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


def near_null_space(node_coords: np.ndarray, free_dofs: np.ndarray, components: int | None = None) -> np.ndarray:
    """(n_free, r) the AMG near-null space of a field with ``components`` DOFs per node
    (None: dim, displacements) on its free DOFs: the rigid-body modes
    (:func:`rigid_body_modes`) for displacements, the constant vector (r = 1) for a
    scalar field such as a temperature, whose conduction matrix annihilates constants."""
    dim = np.shape(node_coords)[1]
    if components is None or components == dim:
        return rigid_body_modes(node_coords, free_dofs)
    if components == 1:
        return np.ones((len(free_dofs), 1))
    raise ValueError(f"no near-null space for {components} components per node on a {dim}D mesh")


def _amg_preconditioner(A: sp.csr_matrix, near_null_space):
    pyamg = _import_pyamg()
    B = None if near_null_space is None else np.asarray(near_null_space, float).reshape(A.shape[0], -1)
    hierarchy = pyamg.smoothed_aggregation_solver(A, B=B, symmetry="hermitian")
    return hierarchy.aspreconditioner(cycle="V")


def _import_pyamg():
    try:
        import pyamg  # here, not at the top: it takes a second to import, paid by amg runs only
    except ImportError:
        raise SolverError("solver: the AMG preconditioner needs pyamg (pip install pyamg); "
                          "or use preconditioner='jacobi'") from None
    return pyamg
