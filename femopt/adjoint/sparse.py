"""The adjoint of the sparse solve x = A⁻¹b, written out by hand, usable without any
finite elements::

    x, vjp = solve(A, b)          # A any scipy.sparse matrix, b (n,) or (n, k)
    A_bar, b_bar = vjp(x_bar)     # one more solve with the factor already in hand

For a scalar loss L(x) with x̄ = ∂L/∂x, solve Aᵀλ = x̄; then b̄ = λ and
Ā_ij = −Σ_k λ_ik x_jk **only for the stored (i, j) of A** — Ā is returned on A's
own CSC pattern, so memory stays O(nnz(A) + n·k). :class:`SparseBuilder` is the
differentiable map from a value list to a CSC matrix, and :func:`jacobian` gives
full Jacobians by forward or reverse mode, whichever needs fewer solves. The
finite-element gradients built on it are :mod:`femopt.adjoint.fem`'s.

No dense n×n matrix is ever formed. See docs/adjoint.md for the derivation.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from femopt import solvers
from femopt.errors import FemoptError, SolverError

# Relative tolerance of the automatic symmetry test: max|A − Aᵀ| <= tol · max|A|.
# Tiny on purpose: a symmetric solver would silently solve with the mirrored lower
# triangle, so anything but (round-off level) exact symmetry goes to LU.
SYMMETRY_RTOL = 1e-14
# Right-hand sides per block solve in jacobian(): bounds its temporaries to n × 64.
JACOBIAN_BLOCK = 64


def solve(A, b, *, assume_symmetric: bool | None = None, solver=None):
    """``x, vjp = solve(A, b)``: x = A⁻¹b, and the VJP that maps x̄ to (Ā, b̄).

    A: (n, n) any scipy.sparse matrix (any format; converted with ``A.tocsc()``).
    b: (n,) or (n, k) dense right-hand side(s).
    assume_symmetric: None detects symmetry from the pattern and values;
        True/False skips the test (True with an unsymmetric A solves with its
        mirrored lower triangle — only say so when it is true).
    solver: None picks the backend: CHOLMOD on tril(A) for symmetric positive
        definite A (scikit-sparse installed), else SuperLU with a transposed solve.
        Otherwise a solver name for :func:`femopt.solvers.make_solver` or a fresh
        solver object with the common interface (``factorize``, ``solve``,
        ``solve_transpose``, ``symmetric``), e.g. ``CGSolver(rtol=1e-10)``; a
        symmetric solver receives tril(A) in CSC.

    Returns x shaped like b, and ``vjp`` (a :class:`SolveVJP`): ``A_bar, b_bar =
    vjp(x_bar)`` with x_bar shaped like x, A_bar a csc_matrix on exactly A.tocsc()'s
    indptr/indices, b_bar shaped like b. The factorization is done here once and
    every ``vjp`` call reuses it. Memory O(nnz(A) + n·k).
    """
    A = _as_square_csc(A)
    b = _as_rhs(b, A.shape[0])
    factor = _factorize(A, assume_symmetric, solver)
    x = factor.solve(b).reshape(b.shape)
    return x, SolveVJP(A, x, factor)


class SolveVJP:
    """The VJP of x = A⁻¹b at one (A, b): ``A_bar, b_bar = vjp(x_bar)``.

    Holds A's CSC pattern, x (n[, k]) and the factorized ``solver``; nothing of size n².
    """

    def __init__(self, A: sp.csc_matrix, x: np.ndarray, solver):
        self.shape = A.shape
        self.indptr, self.indices = A.indptr, A.indices
        self.x = x
        self.solver = solver
        self._columns = _entry_columns(A.indptr)

    def __call__(self, x_bar: np.ndarray):
        """(Ā, b̄) for the cotangent ``x_bar`` shaped like x.

        One transposed solve Aᵀλ = x̄ with the existing factor, then
        Ā_ij = −Σ_k λ_ik x_jk on the stored entries and b̄ = λ.
        """
        x_bar = np.asarray(x_bar, float)
        if x_bar.shape != self.x.shape:
            raise ValueError(f"x_bar has shape {x_bar.shape}; expected x's shape {self.x.shape}")
        lam = self.solver.solve_transpose(x_bar).reshape(x_bar.shape)
        data = _pattern_cotangent(self.indices, self._columns, lam, self.x)
        A_bar = sp.csc_matrix((data, self.indices, self.indptr), shape=self.shape)
        return A_bar, lam


# --------------------------------------------------------------------------------------
# A differentiable sparse-matrix constructor
# --------------------------------------------------------------------------------------

class SparseBuilder:
    """``build = SparseBuilder(rows, cols, shape)``; ``A = build(values)`` is like
    ``scipy.sparse.coo_matrix((values, (rows, cols)), shape).tocsc()`` (duplicates
    summed), but with the pattern and the scatter computed once, here.

    rows, cols: (n_values,) integer positions of each value; repeats are summed.
    shape: (n_rows, n_cols).

    Attributes: ``indptr`` (n_cols + 1,), ``indices`` (nnz,) the CSC pattern with
    sorted row indices; ``position`` (n_values,) the stored entry each value adds into.
    """

    def __init__(self, rows, cols, shape):
        rows = np.asarray(rows, np.int64).ravel()
        cols = np.asarray(cols, np.int64).ravel()
        n_rows, n_cols = (int(s) for s in shape)
        if rows.shape != cols.shape:
            raise ValueError(f"rows {rows.shape} and cols {cols.shape} must have the same length")
        if len(rows) and (rows.min() < 0 or rows.max() >= n_rows or cols.min() < 0
                          or cols.max() >= n_cols):
            raise ValueError(f"a (row, col) index lies outside the shape {(n_rows, n_cols)}")
        self.shape = (n_rows, n_cols)
        self.n_values = len(rows)
        # Column-major keys give CSC order; unique() is the only sort, done once.
        keys, self.position = np.unique(cols * n_rows + rows, return_inverse=True)
        self.position = self.position.ravel()
        index_type = np.int32 if max(n_rows, len(keys)) < 2**31 else np.int64
        self.indices = (keys % n_rows).astype(index_type)
        self.indptr = np.searchsorted(keys // n_rows, np.arange(n_cols + 1)).astype(index_type)
        self.nnz = len(keys)

    def __call__(self, values) -> sp.csc_matrix:
        """(n_rows, n_cols) CSC matrix from (n_values,) values: one bincount, no sort."""
        values = np.asarray(values, float)
        if values.shape != (self.n_values,):
            raise ValueError(f"values has shape {values.shape}; expected ({self.n_values},)")
        data = np.bincount(self.position, weights=values, minlength=self.nnz)
        A = sp.csc_matrix((data, self.indices, self.indptr), shape=self.shape)
        A.has_sorted_indices = True  # known from the construction; spares scipy a check
        return A

    def vjp(self, A_bar) -> np.ndarray:
        """(n_values,) values̄ from Ā: a csc_matrix on this pattern, or its (nnz,) ``data``.

        Each value adds into one stored entry, so its cotangent is that entry's: a gather.
        """
        if sp.issparse(A_bar):
            A_bar = sp.csc_matrix(A_bar)
            if not (np.array_equal(A_bar.indptr, self.indptr)
                    and np.array_equal(A_bar.indices, self.indices)):
                raise ValueError("A_bar is not on this builder's pattern; pass a matrix "
                                 "from vjp(x_bar) of a matrix built here, or its .data")
            A_bar = A_bar.data
        A_bar = np.asarray(A_bar, float)
        if A_bar.shape != (self.nnz,):
            raise ValueError(f"A_bar data has shape {A_bar.shape}; expected ({self.nnz},)")
        return A_bar[self.position]


# --------------------------------------------------------------------------------------
# Jacobians of x(p) = A(p)⁻¹ b(p)
# --------------------------------------------------------------------------------------

def jacobian(A, b, *, dA=None, db=None, outputs=None, mode: str = "auto",
             assume_symmetric: bool | None = None, solver=None) -> np.ndarray:
    """(m, n_params) Jacobian d(C x)/dp of x = A(p)⁻¹ b(p) at the current p.

    A: (n, n) scipy.sparse; b: (n,).
    dA: ∂A/∂p_k as a list of n_params sparse (n, n) matrices, or an (nnz, n_params)
        dense or sparse matrix of derivatives of ``A.tocsc().data`` (A's stored order).
        None means A does not depend on p.
    db: ∂b/∂p_k as a list of (n,) vectors or an (n, n_params) dense or sparse
        matrix; None means b does not depend on p. At least one of dA, db is given.
    outputs: (m, n) dense or sparse selection/weight matrix C; None is the identity
        (all of x, m = n).
    mode: "forward" (one solve per parameter: A dx/dp_k = db/dp_k − dA/dp_k x),
        "reverse" (one transposed solve per output: Aᵀλ_i = C_iᵀ, then
        J_ik = λ_iᵀ (db/dp_k − dA/dp_k x)), or "auto": whichever needs fewer solves.
    assume_symmetric, solver: as in :func:`solve`.

    One factorization serves x and every Jacobian solve; solves run in blocks of
    ``JACOBIAN_BLOCK`` right-hand sides, so besides the (m, n_params) result the
    temporaries are O(nnz + n·(n_params + JACOBIAN_BLOCK)) — never n × n.
    """
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"jacobian: mode must be 'auto', 'forward' or 'reverse'; got {mode!r}")
    A = _as_square_csc(A)
    n = A.shape[0]
    b = np.asarray(b, float)
    if b.shape != (n,):
        raise ValueError(f"jacobian: b must have shape ({n},); got {b.shape}")
    if outputs is not None:
        outputs = sp.csr_matrix(outputs) if sp.issparse(outputs) else np.asarray(outputs, float)
        if outputs.ndim != 2 or outputs.shape[1] != n:
            raise ValueError(f"jacobian: outputs must have shape (m, {n}); got {outputs.shape}")
    factor = _factorize(A, assume_symmetric, solver)
    x = factor.solve(b).reshape(n)

    rhs = _parameter_rhs(A, x, dA, db)                       # (n, n_params), sparse or dense
    n_params = rhs.shape[1]
    n_outputs = n if outputs is None else outputs.shape[0]
    if mode == "auto":
        mode = choose_mode(n_params, n_outputs)
    J = np.empty((n_outputs, n_params))
    # Blocks of JACOBIAN_BLOCK solves keep temporaries at n × block, never n × n.
    if mode == "forward":
        for cols in _blocks(n_params):
            dx = factor.solve(_dense(rhs[:, cols])).reshape(n, -1)      # dx/dp for this block
            J[:, cols] = dx if outputs is None else outputs @ dx
    else:
        for rows in _blocks(n_outputs):
            selection = _identity_rows(rows, n) if outputs is None else outputs[rows]
            lam = factor.solve_transpose(_dense(selection.T)).reshape(n, -1)   # Aᵀλ_i = C_iᵀ
            J[rows] = np.asarray((rhs.T @ lam).T)                             # rhs may be sparse
    return J


def choose_mode(n_params: int, n_outputs: int) -> str:
    """'forward' when parameters are no more than outputs (fewer solves), else 'reverse'."""
    return "forward" if n_params <= n_outputs else "reverse"


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def is_symmetric(A, rtol: float = SYMMETRY_RTOL) -> bool:
    """True when max|A − Aᵀ| <= rtol · max|A| (pattern and values); O(nnz)."""
    A = sp.csc_matrix(A)
    if A.shape[0] != A.shape[1]:
        return False
    scale = abs(A).max() if A.nnz else 0.0
    difference = abs(A - A.T)
    return (difference.max() if difference.nnz else 0.0) <= rtol * scale


def _factorize(A: sp.csc_matrix, assume_symmetric, solver):
    """A factorized solver for A: the caller's, or the ``auto`` solver of
    :func:`femopt.solvers.make_solver` (CHOLMOD for SPD, else LU)."""
    symmetric = is_symmetric(A) if assume_symmetric is None else bool(assume_symmetric)
    if solver is None:
        # A positive diagonal is necessary for positive definiteness: it spares CHOLMOD an
        # obvious failure; a symmetric indefinite A still fails there and goes to LU.
        solver = solvers.make_solver("auto", symmetric=symmetric and _positive_diagonal(A))
        try:
            solver.factorize(_lower(A) if solver.symmetric else A)
            return solver
        except FemoptError:
            solver = solvers.make_solver("superlu", symmetric=False)
    elif isinstance(solver, str):
        solver = solvers.make_solver(solver, symmetric=symmetric)
    if solver.symmetric and not symmetric:
        raise SolverError(f"solver {solver.name!r} needs a symmetric matrix, "
                          "but A is not symmetric; use the default LU")
    solver.factorize(_lower(A) if solver.symmetric else A)
    return solver


def _lower(A: sp.csc_matrix) -> sp.csc_matrix:
    return sp.tril(A, format="csc")


def _positive_diagonal(A: sp.csc_matrix) -> bool:
    """Necessary for positive definiteness, and O(nnz) — spares CHOLMOD an obvious failure."""
    return bool(np.all(A.diagonal() > 0))


def _entry_columns(indptr: np.ndarray) -> np.ndarray:
    """(nnz,) column index of every stored entry of a CSC matrix."""
    n_cols = len(indptr) - 1
    return np.repeat(np.arange(n_cols, dtype=indptr.dtype), np.diff(indptr))


def _pattern_cotangent(rows: np.ndarray, cols: np.ndarray, lam: np.ndarray,
                       x: np.ndarray) -> np.ndarray:
    """(nnz,) −Σ_k λ[rows, k] · x[cols, k] for lam, x of shape (n,) or (n, k).

    Loops over the k right-hand sides (not over entries) and multiplies in place,
    so the temporaries stay at two (nnz,) arrays besides the result, whatever k is.
    """
    lam = lam.reshape(len(lam), -1)
    x = x.reshape(len(x), -1)
    data = None
    for column in range(x.shape[1]):
        term = lam[:, column][rows]          # gather; int32 indices are used as they are
        term *= x[:, column][cols]
        data = term if data is None else np.add(data, term, out=data)
    return np.negative(data, out=data)


def _parameter_rhs(A: sp.csc_matrix, x: np.ndarray, dA, db):
    """(n, n_params) db/dp − dA/dp · x, sparse when the inputs are sparse."""
    n = A.shape[0]
    terms = []
    if dA is not None:
        if isinstance(dA, (list, tuple)):
            dAx = np.column_stack([sp.csr_matrix(d) @ x for d in dA]) if dA else np.zeros((n, 0))
        else:
            if dA.shape[0] != A.nnz:
                raise ValueError(f"jacobian: dA must have one row per stored entry of A "
                                 f"({A.nnz}); got shape {dA.shape}")
            # (n, nnz) map from an entry's derivative to its row, weighted by x of its column.
            weights = sp.csr_matrix((x[_entry_columns(A.indptr)], (A.indices, np.arange(A.nnz))),
                                    shape=(n, A.nnz))
            dAx = weights @ dA
        terms.append(-dAx if sp.issparse(dAx) else -np.asarray(dAx))
    if db is not None:
        db = np.column_stack(db) if isinstance(db, (list, tuple)) else db
        if db.shape[0] != n:
            raise ValueError(f"jacobian: db must have {n} rows; got shape {db.shape}")
        terms.append(db if sp.issparse(db) else np.asarray(db, float).reshape(n, -1))
    if not terms:
        raise ValueError("jacobian: give dA, db or both")
    if len(terms) == 2 and terms[0].shape[1] != terms[1].shape[1]:
        raise ValueError(f"jacobian: dA has {terms[0].shape[1]} parameters but db has "
                         f"{terms[1].shape[1]}")
    total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return sp.csc_matrix(total) if sp.issparse(total) else np.asarray(total)  # csc: column slices


def _blocks(count: int, size: int = JACOBIAN_BLOCK):
    """Slices covering range(count) in pieces of at most ``size``."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def _identity_rows(rows: slice, n: int) -> sp.csr_matrix:
    """Rows ``rows`` of the (n, n) identity, sparse."""
    index = np.arange(rows.start, rows.stop)
    return sp.csr_matrix((np.ones(len(index)), (index - rows.start, index)), shape=(len(index), n))


def _dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M, float)


def _as_square_csc(A) -> sp.csc_matrix:
    if not sp.issparse(A):
        raise TypeError(f"A must be a scipy.sparse matrix; got {type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square; got shape {A.shape}")
    A = A.tocsc()
    return A if A.dtype == np.float64 else A.astype(np.float64)


def _as_rhs(b, n: int) -> np.ndarray:
    b = np.asarray(b, float)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(f"b must have shape ({n},) or ({n}, k); got {b.shape}")
    return b
