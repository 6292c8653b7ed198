"""The multigrid's fused numba kernels against its numpy path: every level's product, in both
precisions, 2D and 3D, vector and scalar fields, springs; whole solves; the thread limits."""

import numpy as np
import pytest

from femopt.fem.assembly import element_energy_pullback
from femopt.fem.elasticity import stiffness_matrices
from femopt.fem.heat import conduction_matrices
from femopt.mesh import StructuredMesh
from femopt.solvers import mg_kernels
from femopt.solvers.multigrid import MGSolver
from femopt.study import case

pytest.importorskip("numba")


def grid_problem(grid, scalar=False, seed=0):
    """(element matrix, free DOFs, E, springs (n_free,), components) of a box clamped at x = 0."""
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    ke = conduction_matrices(mesh) if scalar else stiffness_matrices(mesh, 0.3)
    ke = ke[0] if ke.ndim == 3 else ke
    c = 1 if scalar else mesh.dim
    nodes = np.flatnonzero(mesh.node_coords[:, 0] == 0)
    fixed = (c * nodes[:, None] + np.arange(c)).ravel()
    free = np.setdiff1d(np.arange(c * mesh.n_nodes), fixed)
    rng = np.random.default_rng(seed)
    E = 1e-3 + rng.uniform(0, 1, mesh.n_elements) ** 3
    springs = np.zeros(len(free))
    springs[rng.choice(len(free), 4, replace=False)] = 0.7
    return ke, free, E, springs, c


def products_and_solve(monkeypatch, use_numba, grid, scalar, rtol, levels):
    """Every level's product of random vectors, and one solve, on the chosen path."""
    monkeypatch.setattr(mg_kernels, "USE_NUMBA", use_numba)
    ke, free, E, springs, c = grid_problem(grid, scalar)
    solver = MGSolver(grid, ke, free, components=c, rtol=rtol, levels=levels)
    solver.factorize(None, element_scales=E, extra_diagonal=springs)
    rng = np.random.default_rng(1)
    products = []
    for l, level in enumerate(solver.levels):
        dtypes = (np.float64, np.float32) if l == 0 else (level.K.dtype,)
        for dtype in dtypes:
            x = (rng.standard_normal(level.node_shape) * level.free).astype(dtype)
            products.append(solver._matvec(l, x).copy())
    x = solver.solve(rng.standard_normal(len(free)))
    return products, x, solver.last_iterations


@pytest.mark.parametrize("grid, scalar, rtol", [
    ((9, 6), False, 1e-6), ((9, 6), True, 1e-6), ((7, 4, 5), False, 1e-6), ((6, 5, 4), True, 1e-6),
    ((7, 4, 5), False, 1e-10)])
def test_the_fused_kernels_give_the_numpy_products_and_solves(monkeypatch, grid, scalar, rtol):
    """Q4/H8, 2 or 1 DOFs per node (3 or 1 in 3D), odd axes, springs; float32 V-cycle
    (rtol ≥ 1e-8) and float64 (rtol < 1e-8): equal to round-off, same CG iterations."""
    numpy_products, numpy_x, numpy_its = products_and_solve(monkeypatch, False, grid, scalar, rtol, 3)
    fused_products, fused_x, fused_its = products_and_solve(monkeypatch, True, grid, scalar, rtol, 3)
    for expected, got in zip(numpy_products, fused_products, strict=True):
        assert got.dtype == expected.dtype
        tolerance = 1e-12 if expected.dtype == np.float64 else 1e-5
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * np.abs(expected).max())
    assert fused_its == numpy_its
    np.testing.assert_allclose(fused_x, numpy_x, rtol=0, atol=max(rtol, 1e-12) * 10 * np.abs(numpy_x).max())


def test_large_products_run_on_all_threads_and_agree(monkeypatch):
    """Above PARALLEL_ELEMENTS the kernels split the planes among the threads: the race-free
    split gives the single-thread result exactly."""
    monkeypatch.setattr(mg_kernels, "PARALLEL_ELEMENTS", 0)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    ke, free, E, springs, c = grid_problem((8, 6, 7))
    solver = MGSolver((8, 6, 7), ke, free, rtol=1e-6, levels=2)
    solver.factorize(None, element_scales=E, extra_diagonal=springs)
    rng = np.random.default_rng(3)
    for l, level in enumerate(solver.levels):
        x = (rng.standard_normal(level.node_shape) * level.free).astype(np.float32)
        with mg_kernels.limit_threads(1):
            one = solver._matvec(l, x).copy()
        np.testing.assert_array_equal(solver._matvec(l, x), one)


def test_thread_count_follows_numba_num_threads_and_limit_threads(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert mg_kernels.threads() == 3
    with mg_kernels.limit_threads(1):
        assert mg_kernels.threads() == 1
        with mg_kernels.limit_threads(2):  # a limit only lowers
            assert mg_kernels.threads() == 1
    assert mg_kernels.threads() == 3
    assert mg_kernels._split(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert mg_kernels._split(9, 2, step=2, start=1) == [(1, 5), (5, 9)]  # odd planes 1, 3 | 5, 7
    assert mg_kernels._split(1, 4) == [(0, 1)] and mg_kernels._split(1, 4, step=2, start=1) == []


def test_study_cases_run_the_kernels_on_one_thread(monkeypatch, tmp_path):
    """N cases on N cores: a study worker's case limits numba to one thread, like BLAS."""

    seen = []

    class Result:
        status, objective, volume, iterations, wall_time = "converged", 1.0, 0.5, 1, 0.0

    def fake_run(config, outdir, **kwargs):
        seen.append(mg_kernels.threads())
        return Result()

    monkeypatch.setattr(case, "run", fake_run)
    problem = {"mesh": {"grid": [4, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
               "loads": [{"at": {"x": 4, "y": 0}, "force": [0.0, -1.0]}],
               "design": {"volume_fraction": 0.5}}
    outcome = case.run_case(problem, "case", str(tmp_path / "case"), {})
    assert outcome["status"] == "converged", outcome
    assert seen == [1]


@pytest.mark.parametrize("grid, scalar", [((9, 6), False), ((7, 4, 5), False), ((6, 5, 4), True)])
@pytest.mark.parametrize("use_numba", [False, True])
def test_mg_element_energy_is_the_gathered_pullback(monkeypatch, grid, scalar, use_numba):
    """dL/dE_e = −Σ_cases λ_eᵀ K0 u_e from nodal arrays (kernel or window gathers) equals the
    gathered pullback with femopt's element DOFs, two load cases."""
    monkeypatch.setattr(mg_kernels, "USE_NUMBA", use_numba)
    monkeypatch.setattr(mg_kernels, "PARALLEL_ELEMENTS", 0)  # split among threads too
    ke, free, E, springs, c = grid_problem(grid, scalar)
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    solver = MGSolver(grid, ke, free, components=c, levels=2)
    rng = np.random.default_rng(4)
    n_dofs = c * mesh.n_nodes
    lam, u = rng.standard_normal((n_dofs, 2)), rng.standard_normal((n_dofs, 2))
    element_dofs = (c * mesh.element_nodes[:, :, None] + np.arange(c)).reshape(mesh.n_elements, -1)
    expected = element_energy_pullback(element_dofs, ke, lam, u)
    np.testing.assert_allclose(solver.element_energy(lam, u), expected, rtol=1e-12,
                               atol=1e-12 * np.abs(expected).max())
