"""Eigenpairs on the linear solver's K: free vibration and linear buckling.

    vibration   K φ = ω² M φ          the lowest ω², φ M-orthonormal (φᵀ M φ = 1)
    buckling    (K + λ G) φ = 0       the lowest positive λ, φ K-orthonormal (φᵀ K φ = 1)

Buckling is solved for θ = 1/λ: −G φ = θ K φ is a generalized problem whose "mass" is K,
which is SPD where G is indefinite; its largest θ are the smallest positive λ, and they
lie at the end of the spectrum where Lanczos converges first (negative θ are load factors
of the reversed load; θ ≤ 0 means no buckling under this load).

Two paths, chosen by what the linear solver has:

* a factor (cholmod, superlu): ARPACK (:func:`scipy.sparse.linalg.eigsh`) with the
  solver's factor as the inverse operator — shift-invert at σ = 0 for vibration (K is SPD
  on the free DOFs, so σ = 0 needs no shift), the regular generalized mode with K⁻¹ for
  buckling. No second factorization.
* no factor (mg, amg, reuse): LOBPCG (:func:`scipy.sparse.linalg.lobpcg`) preconditioned by
  the solver (mg: one V-cycle; others: their solve), warm-started from the previous call's
  block. For vibration this is the preconditioned problem multigrid is good at (K, M SPD).
  For buckling the block iteration runs on (−G, K) with the V-cycle approximating K⁻¹:
  a preconditioned power/Lanczos iteration on K⁻¹(−G), which converges at the rate of the
  gaps between the largest θ — slow when buckling modes cluster, as they do in optimized
  designs (docs/physics.md, "Vibration and buckling").

Operators act on the reduced (free) DOFs. Vectors are returned as (n_free, k).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, lobpcg

from femopt.errors import SolverError

# ARPACK's start vector: fixed, so that results do not depend on a random seed.
_SEED = 20240607
# LOBPCG iterates on a few more vectors than asked for: the extra ones absorb the next modes
# and speed up the convergence of the last wanted one.
EXTRA_VECTORS = 2


def symmetric_operator(lower) -> LinearOperator:
    """The symmetric matrix whose lower triangle (CSC, rows sorted) is ``lower``, as a
    LinearOperator: A x = L x + Lᵀ x − diag(L) x, without a mirrored copy."""
    L = sp.csc_matrix(lower)
    diagonal = L.diagonal()

    def matmat(X):
        return L @ X + L.T @ X - (diagonal * X.T).T

    return LinearOperator(L.shape, matvec=matmat, matmat=matmat, dtype=float)


def factor_operator(solver, n: int) -> LinearOperator:
    """K⁻¹ as a LinearOperator (n, n) through ``solver.solve`` (its factor)."""
    return LinearOperator((n, n), matvec=lambda b: solver.solve(np.asarray(b, float)).reshape(b.shape),
                          matmat=lambda B: solver.solve(np.asarray(B, float)).reshape(B.shape), dtype=float)


def has_factor(solver) -> bool:
    """Whether ``solver.solve`` is a direct solve with a factor (ARPACK's path)."""
    return getattr(solver, "name", None) in ("cholmod", "superlu")


def vibration_modes(solver, K: LinearOperator, M: LinearOperator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ω² (k,) ascending, φ (n, k) M-orthonormal): the k lowest eigenpairs of K φ = ω² M φ,
    by ARPACK in shift-invert mode at σ = 0 with the factor of K in ``solver``."""
    n = K.shape[0]
    _check_size(k, n)
    try:
        values, vectors = eigsh(K, k, M=M, sigma=0.0, OPinv=factor_operator(solver, n), which="LM",
                                v0=_start(n), tol=0)
    except ArpackNoConvergence as exc:
        raise SolverError(f"eigenvalues: ARPACK did not converge ({exc}); try fewer modes") from None
    vectors = _normalize(vectors, M)
    values = _rayleigh(K, M, vectors)
    order = np.argsort(values)
    return values[order], vectors[:, order]


def buckling_modes(solver, K: LinearOperator, G: LinearOperator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(θ = 1/λ (k,) descending, φ (n, k) K-orthonormal): the k largest θ of −G φ = θ K φ,
    by ARPACK's generalized mode with K⁻¹ from ``solver``'s factor."""
    n = K.shape[0]
    _check_size(k, n)
    minus_G = LinearOperator(G.shape, matvec=lambda x: -(G @ x), matmat=lambda X: -(G @ X), dtype=float)
    try:
        values, vectors = eigsh(minus_G, k, M=K, Minv=factor_operator(solver, n), which="LA", v0=_start(n),
                                tol=0)
    except ArpackNoConvergence as exc:
        raise SolverError(f"buckling: ARPACK did not converge ({exc}); try fewer modes") from None
    vectors = _normalize(vectors, K)
    values = _rayleigh(minus_G, K, vectors)
    order = np.argsort(-values)
    return values[order], vectors[:, order]


def lobpcg_modes(A: LinearOperator, B: LinearOperator, precondition, k: int, start: np.ndarray | None,
                 largest: bool, tol: float = 1e-8, max_iterations: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(values (k,), vectors (n, k + EXTRA_VECTORS) B-orthonormal) of A φ = μ B φ: the k
    smallest μ (``largest`` False, values ascending) or the k largest (descending), by
    LOBPCG with ``precondition`` (n,) → (n,) ≈ K⁻¹, from the block ``start`` (n, m; None:
    a fixed random block). The extra vectors are the next call's warm start.

    tol: relative residual ‖Aφ − μBφ‖ / (|μ| ‖Bφ‖) of every wanted pair. LOBPCG's own
    tolerance is absolute, so it is set from the block's Rayleigh quotients and, when the
    first pass stops short (a cold start's quotients are far from the lowest μ), a second
    pass goes on from where the first stopped. A SolverError when even that falls short.
    """
    n = A.shape[0]
    _check_size(k, n)
    m = min(n - 1, k + EXTRA_VECTORS)
    X = np.random.default_rng(_SEED).standard_normal((n, m))
    if start is not None:
        start = np.asarray(start, float).reshape(n, -1)[:, :m]
        X[:, :start.shape[1]] = start
    T = LinearOperator((n, n), matvec=lambda r: precondition(np.ravel(r)), matmat=lambda R: np.column_stack(
        [precondition(np.ravel(r)) for r in np.asarray(R).T]), dtype=float)
    for _ in range(3):
        X = _normalize(X, B)
        BX = B @ X
        quotients = np.einsum("ij,ij->j", X, A @ X)
        scale = np.abs(quotients) * np.linalg.norm(BX, axis=0)
        wanted = np.argsort(-quotients if largest else quotients)[:k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lobpcg warns instead of failing; checked below
            values, X = lobpcg(A, X, B=B, M=T, tol=tol * float(np.min(scale[wanted])),
                               maxiter=max_iterations, largest=largest)
        order = np.argsort(-values if largest else values)
        values, X = values[order], X[:, order]
        residual = _relative_residuals(A, B, values[:k], X[:, :k])
        if np.all(residual <= tol):
            X = _normalize(X, B)
            return _rayleigh(A, B, X[:, :k]), X
    raise SolverError(f"eigenvalues: LOBPCG did not converge in {max_iterations} iterations (relative "
                      f"residuals {', '.join(f'{r:.1e}' for r in residual)} > {tol:.0e}); use cholmod")


def _relative_residuals(A, B, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """‖Aφ − μBφ‖ / (|μ| ‖Bφ‖) of each pair."""
    BX = B @ vectors
    R = A @ vectors - BX * values
    return np.linalg.norm(R, axis=0) / np.maximum(np.abs(values) * np.linalg.norm(BX, axis=0), 1e-300)


def _rayleigh(A, B, vectors: np.ndarray) -> np.ndarray:
    """(k,) Rayleigh quotients φᵀAφ / φᵀBφ: the eigenvalues to the round-off of the
    products, where the solver's own are only as accurate as its solves (its error in φ
    enters them squared)."""
    return np.einsum("ij,ij->j", vectors, A @ vectors) / np.einsum("ij,ij->j", vectors, B @ vectors)


def _normalize(vectors: np.ndarray, B) -> np.ndarray:
    """vectors scaled to vᵀ B v = 1 each, with a fixed sign (largest entry positive)."""
    norms = np.sqrt(np.abs(np.einsum("ij,ij->j", vectors, B @ vectors)))
    vectors = vectors / norms
    sign = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    return vectors * np.where(sign == 0, 1.0, sign)


def _start(n: int) -> np.ndarray:
    return np.random.default_rng(_SEED).standard_normal(n)


def _check_size(k: int, n: int) -> None:
    if not 0 < k < n - 1:
        raise SolverError(f"eigenvalues: {k} modes asked of a problem with {n} free DOFs")
