"""Tests of the CG backend femopt.solvers.iterative and of gradients computed with it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femopt import adjoint
from femopt.fem.assembly import Assembler
from femopt.fem.elasticity import q4_stiffness
from femopt.errors import SingularStiffnessError, SolverError
from femopt.mesh import StructuredMesh
from femopt.solvers.iterative import CGSolver, LowerMirror, rigid_body_modes
from femopt.fem.dofs import DofMap

from helpers import full_symmetric, loss_gradient, mbb_assembler

try:
    import pyamg  # noqa: F401
    PRECONDITIONERS = ["amg", "jacobi"]
except ImportError:  # the AMG cases need the optional pyamg
    PRECONDITIONERS = ["jacobi"]


def make_cg(preconditioner: str, mesh, free, **options) -> CGSolver:
    modes = rigid_body_modes(mesh.node_coords, free) if preconditioner == "amg" else None
    return CGSolver(preconditioner, near_null_space=modes, **options)


@pytest.mark.parametrize("preconditioner", PRECONDITIONERS)
def test_cg_matches_direct_solve_vector_and_block(preconditioner):
    mesh, assembler, scales = mbb_assembler(12, 4)
    lower = assembler.matrix(scales)
    K = full_symmetric(lower)
    rng = np.random.default_rng(1)
    cg = make_cg(preconditioner, mesh, assembler.free_dofs, rtol=1e-10)
    cg.factorize(lower)                                        # lower triangle, mirrored inside
    assert cg.n_factorizations == 1
    for B in (rng.standard_normal(K.shape[0]), rng.standard_normal((K.shape[0], 3))):
        X = cg.solve(B)
        assert X.shape == B.shape
        np.testing.assert_allclose(X, spla.splu(K).solve(B), rtol=1e-7, atol=1e-9 * np.abs(X).max())
        assert len(cg.last_iterations) == (1 if B.ndim == 1 else 3)
        assert all(count > 0 for count in cg.last_iterations)
    np.testing.assert_array_equal(cg.solve_transpose(B), cg.solve(B))


@pytest.mark.parametrize("preconditioner", PRECONDITIONERS)
def test_gradient_error_follows_cg_tolerance(preconditioner):
    """The adjoint with CG is a second CG solve; dL/ds error vs the direct solver falls
    by orders of magnitude as rtol goes 1e-4 → 1e-8 → 1e-12."""
    mesh, assembler, scales = mbb_assembler(12, 4)
    lower = assembler.matrix(scales)
    K = full_symmetric(lower)
    rng = np.random.default_rng(2)
    f, w = rng.standard_normal(K.shape[0]), rng.standard_normal(K.shape[0])

    def element_gradient(solver):
        u, vjp = adjoint.solve(K, f, solver=solver)
        K_bar, _ = vjp(w)                                      # L = wᵀu
        folded = sp.csc_matrix(sp.tril(K_bar) + sp.triu(K_bar, 1).T)
        folded.sort_indices()
        return assembler.pullback(folded.data)

    exact = element_gradient(None)                             # CHOLMOD or SuperLU
    errors = []
    for rtol in (1e-4, 1e-8, 1e-12):
        cg = make_cg(preconditioner, mesh, assembler.free_dofs, rtol=rtol)
        gradient = element_gradient(cg)
        assert cg.n_factorizations == 1                        # forward and adjoint share it
        errors.append(np.linalg.norm(gradient - exact) / np.linalg.norm(exact))
    assert errors[0] > 10 * errors[1] > 100 * errors[2], errors
    assert errors[0] / errors[2] > 1e4, errors
    assert errors[0] < 1e-2                                    # and the loose one is still close


def test_cg_gradient_agrees_with_the_driver_adjoint_path():
    """The driver's adjoint path (adjoint_solution, then stiffness_pullback) works unchanged
    with a CG solver in place of CHOLMOD."""
    mesh, assembler, scales = mbb_assembler(12, 4)
    dofmap = DofMap(mesh, mesh.dim)
    lower = assembler.matrix(scales)
    rng = np.random.default_rng(3)
    f, w = rng.standard_normal(assembler.n_free), rng.standard_normal(assembler.n_free)
    from femopt.solvers import make_solver
    direct = make_solver("auto")
    direct.factorize(lower)
    cg = make_cg(PRECONDITIONERS[0], mesh, assembler.free_dofs, rtol=1e-12)
    cg.factorize(lower)
    w_full = assembler.full_vector(w, dofmap.n_dofs)
    expected = loss_gradient(assembler, direct, assembler.full_vector(direct.solve(f), dofmap.n_dofs), w_full)
    got = loss_gradient(assembler, cg, assembler.full_vector(cg.solve(f), dofmap.n_dofs), w_full)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_non_convergence_raises_solver_error():
    mesh, assembler, scales = mbb_assembler(12, 4)
    cg = CGSolver("jacobi", rtol=1e-12, maxiter=3)
    cg.factorize(assembler.matrix(scales))
    with pytest.raises(SolverError, match="did not converge in 3 iterations"):
        cg.solve(np.ones(assembler.n_free))


def test_rejects_bad_input():
    with pytest.raises(SolverError, match="preconditioner"):
        CGSolver("ilu")
    with pytest.raises(SolverError, match="before factorize"):
        CGSolver("jacobi").solve(np.ones(3))
    with pytest.raises(SingularStiffnessError):
        CGSolver("jacobi").factorize(sp.csc_matrix(np.diag([1.0, 0.0])))
    unsymmetric = sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]]))
    with pytest.raises(SolverError, match="symmetric"):
        adjoint.solve(unsymmetric, np.ones(2), solver=CGSolver("jacobi"))


def test_rigid_body_modes_span_the_null_space():
    """With no supports, K annihilates the three 2D rigid-body modes."""
    mesh = StructuredMesh((4, 3), (2.0, 1.5))
    dofmap = DofMap(mesh, mesh.dim)
    everything = np.arange(dofmap.n_dofs)
    assembler = Assembler(dofmap.element_dofs, q4_stiffness(1.0, 0.3), everything, dofmap.n_dofs)
    lower = assembler.matrix(np.ones(mesh.n_elements))
    K = lower + sp.tril(lower, -1).T
    modes = rigid_body_modes(mesh.node_coords, everything)
    assert modes.shape == (dofmap.n_dofs, 3)
    assert np.linalg.matrix_rank(modes) == 3
    assert np.abs(K @ modes).max() < 1e-12 * abs(K).max() * np.abs(modes).max()
    free = everything[::2]
    np.testing.assert_array_equal(rigid_body_modes(mesh.node_coords, free), modes[free])


def test_rigid_body_modes_3d():
    coords = np.random.default_rng(4).standard_normal((5, 3))
    modes = rigid_body_modes(coords, np.arange(15))
    assert modes.shape == (15, 6) and np.linalg.matrix_rank(modes) == 6


def test_lower_mirror_is_the_mirrored_sum_bit_for_bit():
    """The full matrix CG and pyamg get is ``lower + tril(lower, -1).T`` as CSR, the same
    bits and the same pattern, whether a stored value is an exact zero (dropped, as the sum
    drops it) or not; each call gets its own pattern arrays."""
    _, assembler, scales = mbb_assembler(12, 4)
    lower = assembler.matrix(scales)
    mirror = LowerMirror(lower)
    with_zero = lower.copy()
    with_zero.data[np.flatnonzero(with_zero.indices != np.repeat(np.arange(lower.shape[1]), np.diff(lower.indptr)))[::7]] = 0.0
    for matrix in (lower, with_zero, assembler.matrix(2 * scales)):
        expected = (matrix + sp.tril(matrix, -1, format="csc").T).tocsr()
        got = mirror(matrix)
        assert mirror.fits(matrix) and got.format == "csr"
        for name in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
            assert getattr(got, name).dtype == getattr(expected, name).dtype
    assert mirror(with_zero).nnz < mirror(lower).nnz
    first = mirror(lower)
    first.indices[:] = 0                                       # changed in place by someone
    np.testing.assert_array_equal(mirror(lower).indices, (lower + sp.tril(lower, -1, format="csc").T).tocsr().indices)


def test_cg_keeps_the_mirror_while_the_pattern_stays():
    """factorize works out the mirrored pattern once per pattern, not per matrix."""
    mesh, assembler, scales = mbb_assembler(12, 4)
    cg = CGSolver("jacobi", rtol=1e-10)
    cg.factorize(assembler.matrix(scales))
    mirror = cg._mirror
    cg.factorize(assembler.matrix(0.5 * scales))
    assert cg._mirror is mirror
    _, other, other_scales = mbb_assembler(6, 3)
    cg.factorize(other.matrix(other_scales))                   # another pattern: a new mirror
    assert cg._mirror is not mirror and cg._mirror.fits(other.matrix(other_scales))
    lower = other.matrix(other_scales)
    b = np.random.default_rng(4).standard_normal(other.n_free)
    np.testing.assert_allclose(cg.solve(b), spla.spsolve(full_symmetric(lower), b), rtol=1e-7)
