"""Tests of femopt.adjoint: the differentiable sparse solve, SparseBuilder, jacobian,
and the finite-element gradients built on the same adjoint."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

import femopt.solvers
from femopt import adjoint
from femopt.adjoint import SparseBuilder, jacobian, solve
from femopt.fem.assembly import element_energy_pullback
from femopt.errors import SolverError
from femopt.solvers.superlu import SuperLUSolver
from femopt.fem.dofs import DofMap

from helpers import full_symmetric, loss_gradient, mbb_assembler

HAS_CHOLMOD = femopt.solvers.cholmod_available()


@pytest.fixture(params=["cholmod", "superlu-only"])
def backend(request, monkeypatch):
    """Run a test with CHOLMOD available and again as if scikit-sparse were missing."""
    if request.param == "cholmod" and not HAS_CHOLMOD:
        pytest.skip("scikit-sparse is not installed")
    if request.param == "superlu-only":
        monkeypatch.setattr(femopt.solvers, "CholmodSolver", None)
    return request.param


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def random_matrix(n: int, rng: np.random.Generator, symmetric: bool) -> sp.csc_matrix:
    """Sparse, diagonally dominant (so well conditioned); SPD when ``symmetric``."""
    B = sp.random(n, n, density=min(1.0, 5.0 / n), random_state=rng,
                  data_rvs=rng.standard_normal, format="csc")
    if symmetric:
        B = B + B.T
    dominance = np.asarray(abs(B).sum(axis=1)).ravel() + 1.0
    return (B + sp.diags(dominance * rng.uniform(1.0, 2.0, n))).tocsc()


def on_pattern(A: sp.csc_matrix, data: np.ndarray) -> sp.csc_matrix:
    return sp.csc_matrix((data, A.indices, A.indptr), shape=A.shape)


def reference_solve(A, b) -> np.ndarray:
    """x = A⁻¹b by plain SciPy LU, independent of femopt's solver choice."""
    return spla.splu(sp.csc_matrix(A)).solve(np.asarray(b, float))


def loss(x: np.ndarray, w: np.ndarray) -> float:
    """L = Σ w⊙x + ½Σ x²: nonlinear in x so x̄ = w + x depends on the point."""
    return float(np.sum(w * x) + 0.5 * np.sum(x * x))


# --------------------------------------------------------------------------------------
# the worked 2×2 example of docs/adjoint.md
# --------------------------------------------------------------------------------------

ROWS, COLS, VALUES, B = [0, 0, 1, 1], [0, 1, 0, 1], np.array([6.0, 1, 1, 3]), np.ones(2)


def test_worked_example_exact_fractions():
    # det = 17; A⁻¹ = [[3, −1], [−1, 6]]/17 (exact rational arithmetic, independent of numpy).
    inverse = [[Fraction(3, 17), Fraction(-1, 17)], [Fraction(-1, 17), Fraction(6, 17)]]
    x = [sum(inverse[i][j] for j in range(2)) for i in range(2)]
    lam = [sum(inverse[j][i] for j in range(2)) for i in range(2)]  # A⁻ᵀ·[1, 1]
    assert x == [Fraction(2, 17), Fraction(5, 17)] and lam == x
    assert [[-lam[i] * x[j] for j in range(2)] for i in range(2)] == \
        [[Fraction(-4, 289), Fraction(-10, 289)], [Fraction(-10, 289), Fraction(-25, 289)]]


def test_worked_example_matches_analytic(backend):
    build = SparseBuilder(ROWS, COLS, (2, 2))
    x, vjp = solve(build(VALUES), B)
    A_bar, b_bar = vjp(np.ones(2))
    np.testing.assert_allclose(x, np.array([2, 5]) / 17, rtol=1e-14)
    np.testing.assert_allclose(b_bar, np.array([2, 5]) / 17, rtol=1e-14)
    np.testing.assert_allclose(A_bar.toarray(), -np.array([[4, 10], [10, 25]]) / 289, rtol=1e-14)
    np.testing.assert_allclose(build.vjp(A_bar), -np.array([4, 10, 10, 25]) / 289, rtol=1e-14)
    if backend == "cholmod":
        assert vjp.solver.name == "cholmod"  # SPD → Cholesky


def test_worked_example_central_differences(backend):
    build = SparseBuilder(ROWS, COLS, (2, 2))
    x, vjp = solve(build(VALUES), B)
    A_bar, b_bar = vjp(np.ones(2))
    values_bar = build.vjp(A_bar)

    def L(values, b):
        return float(np.sum(reference_solve(build(values), b)))

    h = 1e-5
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (L(VALUES + e, B) - L(VALUES - e, B)) / (2 * h)
        assert abs(fd - values_bar[i]) <= 1e-8 * abs(values_bar[i])
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        fd = (L(VALUES, B + e) - L(VALUES, B - e)) / (2 * h)
        assert abs(fd - b_bar[i]) <= 1e-8 * abs(b_bar[i])


# --------------------------------------------------------------------------------------
# random matrices: directional derivatives vs central differences
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [10, 200, 2000])
@pytest.mark.parametrize("symmetric", [True, False], ids=["spd", "unsymmetric"])
@pytest.mark.parametrize("k", [None, 3], ids=["vector", "block3"])
def test_directional_derivative(backend, n, symmetric, k):
    rng = np.random.default_rng(1000 * n + 10 * symmetric + (k or 0))
    A = random_matrix(n, rng, symmetric)
    shape = (n,) if k is None else (n, k)
    b, w = rng.standard_normal(shape), rng.standard_normal(shape)

    x, vjp = solve(A, b)
    np.testing.assert_allclose(x, reference_solve(A, b), rtol=1e-10, atol=1e-12)
    A_bar, b_bar = vjp(w + x)                                  # x̄ = ∂L/∂x
    assert isinstance(A_bar, sp.csc_matrix) and b_bar.shape == b.shape
    assert np.array_equal(A_bar.indptr, A.tocsc().indptr)
    assert np.array_equal(A_bar.indices, A.tocsc().indices)

    dA = on_pattern(A, rng.standard_normal(A.nnz))             # a direction on A's pattern
    db = rng.standard_normal(shape)
    predicted = np.sum(A_bar.data * dA.data) + np.sum(b_bar * db)
    h = 1e-6
    plus = loss(reference_solve(A + h * dA, b + h * db), w)
    minus = loss(reference_solve(A - h * dA, b - h * db), w)
    fd = (plus - minus) / (2 * h)
    assert abs(fd - predicted) <= 1e-6 * abs(fd)
    if backend == "cholmod":
        assert vjp.solver.name == ("cholmod" if symmetric else "superlu")
    else:
        assert vjp.solver.name == "superlu"


def test_pattern_of_A_bar_follows_input_format():
    """A given as COO with duplicates or as CSR: Ā is on A.tocsc()'s indptr/indices."""
    rng = np.random.default_rng(3)
    A = random_matrix(50, rng, symmetric=False)
    coo = A.tocoo()
    duplicated = sp.coo_matrix((np.r_[coo.data, 0.5 * coo.data[:5]],
                                (np.r_[coo.row, coo.row[:5]], np.r_[coo.col, coo.col[:5]])),
                               shape=A.shape)
    for given_A in (A.tocsr(), duplicated):
        x, vjp = solve(given_A, rng.standard_normal(50))
        A_bar, _ = vjp(np.ones(50))
        reference = given_A.tocsc()
        assert np.array_equal(A_bar.indptr, reference.indptr)
        assert np.array_equal(A_bar.indices, reference.indices)
        rows = reference.indices
        cols = np.repeat(np.arange(50), np.diff(reference.indptr))
        lam = reference_solve(reference.T, np.ones(50))
        np.testing.assert_allclose(A_bar.data, -lam[rows] * x[cols], rtol=1e-10)


def test_factorization_once_for_many_vjps(backend, monkeypatch):
    calls = []
    original = SuperLUSolver.factorize
    monkeypatch.setattr(SuperLUSolver, "factorize",
                        lambda self, A: (calls.append("superlu"), original(self, A))[1])
    if backend == "cholmod":
        from femopt.solvers.cholmod import CholmodSolver
        original_cholmod = CholmodSolver.factorize
        monkeypatch.setattr(CholmodSolver, "factorize",
                            lambda self, K: (calls.append("cholmod"), original_cholmod(self, K))[1])
    rng = np.random.default_rng(4)
    for symmetric in (True, False):
        calls.clear()
        A = random_matrix(100, rng, symmetric)
        x, vjp = solve(A, rng.standard_normal((100, 2)))
        for _ in range(3):
            vjp(rng.standard_normal((100, 2)))
        assert len(calls) == 1
        assert vjp.solver.n_factorizations == 1


def test_symmetric_indefinite_falls_back_to_lu(backend):
    A = sp.csc_matrix(np.array([[1.0, 2.0], [2.0, 1.0]]))   # positive diagonal, not definite
    b = np.array([1.0, 0.0])
    x, vjp = solve(A, b)
    np.testing.assert_allclose(A @ x, b, atol=1e-14)
    assert vjp.solver.name == "superlu"
    A_bar, b_bar = vjp(np.array([1.0, 0.0]))
    np.testing.assert_allclose(b_bar, np.linalg.solve(A.toarray().T, [1.0, 0.0]))


def test_assume_symmetric_overrides_detection(backend):
    A = random_matrix(30, np.random.default_rng(5), symmetric=True)
    _, vjp = solve(A, np.ones(30), assume_symmetric=False)
    assert vjp.solver.name == "superlu"
    _, vjp = solve(A, np.ones(30), assume_symmetric=True)
    assert vjp.solver.name == ("cholmod" if backend == "cholmod" else "superlu")


def test_is_symmetric_checks_values_and_pattern():
    A = random_matrix(40, np.random.default_rng(6), symmetric=True)
    assert adjoint.is_symmetric(A)
    B = A.tolil()
    B[0, 5] = B[0, 5] + 1e-6        # values differ (or pattern: was it zero, now stored)
    assert not adjoint.is_symmetric(B.tocsc())
    assert not adjoint.is_symmetric(sp.tril(A, format="csc"))


def test_named_and_object_solvers(backend):
    A = random_matrix(40, np.random.default_rng(7), symmetric=False)
    with pytest.raises(SolverError):
        solve(A, np.ones(40), solver=SuperLUSolver(symmetric=True))   # unsymmetric A
    x, vjp = solve(A, np.ones(40), solver="superlu")
    np.testing.assert_allclose(A @ x, np.ones(40), atol=1e-12)


def test_bad_shapes_are_reported():
    A = random_matrix(5, np.random.default_rng(8), symmetric=False)
    with pytest.raises(ValueError, match="shape"):
        solve(A, np.ones(4))
    _, vjp = solve(A, np.ones(5))
    with pytest.raises(ValueError, match="x_bar"):
        vjp(np.ones((5, 1)))
    with pytest.raises(TypeError):
        solve(A.toarray(), np.ones(5))


# --------------------------------------------------------------------------------------
# SparseBuilder
# --------------------------------------------------------------------------------------

def test_builder_sums_duplicates_like_scipy():
    rows = [0, 2, 0, 1, 2, 0, 2]
    cols = [0, 1, 0, 2, 1, 2, 0]
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    build = SparseBuilder(rows, cols, (3, 3))
    A = build(values)
    reference = sp.coo_matrix((values, (rows, cols)), shape=(3, 3)).tocsc()
    assert isinstance(A, sp.csc_matrix) and A.nnz == 5
    assert np.array_equal(A.indptr, reference.indptr)
    assert np.array_equal(A.indices, reference.indices)
    np.testing.assert_array_equal(A.data, reference.data)
    # Each duplicate gets the cotangent of the entry it adds into.
    A_bar = sp.csc_matrix((np.arange(1.0, 6.0), A.indices, A.indptr), shape=A.shape)
    values_bar = build.vjp(A_bar)
    dense_bar = A_bar.toarray()
    np.testing.assert_array_equal(values_bar, dense_bar[rows, cols])
    np.testing.assert_array_equal(build.vjp(A_bar.data), values_bar)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_builder_matches_coo_property(n_rows, n_cols, n_values, seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, n_values)
    cols = rng.integers(0, n_cols, n_values)
    values = rng.standard_normal(n_values)
    A = SparseBuilder(rows, cols, (n_rows, n_cols))(values)
    reference = sp.coo_matrix((values, (rows, cols)), shape=(n_rows, n_cols)).tocsc()
    reference.sort_indices()
    assert np.array_equal(A.indptr, reference.indptr)
    assert np.array_equal(A.indices, reference.indices)
    np.testing.assert_allclose(A.data, reference.data, rtol=1e-13, atol=1e-15)


def test_builder_call_never_sorts(monkeypatch):
    rng = np.random.default_rng(9)
    build = SparseBuilder(rng.integers(0, 50, 500), rng.integers(0, 50, 500), (50, 50))

    def forbidden(*args, **kwargs):
        raise AssertionError("SparseBuilder.__call__ sorted")

    for name in ("sort", "argsort", "unique", "lexsort"):
        monkeypatch.setattr(np, name, forbidden)
    monkeypatch.setattr(sp.csc_matrix, "sort_indices", forbidden)
    monkeypatch.setattr(sp.csc_matrix, "sum_duplicates", forbidden)
    A = build(rng.standard_normal(500))
    build.vjp(A)
    assert A.nnz == build.nnz


def test_builder_rejects_foreign_pattern():
    build = SparseBuilder([0, 1], [0, 1], (2, 2))
    with pytest.raises(ValueError, match="pattern"):
        build.vjp(sp.csc_matrix(np.ones((2, 2))))
    with pytest.raises(ValueError, match="outside"):
        SparseBuilder([0, 2], [0, 1], (2, 2))


def test_builder_gradient_through_solve_central_differences():
    """values → A (with duplicates) → x → L: values̄ from build.vjp(Ā) vs central differences."""
    rng = np.random.default_rng(10)
    n = 30
    base = random_matrix(n, rng, symmetric=False).tocoo()
    # Split every stored value in two duplicates so the scatter has real sums.
    rows, cols = np.r_[base.row, base.row], np.r_[base.col, base.col]
    values = np.r_[0.3 * base.data, 0.7 * base.data]
    build = SparseBuilder(rows, cols, (n, n))
    b, w = rng.standard_normal(n), rng.standard_normal(n)
    x, vjp = solve(build(values), b)
    values_bar = build.vjp(vjp(w + x)[0])
    direction = rng.standard_normal(len(values))
    h = 1e-6
    fd = (loss(reference_solve(build(values + h * direction), b), w)
          - loss(reference_solve(build(values - h * direction), b), w)) / (2 * h)
    assert abs(fd - values_bar @ direction) <= 1e-6 * abs(fd)


# --------------------------------------------------------------------------------------
# jacobian
# --------------------------------------------------------------------------------------

class CountingLU(SuperLUSolver):
    """SuperLU that counts right-hand-side columns (one column = one solve)."""

    def __init__(self):
        super().__init__(symmetric=False)
        self.columns = {"solve": 0, "solve_transpose": 0}

    def solve(self, B):
        self.columns["solve"] += np.asarray(B).reshape(len(B), -1).shape[1]
        return super().solve(B)

    def solve_transpose(self, B):
        self.columns["solve_transpose"] += np.asarray(B).reshape(len(B), -1).shape[1]
        return super().solve_transpose(B)


def jacobian_problem(n=40, n_params=4, seed=11, symmetric=False):
    rng = np.random.default_rng(seed)
    A = random_matrix(n, rng, symmetric)
    b = rng.standard_normal(n)
    dA_data = rng.standard_normal((A.nnz, n_params))
    db = rng.standard_normal((n, n_params))
    return A, b, dA_data, db


def finite_difference_jacobian(A, b, dA_data, db, C, h=1e-6):
    columns = []
    for p in range(dA_data.shape[1]):
        plus = reference_solve(on_pattern(A, A.data + h * dA_data[:, p]), b + h * db[:, p])
        minus = reference_solve(on_pattern(A, A.data - h * dA_data[:, p]), b - h * db[:, p])
        columns.append(C @ (plus - minus) / (2 * h))
    return np.column_stack(columns)


@pytest.mark.parametrize("symmetric", [True, False], ids=["spd", "unsymmetric"])
def test_jacobian_forward_reverse_finite_differences(backend, symmetric):
    A, b, dA_data, db = jacobian_problem(symmetric=symmetric)
    C = np.random.default_rng(12).standard_normal((3, A.shape[0]))
    forward = jacobian(A, b, dA=dA_data, db=db, outputs=C, mode="forward")
    reverse = jacobian(A, b, dA=dA_data, db=db, outputs=C, mode="reverse")
    fd = finite_difference_jacobian(A, b, dA_data, db, C)
    assert forward.shape == (3, 4)
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(forward, fd, rtol=1e-6, atol=1e-8)


def test_jacobian_parameter_forms_agree():
    """dA as a list of matrices, as a dense or sparse (nnz × p) matrix; db as list or
    sparse; outputs dense, sparse or identity — all the same Jacobian."""
    A, b, dA_data, db = jacobian_problem()
    n = A.shape[0]
    dA_list = [on_pattern(A, dA_data[:, p]) for p in range(4)]
    C = sp.random(2, n, density=0.2, random_state=13, format="csr")
    reference = jacobian(A, b, dA=dA_data, db=db, mode="forward")          # identity outputs
    assert reference.shape == (n, 4)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(jacobian(A, b, dA=dA_list, db=list(db.T), mode=mode),
                                   reference, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacobian(A, b, dA=sp.csc_matrix(dA_data), db=sp.csc_matrix(db),
                                            mode=mode), reference, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(jacobian(A, b, dA=dA_data, db=db, outputs=C, mode=mode),
                                   C @ reference, rtol=1e-10, atol=1e-12)
    # Only b or only A depends on p.
    x = reference_solve(A, b)
    np.testing.assert_allclose(jacobian(A, b, db=db), reference_solve(A, db), rtol=1e-10)
    np.testing.assert_allclose(jacobian(A, b, dA=dA_list),
                               -reference_solve(A, np.column_stack([d @ x for d in dA_list])),
                               rtol=1e-10)


def test_jacobian_auto_mode_uses_fewer_solves():
    A, b, dA_data, db = jacobian_problem(n=30, n_params=5)
    one_output = np.zeros((1, 30))
    one_output[0, 7] = 1.0

    lu = CountingLU()
    J = jacobian(A, b, dA=dA_data, db=db, outputs=one_output, solver=lu)   # 5 params > 1 output
    assert lu.columns == {"solve": 1, "solve_transpose": 1}                # x, then one adjoint
    assert lu.n_factorizations == 1

    lu = CountingLU()
    J_forward = jacobian(A, b, dA=dA_data[:, :1], db=db[:, :1], solver=lu)  # 1 param < 30 outputs
    assert lu.columns == {"solve": 2, "solve_transpose": 0}
    np.testing.assert_allclose(J[0, 0], J_forward[7, 0], rtol=1e-10)
    assert adjoint.choose_mode(3, 3) == "forward" and adjoint.choose_mode(4, 3) == "reverse"


def test_jacobian_rejects_mismatched_parameters():
    A, b, dA_data, db = jacobian_problem()
    with pytest.raises(ValueError, match="parameters"):
        jacobian(A, b, dA=dA_data, db=db[:, :2])
    with pytest.raises(ValueError, match="stored entry"):
        jacobian(A, b, dA=dA_data[:-1])
    with pytest.raises(ValueError, match="dA, db"):
        jacobian(A, b)
    with pytest.raises(ValueError, match="mode"):
        jacobian(A, b, db=db, mode="sideways")


# --------------------------------------------------------------------------------------
# the finite-element path: assembly pullback, primitive and compliance agree
# --------------------------------------------------------------------------------------

def test_pattern_cotangent_pullback_equals_element_energy(backend):
    mesh, assembler, scales = mbb_assembler()
    dofmap = DofMap(mesh, mesh.dim)
    rng = np.random.default_rng(14)
    n = assembler.n_free
    for k in (None, 2):
        shape = (n,) if k is None else (n, k)
        w = rng.standard_normal(shape)
        solver = femopt.solvers.make_solver("auto")
        solver.factorize(assembler.matrix(scales))
        u = solver.solve(rng.standard_normal(shape))
        lam = solver.solve_transpose(w)
        via_pattern = assembler.pullback(assembler.pattern_cotangent(lam, u))
        elementwise = element_energy_pullback(dofmap.element_dofs, assembler.element_matrix,
                                              assembler.full_vector(lam, dofmap.n_dofs),
                                              assembler.full_vector(u, dofmap.n_dofs))
        np.testing.assert_allclose(via_pattern, elementwise, rtol=1e-10,
                                   atol=1e-12 * np.abs(elementwise).max())


def test_fe_gradient_equals_finite_differences(backend):
    """dL/ds for L = wᵀu(s), u = K(s)⁻¹f, by the adjoint and by central differences."""
    mesh, assembler, scales = mbb_assembler()
    dofmap = DofMap(mesh, mesh.dim)
    rng = np.random.default_rng(15)
    f, w = rng.standard_normal(assembler.n_free), rng.standard_normal(assembler.n_free)

    def L(s):
        return float(w @ reference_solve(full_symmetric(assembler.matrix(s)), f))

    solver = femopt.solvers.make_solver("auto")
    solver.factorize(assembler.matrix(scales))
    u = solver.solve(f)
    gradient = loss_gradient(assembler, solver, assembler.full_vector(u, dofmap.n_dofs),
                             assembler.full_vector(w, dofmap.n_dofs))
    h = 1e-6
    for e in (0, 7, mesh.n_elements - 1):
        step = np.zeros(mesh.n_elements)
        step[e] = h
        fd = (L(scales + step) - L(scales - step)) / (2 * h)
        assert abs(fd - gradient[e]) <= 1e-6 * abs(fd)
    direction = rng.standard_normal(mesh.n_elements)
    fd = (L(scales + h * direction) - L(scales - h * direction)) / (2 * h)
    assert abs(fd - gradient @ direction) <= 1e-6 * abs(fd)


def test_primitive_on_full_matrix_folds_to_pattern_cotangent(backend):
    """solve() on the full symmetric K: its Ā, with K_ij and K_ji folded onto the stored
    lower entry, is the assembler's pattern cotangent."""
    _, assembler, scales = mbb_assembler()
    rng = np.random.default_rng(16)
    lower = assembler.matrix(scales)
    K = full_symmetric(lower)
    f, w = rng.standard_normal(assembler.n_free), rng.standard_normal(assembler.n_free)
    u, vjp = solve(K, f)
    K_bar, lam = vjp(w)
    folded = sp.tril(K_bar, format="csc") + sp.triu(K_bar, 1, format="csc").T
    folded = sp.csc_matrix(folded)
    folded.sort_indices()
    assert np.array_equal(folded.indices, lower.indices)
    np.testing.assert_allclose(folded.data, assembler.pattern_cotangent(lam, u), rtol=1e-10,
                               atol=1e-14 * np.abs(folded.data).max())


def test_generic_loss_gradient_equals_compliance_gradient(backend):
    """Compliance C = fᵀu through the generic adjoint (∂L/∂u = f, one extra solve) equals
    the self-adjoint shortcut."""
    mesh, assembler, scales = mbb_assembler()
    dofmap = DofMap(mesh, mesh.dim)
    rng = np.random.default_rng(17)
    for k in (None, 2):
        shape = (assembler.n_free,) if k is None else (assembler.n_free, k)
        f = rng.standard_normal(shape)
        solver = femopt.solvers.make_solver("auto")
        solver.factorize(assembler.matrix(scales))
        u = solver.solve(f)
        u_full, f_full = (assembler.full_vector(v, dofmap.n_dofs) for v in (u, f))
        generic = loss_gradient(assembler, solver, u_full, f_full)
        shortcut = loss_gradient(assembler, solver, u_full, f_full, lam=u_full)
        np.testing.assert_allclose(generic, shortcut, rtol=1e-9, atol=1e-12 * np.abs(shortcut).max())


def test_docs_example_runs():
    """The code block of docs/adjoint.md runs and gives the worked example's numbers."""
    pytest.importorskip("pyamg")  # its last step uses the AMG-CG backend
    from pathlib import Path
    import re
    text = (Path(__file__).resolve().parents[1] / "docs" / "adjoint.md").read_text()
    namespace = {}
    exec(re.findall(r"```python\n(.*?)```", text, re.S)[0], namespace)
    np.testing.assert_allclose(namespace["values_bar"], -np.array([4, 10, 10, 25]) / 289, rtol=1e-14)
    assert namespace["J"].shape == (1, 3) and namespace["J_all"].shape == (1000, 3)
    np.testing.assert_allclose(namespace["J"][0], namespace["J_all"][42], rtol=1e-10)


def test_jacobian_in_blocks_matches_dense_formula():
    """More parameters and outputs than one solve block: blocks stitch together exactly."""
    rng = np.random.default_rng(18)
    n = 150
    A = random_matrix(n, rng, symmetric=False)
    b = rng.standard_normal(n)
    db = sp.random(n, 2 * adjoint.JACOBIAN_BLOCK + 5, density=0.05, random_state=19, format="coo")
    dense_inverse = np.linalg.inv(A.toarray())          # fine at n = 150, as a reference only
    expected = dense_inverse @ db.toarray()
    C = sp.random(adjoint.JACOBIAN_BLOCK + 3, n, density=0.1, random_state=20, format="coo")
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(jacobian(A, b, db=db, mode=mode), expected,
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(jacobian(A, b, db=db, outputs=C, mode=mode), C @ expected,
                                   rtol=1e-9, atol=1e-12)
