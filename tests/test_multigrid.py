"""Geometric multigrid (solver: mg): the hierarchy's transfers and Galerkin operators against
dense references, solves against CHOLMOD, bounded CG iterations as the grid is refined,
the top3d cantilever, check-grad and bad options."""

import numpy as np
import pytest
import yaml

import femopt
from femopt.fem.assembly import Assembler
from femopt.fem.elasticity import stiffness_matrices
from femopt.errors import ConfigError, SolverError
from femopt.mesh import StructuredMesh
from femopt.solvers import make_solver, memory
from femopt.solvers.mg_hierarchy import auto_levels, gather, prolong, restrict
from femopt.solvers.multigrid import MGSolver
from femopt.solvers.superlu import SuperLUSolver
from femopt.fem.dofs import DofMap

from helpers import CONFIGS, mbb_data, write_yaml as write
from test_cli import invoke


def clamped(grid, springs=False, seed=0, contrast=1e-9):
    """(mesh, K0, free, E, K_lower) of a box clamped on its x = 0 face, random SIMP-like
    scales E in [contrast, 1]; with springs, grounded springs on a few free DOFs."""
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    dofmap = DofMap(mesh, mesh.dim)
    ke = stiffness_matrices(mesh, 0.3)
    nodes = np.flatnonzero(mesh.node_coords[:, 0] == 0)
    fixed = (mesh.dim * nodes[:, None] + np.arange(mesh.dim)).ravel()
    free = np.setdiff1d(np.arange(dofmap.n_dofs), fixed)
    rng = np.random.default_rng(seed)
    E = contrast + (1 - contrast) * rng.uniform(0, 1, mesh.n_elements) ** 3
    assembler = Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs)
    K = assembler.matrix(E)
    if springs:
        K.data[K.indptr[rng.choice(len(free), 5, replace=False)]] += 0.7
    return mesh, ke, free, E, K


def mg_for(grid, **options):
    mesh, ke, free, E, K = clamped(grid, springs=options.pop("springs", False))
    solver = MGSolver(grid, ke, free, **options)
    solver.analyze(K)
    solver.factorize(K, element_scales=E)
    return solver, K, free


def dense(K_lower):
    K = K_lower.toarray()
    return K + np.tril(K, -1).T


def assembled(level):
    """The level's operator from its element matrices, dense (all DOFs)."""
    numbers = np.arange(level.n_dofs, dtype=float).reshape(level.node_shape)
    dofs = gather(numbers).astype(int)
    out = np.zeros((level.n_dofs, level.n_dofs))
    np.add.at(out, (dofs[:, :, None], dofs[:, None, :]), level.K)
    return out


@pytest.mark.parametrize("grid", [(6, 4), (7, 5), (4, 2, 2), (5, 3, 3)])
def test_coarse_operators_are_the_galerkin_operators_of_the_reduced_stiffness(grid):
    """A_c = Z_c Pᵀ Z_f A Z_f P Z_c on every level, odd axes included, with P the
    interpolation that prolong applies (and restrict its transpose)."""
    solver, K, free = mg_for(grid, levels=3, rtol=1e-10)  # a double-precision V-cycle
    fine = solver.levels[0]
    A = np.zeros((fine.n_dofs, fine.n_dofs))
    A[np.ix_(free, free)] = dense(K)
    for finer, coarse in zip(solver.levels, solver.levels[1:]):
        P = np.stack([prolong(e.reshape(coarse.node_shape), finer.shape).ravel()
                      for e in np.eye(coarse.n_dofs)], axis=1)
        R = np.stack([restrict(e.reshape(finer.node_shape), finer.shape).ravel()
                      for e in np.eye(finer.n_dofs)], axis=1)
        np.testing.assert_array_equal(R, P.T)
        P = finer.free.ravel()[:, None] * P * coarse.free.ravel()[None, :]
        A = P.T @ A @ P
        np.testing.assert_allclose(assembled(coarse), A, atol=1e-12 * np.abs(A).max())
        # SPD on the free coarse DOFs
        on = coarse.free.ravel() > 0
        assert np.linalg.eigvalsh(A[np.ix_(on, on)])[0] > 0


@pytest.mark.parametrize("grid, options", [
    ((40, 20), {}), ((33, 17), {"smoother": "chebyshev"}), ((16, 8, 8), {}),
    ((15, 7, 5), {"smoother": "chebyshev", "levels": 3}), ((12, 6, 6), {"operator": "assembled"}),
    ((24, 10), {"springs": True}), ((8, 4, 4), {"springs": True, "levels": 2})])
def test_mg_solves_agree_with_the_direct_solver(grid, options):
    options.setdefault("levels", 3)
    solver, K, free = mg_for(grid, rtol=1e-11, **options)
    direct = SuperLUSolver()
    direct.factorize(K)
    B = np.random.default_rng(1).standard_normal((len(free), 2))
    X = solver.solve(B)
    expected = direct.solve(B)
    assert np.linalg.norm(X - expected) <= 1e-8 * np.linalg.norm(expected)
    assert all(0 < count < 100 for count in solver.last_iterations)
    np.testing.assert_allclose(solver.solve(B), X, rtol=1e-12, atol=1e-12 * np.abs(X).max())
    assert solver.last_iterations == [0, 0]  # warm start: the previous solution is the answer


def test_a_single_precision_v_cycle_preconditions_a_double_precision_cg():
    """rtol >= 1e-8: the V-cycle runs in float32 (half the bytes), CG stays in float64."""
    solver, K, free = mg_for((16, 8, 8), levels=3, rtol=1e-8)
    assert solver.cycle_dtype == np.float32 and solver.levels[1].K.dtype == np.float32
    direct = SuperLUSolver()
    direct.factorize(K)
    b = np.random.default_rng(5).standard_normal(len(free))
    x = solver.solve(b)
    assert x.dtype == np.float64 and solver.last_iterations[0] < 60
    expected = direct.solve(b)
    assert np.linalg.norm(x - expected) <= 1e-5 * np.linalg.norm(expected)
    assert MGSolver((4, 2, 2), np.eye(24), np.arange(10), rtol=1e-9).cycle_dtype == np.float64


@pytest.mark.parametrize("smoother", ["jacobi", "chebyshev"])
def test_the_v_cycle_is_a_symmetric_positive_definite_preconditioner(smoother):
    solver, K, free = mg_for((9, 5, 4), levels=3, smoother=smoother, rtol=1e-10)
    n = solver.levels[0].n_dofs
    rng = np.random.default_rng(2)
    M = np.zeros((n, len(free)))
    for i in range(len(free)):
        e = np.zeros(n)
        e[free[i]] = 1.0
        M[:, i] = solver.precondition(e)
    M = M[free]
    np.testing.assert_allclose(M, M.T, atol=1e-10 * np.abs(M).max())
    assert np.linalg.eigvalsh(M)[0] > 0
    assert rng is not None


def scalar_laplacian():
    """(4, 4) bilinear element matrix of −Δ on a unit square: one DOF per node."""
    return np.array([[4, -1, -2, -1], [-1, 4, -1, -2], [-2, -1, 4, -1], [-1, -2, -1, 4]]) / 6.0


def test_one_component_per_node_for_scalar_fields():
    """components = 1 (heat conduction): the same hierarchy on a scalar field."""
    grid = (20, 11)
    mesh = StructuredMesh(grid, (20.0, 11.0))
    dofs = mesh.element_nodes  # one DOF per node
    free = np.flatnonzero(mesh.node_coords[:, 0] > 0)
    E = np.random.default_rng(3).uniform(0.01, 1, mesh.n_elements)
    K = Assembler(dofs, scalar_laplacian(), free, mesh.n_nodes).matrix(E)
    solver = MGSolver(grid, scalar_laplacian(), free, components=1, levels=3, rtol=1e-11)
    solver.analyze(K)
    solver.factorize(K, element_scales=E)
    b = np.random.default_rng(4).standard_normal(len(free))
    direct = SuperLUSolver()
    direct.factorize(K)
    np.testing.assert_allclose(solver.solve(b), direct.solve(b), rtol=1e-8, atol=1e-8)


def layered(mesh):
    """Element scales of a fixed pattern in the box's unit coordinates (the same contrast,
    10⁻³ to 1, at every resolution): stiff and soft diagonal layers, which no coarse grid
    resolves (with E = 1 everywhere CG needs 11–17 iterations to 1e-8)."""
    x = mesh.element_centers / np.asarray(mesh.size)
    wave = np.sin(2 * np.pi * (2 * x[:, 0] + x[:, 1])) * np.cos(np.pi * x[:, -1])
    return np.where(wave > 0, 1.0, 1e-3)


def cg_iterations(grid, levels):
    mesh = StructuredMesh(grid, (2.0, 1.0) if len(grid) == 2 else (2.0, 1.0, 1.0))
    dofmap = DofMap(mesh, mesh.dim)
    ke = stiffness_matrices(mesh, 0.3)
    nodes = np.flatnonzero(mesh.node_coords[:, 0] == 0)
    fixed = (mesh.dim * nodes[:, None] + np.arange(mesh.dim)).ravel()
    free = np.setdiff1d(np.arange(dofmap.n_dofs), fixed)
    E = layered(mesh)
    K = Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs).matrix(E)
    solver = MGSolver(grid, ke, free, levels=levels, rtol=1e-8)
    solver.analyze(K)
    solver.factorize(K, element_scales=E)
    f = np.zeros(dofmap.n_dofs)
    tip = np.flatnonzero(np.isclose(mesh.node_coords[:, 0], 2.0))
    f[mesh.dim * tip + 1] = -1.0 / len(tip)
    solver.solve(f[free])
    return solver.last_iterations[0]


@pytest.mark.slow
def test_cg_iterations_stay_bounded_as_the_3d_grid_is_refined():
    """16×8×8 → 64×32×32 (the coarsest grid 4×2×2 each time): the iteration count does not
    grow with the grid, the signature of a working multigrid."""
    counts = [cg_iterations((16 * k, 8 * k, 8 * k), levels) for k, levels in ((1, 3), (2, 4), (4, 5))]
    # Measured 57, 65, 74: a slow drift (the layers' coefficient jumps cut the coarse
    # elements), where CG with Jacobi alone would need about 2× more per refinement (κ ~ h⁻²).
    assert max(counts) <= 90 and counts[2] <= 1.5 * counts[0], counts


def test_cg_iterations_stay_bounded_as_the_2d_grid_is_refined():
    counts = [cg_iterations((32 * k, 16 * k), levels) for k, levels in ((1, 3), (2, 4), (4, 5), (8, 6))]
    assert max(counts) <= 90 and counts[-1] <= 1.5 * counts[0], counts  # measured 62, 66, 74, 76


def test_auto_levels_coarsen_to_a_small_direct_problem():
    assert auto_levels((100, 100, 100), 3, 10000) == 4     # 13×13×13: 8,232 DOFs
    assert auto_levels((8, 30, 10), 3, 10000) == 1         # small: CHOLMOD alone
    assert auto_levels((3, 1, 1), 3, 1) == 3               # down to one element per axis


# ---------------------------------------------------------------- through the optimizer


def test_cantilever3d_with_mg_reproduces_top3d():
    """top3d(30, 10, 2, 0.5, 3, 1.2) with solver: mg (2 levels: 30×10×2 → 15×5×1)."""
    config = femopt.load_config(CONFIGS / "cantilever3d.yaml")
    data = yaml.safe_load((CONFIGS / "cantilever3d.yaml").read_text())
    data["solver"] = {"type": "mg", "levels": 2}
    result = femopt.run(femopt.load_config(data))
    assert config.solver.type == "auto" and result.solver == "mg"
    assert result.converged and abs(result.iterations - 119) <= 1
    assert result.objective == pytest.approx(964.077, rel=1e-4)


def test_check_grad_passes_with_mg_in_3d(tmp_path):
    data = {"mesh": {"grid": [12, 4, 4]},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 12, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
            "springs": [{"at": {"x": 12, "y": 4}, "component": "y", "stiffness": 0.1}],
            "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5}},
            "solver": {"type": "mg", "levels": 3, "rtol": 1e-6, "smoother": "chebyshev"}}
    result = invoke("check-grad", write(tmp_path, data), "--samples", "2")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


def test_mg_follows_cholmod_on_a_2d_mbb_beam():
    data = mbb_data(60, 20, filter_type="density", max_iterations=30)
    direct = femopt.run(femopt.load_config(data))
    data["solver"] = {"type": "mg", "levels": 3, "rtol": 1e-9}
    mg = femopt.run(femopt.load_config(data))
    assert mg.solver == "mg" and mg.objective == pytest.approx(direct.objective, rel=1e-7)


@pytest.mark.parametrize("operator", ["matrix-free", "assembled"])
def test_mg_with_springs_follows_cholmod_and_assembles_k_only_when_it_needs_it(operator):
    """Matrix-free, the Evaluator builds no pattern or scatter; the springs reach mg as a
    diagonal instead of through K's stored diagonal, with the same solution."""
    data = mbb_data(24, 8, filter_type="density", max_iterations=8)
    data["springs"] = [{"at": {"x": 24, "y": 8}, "component": "x", "stiffness": 0.25}]
    direct = femopt.run(femopt.load_config(data))
    data["solver"] = {"type": "mg", "levels": 2, "rtol": 1e-10, "operator": operator}
    model = femopt.prepare(data)
    evaluator = model.evaluator()
    assert isinstance(evaluator.assembler, Assembler) == (operator == "assembled")
    assert (evaluator.stiffness(np.ones(evaluator.problem.mesh.n_elements)) is None) == (operator == "matrix-free")
    mg = femopt.run(femopt.load_config(data))
    assert mg.objective == pytest.approx(direct.objective, rel=1e-8)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("solver, message", [
    ({"type": "mg", "smoother": "gauss"}, "solver.smoother: must be one of jacobi, chebyshev"),
    ({"type": "mg", "levels": "many"}, "solver.levels: must be auto or an integer"),
    ({"type": "mg", "levels": 0}, "solver.levels: must be >= 1"),
    ({"type": "mg", "operator": "dense"}, "solver.operator: must be one of matrix-free, assembled"),
    ({"type": "mg", "max_cg_iterations": 3}, "mg takes no option 'max_cg_iterations'"),
])
def test_bad_mg_options_are_one_line_errors(tmp_path, solver, message):
    data = mbb_data(12, 4)
    data["solver"] = solver
    with pytest.raises(ConfigError, match=message) as info:
        femopt.load_config(data)
    assert "\n" not in str(info.value)
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_mg_needs_a_structured_grid():
    with pytest.raises(SolverError, match="solver: mg needs a structured grid"):
        make_solver("mg", node_coords=np.zeros((4, 2)), free_dofs=np.arange(8))
    with pytest.raises(SolverError, match="element scales"):
        solver, K, _ = mg_for((6, 4), levels=2)
        solver.factorize(K)


# ---------------------------------------------------------------- auto and memory


def test_auto_takes_mg_where_the_cost_model_says_it_is_faster():
    """(test_memory.py: where the factor does not fit.) Small grids stay with CHOLMOD."""
    from femopt.solvers import cost
    assert not cost.mg_is_faster(3, 3069) and not cost.mg_is_faster(2, 40_000)
    assert cost.mg_is_faster(3, 3e6) and cost.mg_is_faster(2, 1e8)
    big = memory.choose_solver(3, 64 * 32 * 32, 65 * 33 * 33, 8, available=1e12, structured=True)
    assert big == ("mg" if cost.mg_is_faster(3, 3 * 65 * 33 * 33) else "cholmod")
    assert memory.choose_solver(3, 64 * 32 * 32, 65 * 33 * 33, 8, available=1e12) == "cholmod"


def crossover(dim: int) -> float:
    """The free-DOF count above which the cost model estimates mg faster than CHOLMOD
    (bisection on its two fits)."""
    from femopt.solvers import cost
    low, high = 1.0, 1e12
    for _ in range(200):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if not cost.mg_is_faster(dim, middle) else (low, middle)
    return high


def test_the_cost_model_crossovers_are_those_docs_solvers_md_gives():
    """docs/solvers.md: about 140,000 free DOFs in 2D (measured between 300×100 and 600×200
    MBB beams: 61,000 and 241,000) and about 11,000 in 3D."""
    assert 61_000 < crossover(2) < 241_000 and crossover(2) == pytest.approx(140_000, rel=0.01)
    assert crossover(3) == pytest.approx(11_000, rel=0.02)


def test_mg_memory_is_below_amg_and_cholmod_in_3d():
    for grid in [(64, 32, 32), (100, 100, 100)]:
        mg = memory.estimate_for_grid(grid, "mg").total_bytes
        assert mg < memory.estimate_for_grid(grid, "amg").total_bytes
        assert mg < memory.estimate_for_grid(grid, "cholmod").total_bytes
    assert memory.estimate_for_grid((100, 100, 100), "mg").total_bytes < 10e9


def test_mg_solves_heat_conduction_one_dof_per_node():
    """components = 1 through the whole run: the heat plate with mg follows CHOLMOD."""
    data = yaml.safe_load((CONFIGS / "heat_plate.yaml").read_text())
    data["optimizer"] = {**data.get("optimizer", {}), "max_iterations": 5}
    direct = femopt.run(femopt.load_config(data))
    data["solver"] = {"type": "mg", "levels": 3, "rtol": 1e-9}
    mg = femopt.run(femopt.load_config(data))
    assert mg.solver == "mg" and mg.objective == pytest.approx(direct.objective, rel=1e-8)


def test_a_resumed_mg_run_reaches_the_uninterrupted_result(tmp_path):
    """The warm start (STATE) goes into the checkpoint: the resumed run's CG starts where
    the uninterrupted one's did."""
    import signal

    from femopt.output.checkpoint import Interrupted
    from test_checkpoint import interrupt_at, small_problem

    data = small_problem("oc")
    data["solver"] = {"type": "mg", "levels": 2}
    data["optimizer"]["max_iterations"] = 20
    whole = femopt.run(data)
    with pytest.raises(Interrupted) as stopped:
        femopt.run(data, tmp_path, callback=interrupt_at(9))
    assert stopped.value.signal == signal.SIGINT
    resumed = femopt.run(data, tmp_path, resume=True)
    assert resumed.solver == "mg" and resumed.iterations == whole.iterations
    assert resumed.objective == pytest.approx(whole.objective, rel=1e-9)
    np.testing.assert_allclose(resumed.x, whole.x, rtol=0, atol=1e-9)
