"""The solver registry: amg (CG + smoothed aggregation with rigid-body modes), reuse
(an old Cholesky factor preconditioning CG, timed by a work clock) and auto's memory rule.
``solver:`` in a problem file is tested in test_config.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import femopt.solvers as solvers
from femopt.fem.assembly import Assembler
from femopt.fem.elasticity import h8_stiffness
from femopt.errors import SolverError
from femopt.mesh import StructuredMesh
from femopt.solvers import make_solver
from femopt.solvers.memory import cholesky_bytes, cholesky_fits
from femopt.fem.dofs import DofMap

from helpers import full_symmetric as full, reuse_solver

needs_cholmod = pytest.mark.skipif(not solvers.cholmod_available(), reason="needs scikit-sparse")


def cantilever(grid=(6, 3, 3), seed=0):
    """(mesh, free DOFs, assembler, element scales) of a 3D block clamped at x = 0."""
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    dofmap = DofMap(mesh, mesh.dim)
    clamped = mesh.select_nodes([("x", 0.0, 0.0)])
    free = np.setdiff1d(np.arange(dofmap.n_dofs), (3 * clamped[:, None] + np.arange(3)).ravel())
    assembler = Assembler(dofmap.element_dofs, h8_stiffness(1.0, 0.3), free, dofmap.n_dofs)
    scales = np.random.default_rng(seed).uniform(0.05, 1.0, mesh.n_elements)
    return mesh, free, assembler, scales


def test_amg_solves_3d_elasticity_with_six_rigid_body_modes():
    mesh, free, assembler, scales = cantilever()
    solver = make_solver("amg", node_coords=mesh.node_coords, free_dofs=free, rtol=1e-10)
    assert solver.name == "amg" and solver.near_null_space.shape == (len(free), 6)
    lower = assembler.matrix(scales)
    solver.analyze(lower)
    solver.factorize(lower)
    b = np.random.default_rng(1).standard_normal((len(free), 2))
    x = solver.solve(b)
    np.testing.assert_allclose(x, spla.splu(full(lower)).solve(b), rtol=1e-6, atol=1e-9 * np.abs(x).max())
    modes_2d = make_solver("amg", node_coords=np.zeros((10, 2)), free_dofs=np.arange(20)).near_null_space
    assert modes_2d.shape == (20, 3)


def test_amg_starts_from_the_previous_solution_when_it_is_closer_than_zero():
    mesh, free, assembler, scales = cantilever()
    solver = make_solver("amg", node_coords=mesh.node_coords, free_dofs=free, rtol=1e-10)
    b = np.random.default_rng(2).standard_normal((len(free), 2))

    def solve(s, rhs):
        lower = assembler.matrix(s)
        solver.factorize(lower)
        x = solver.solve(rhs)
        np.testing.assert_allclose(full(lower) @ x, rhs, atol=1e-9 * np.linalg.norm(rhs))
        return list(solver.last_iterations)

    cold = solve(scales, b)
    nearby = scales * (1 + 0.02 * np.random.default_rng(3).uniform(size=len(scales)))
    assert all(w < c for w, c in zip(solve(nearby, b), cold))   # a head start
    assert solver.n_factorizations == 2                          # a hierarchy per matrix
    # For -b the previous solution is worse than 0 (residual 2‖b‖): CG starts from 0,
    # exactly as a fresh solver does.
    flipped = solve(nearby, -b)
    fresh = make_solver("amg", node_coords=mesh.node_coords, free_dofs=free, rtol=1e-10)
    fresh.factorize(assembler.matrix(nearby))
    fresh.solve(-b)
    assert flipped == fresh.last_iterations


@needs_cholmod
def test_reuse_keeps_its_factor_for_a_nearby_matrix_and_refactorizes_for_a_distant_one():
    mesh, free, assembler, scales = cantilever()
    assert make_solver("reuse").name == "reuse"
    solver = reuse_solver(rtol=1e-10, max_cg_iterations=25)  # a factorization costs 50 solves
    assert solver.solve_transpose == solver.solve
    b = np.random.default_rng(2).standard_normal(len(free))
    solver.analyze(assembler.matrix(scales))

    def solve(s):
        lower = assembler.matrix(s)
        solver.factorize(lower)
        x = solver.solve(b)
        np.testing.assert_allclose(full(lower) @ x, b, atol=1e-8 * np.linalg.norm(b))
        return x

    solve(scales)
    assert solver.n_factorizations == 1 and solver.last_iterations == [0]  # exact, fresh factor
    solve(scales * (1 + 0.02 * np.random.default_rng(3).uniform(size=len(scales))))
    assert solver.n_factorizations == 1 and 0 < solver.last_iterations[0] <= 25  # CG on the old factor
    solve(np.random.default_rng(4).uniform(1e-3, 1.0, len(scales)))   # a different structure
    assert solver.n_factorizations == 2 and solver.last_iterations == [0]


@needs_cholmod
def test_reuse_block_right_hand_sides():
    mesh, free, assembler, scales = cantilever()
    solver = reuse_solver(rtol=1e-12)
    solver.factorize(assembler.matrix(scales))
    lower = assembler.matrix(scales * 1.01)
    solver.factorize(lower)
    B = np.random.default_rng(5).standard_normal((len(free), 3))
    np.testing.assert_allclose(solver.solve(B), spla.splu(full(lower)).solve(B), rtol=1e-8)


def test_auto_picks_amg_only_when_the_factor_would_not_fit(monkeypatch):
    mesh, free, _, _ = cantilever()
    direct = "cholmod" if solvers.cholmod_available() else "superlu"
    assert make_solver("auto", node_coords=mesh.node_coords, free_dofs=free).name == direct
    assert make_solver("auto").name == direct                     # no mesh: no estimate
    monkeypatch.setattr(solvers.memory, "available_bytes", lambda: 1e3)
    assert make_solver("auto", node_coords=mesh.node_coords, free_dofs=free).name == "amg"
    assert make_solver("auto", symmetric=False, node_coords=mesh.node_coords, free_dofs=free).name == "superlu"


def test_cholesky_estimate_is_conservative_for_measured_3d_factors():
    # nnz(L) measured with CHOLMOD (supernodal) for cubes clamped on one face, ~10 bytes each.
    for n_free, measured_nnz in [(45_000, 2.98e7), (104_544, 9.58e7), (201_720, 2.42e8)]:
        assert measured_nnz * 10 <= cholesky_bytes(n_free, 3) <= 1.5 * measured_nnz * 10
    # 10⁶ H8 elements (3·10⁶ DOFs): ~9·10⁹ entries — never fits 24 GiB, 48×24×24 does.
    assert not cholesky_fits(3_060_300, 3, available=24 * 2**30)
    assert cholesky_fits(90_000, 3, available=24 * 2**30)


def test_unknown_solver_is_a_solver_error():
    with pytest.raises(SolverError, match="unknown solver 'gmres'"):
        make_solver("gmres")


def test_unsymmetric_requests_fail_with_a_solver_error():
    for name in ("amg", "reuse"):
        with pytest.raises(SolverError, match="symmetric"):
            make_solver(name, symmetric=False)


def test_reuse_without_cholmod_says_what_to_install(monkeypatch):
    monkeypatch.setattr(solvers, "CholmodSolver", None)
    with pytest.raises(SolverError, match="scikit-sparse is not installed"):
        make_solver("reuse")


def test_pcg_converges_starts_from_a_good_guess_and_gives_up_early_when_hopeless():
    from femopt.solvers.iterative import pcg

    mesh, free, assembler, scales = cantilever()
    K = full(assembler.matrix(scales))
    b = np.random.default_rng(6).standard_normal(K.shape[0])
    exact = spla.splu(K).solve(b)
    lu = spla.splu(full(assembler.matrix(scales * 1.1)))          # a nearby matrix's factor
    x, count, converged = pcg(K.dot, lu.solve, b, np.zeros_like(b), 1e-10, 50)
    assert converged and 0 < count <= 50
    np.testing.assert_allclose(x, exact, rtol=1e-6, atol=1e-9 * np.abs(exact).max())
    x, count, converged = pcg(K.dot, lu.solve, b, exact, 1e-10, 50)  # already solved
    assert converged and count == 0
    x, count, converged = pcg(K.dot, lambda r: r, b, np.zeros_like(b), 1e-10, 20)  # no preconditioner
    assert not converged and count < 20                          # stopped before the cap
