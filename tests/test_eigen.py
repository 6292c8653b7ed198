"""Eigenvalue solvers (femopt.solvers.eigen) and the frequency and buckling responses
(femopt.responses.eigen, femopt.loop.eigen): dense references, finite differences,
and the beam and column of Euler–Bernoulli theory."""

import json

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

import femopt
from femopt.build import build
from femopt.config import load_config, parse_config, with_overrides
from femopt.fem.assembly import Assembler
from femopt.fem.dofs import DofMap
from femopt.fem.eigen import EigenOperators
from femopt.fem.elasticity import plane_stress_matrix, stiffness_matrices
from femopt.loop.gradcheck import check_gradients
from femopt.mesh import StructuredMesh
from femopt.responses.eigen import mass_interpolation, mass_interpolation_vjp
from femopt.solvers import eigen, make_solver


def cantilever(grid=(24, 6), size=(4.0, 1.0)):
    """A clamped-free strip with random densities: K (lower), M (lower), G (lower) of a tip
    compression, and the CHOLMOD solver holding K's factor."""
    mesh = StructuredMesh(grid, size)
    dofmap = DofMap(mesh, 2)
    n = dofmap.n_dofs
    free = np.setdiff1d(np.arange(n), dofmap.dofs(mesh.select_nodes([("x", 0.0, 0.0)])))
    K0 = stiffness_matrices(mesh, 0.3)
    rho = np.random.default_rng(0).uniform(0.3, 1.0, mesh.n_elements)
    E = 1e-9 + rho**3
    K = Assembler(dofmap.element_dofs, K0, free, n).matrix(E)
    ops = EigenOperators(mesh, dofmap.element_dofs, free, n, plane_stress_matrix(1.0, 0.3))
    solver = make_solver("cholmod")
    solver.factorize(K)
    f = np.zeros(n)
    tip = mesh.select_nodes([("x", size[0], size[0])])
    f[dofmap.dofs(tip, 0)] = -1.0 / len(tip)
    u = np.zeros(n)
    u[free] = solver.solve(f[free])
    G = ops.geometric_matrix(rho**3, ops.solid_stresses(u))
    return mesh, free, K0, E, K, ops.mass_matrix(rho), G, solver


def dense(lower):
    A = lower.toarray()
    return A + A.T - np.diag(np.diag(A))


def test_vibration_and_buckling_modes_match_dense_eigensolvers():
    mesh, free, K0, E, K, M, G, solver = cantilever()
    Kd, Md, Gd = dense(K), dense(M), dense(G)
    omega2, phi = eigen.vibration_modes(solver, eigen.symmetric_operator(K), eigen.symmetric_operator(M), 4)
    np.testing.assert_allclose(omega2, scipy.linalg.eigh(Kd, Md, eigvals_only=True)[:4], rtol=1e-9)
    np.testing.assert_allclose(phi.T @ Md @ phi, np.eye(4), atol=1e-10)
    theta, psi = eigen.buckling_modes(solver, eigen.symmetric_operator(K), eigen.symmetric_operator(G), 3)
    np.testing.assert_allclose(theta, scipy.linalg.eigh(-Gd, Kd, eigvals_only=True)[::-1][:3], rtol=1e-9)
    np.testing.assert_allclose(psi.T @ Kd @ psi, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(Kd @ psi + (Gd @ psi) / theta, 0.0, atol=1e-8 * np.abs(Kd @ psi).max())


def test_lobpcg_with_the_multigrid_v_cycle_finds_the_same_modes():
    """The factor-free path: LOBPCG preconditioned by mg's V-cycle, cold and warm started,
    for vibration (K, M) and buckling (−G, K)."""
    mesh, free, K0, E, K, M, G, solver = cantilever()
    n = 2 * mesh.n_nodes
    mg = make_solver("mg", grid=mesh.grid, element_matrix=K0, free_dofs=free, rtol=1e-10)
    mg.analyze(None)
    mg.factorize(None, element_scales=E)

    def precondition(r):
        full = np.zeros(n)
        full[free] = r
        return mg.precondition(full)[free]

    Kop, Mop, Gop = (eigen.symmetric_operator(A) for A in (K, M, G))
    reference = eigen.vibration_modes(solver, Kop, Mop, 4)[0]
    values, block = eigen.lobpcg_modes(Kop, Mop, precondition, 4, None, largest=False, tol=1e-9)
    np.testing.assert_allclose(values, reference, rtol=1e-9)
    warm, _ = eigen.lobpcg_modes(Kop, Mop, precondition, 4, block, largest=False, tol=1e-9)
    np.testing.assert_allclose(warm, reference, rtol=1e-9)
    minus_G = -Gop
    theta, _ = eigen.lobpcg_modes(minus_G, Kop, precondition, 3, None, largest=True, tol=1e-9)
    np.testing.assert_allclose(theta, eigen.buckling_modes(solver, Kop, Gop, 3)[0], rtol=1e-8)


def test_mass_interpolation_is_continuous_and_its_vjp_is_its_slope():
    assert mass_interpolation(np.array([0.1]))[0] == pytest.approx(0.1)
    assert mass_interpolation(np.array([0.1 + 1e-12]))[0] == pytest.approx(0.1)
    rho = np.array([0.0, 0.03, 0.0999, 0.2, 0.9])
    h = 1e-7
    slope = (mass_interpolation(rho + h) - mass_interpolation(rho - h)) / (2 * h)
    np.testing.assert_allclose(mass_interpolation_vjp(rho, np.ones(5)), slope, rtol=1e-6, atol=1e-12)
    assert mass_interpolation(np.array([0.05]))[0] == pytest.approx(1e5 * 0.05**6)


def beam_data(objective, constraints, grid=(16, 4), extra=None, **design):
    """A 4 × 1 clamped strip with an oblique tip load, as YAML data."""
    data = {"mesh": {"grid": list(grid), "size": [4.0, 1.0]},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 4.0, "y": [0.0, 1.0]}, "force": [-1.0, -0.2]}],
            "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 0.4}, **design},
            "objective": objective, "constraints": constraints, "optimizer": {"type": "mma"}}
    data.update(extra or {})
    return data


def beam(*args, **kwargs):
    return parse_config(beam_data(*args, **kwargs))


def worst_error(config, samples=3):
    model = build(config, rtol=1e-12)
    evaluate = model.evaluator()
    results = check_gradients(evaluate, evaluate.n_variables, evaluate.labels, samples, 1e-3, seed=1)
    return max(r.scaled_error for r in results), evaluate


@pytest.mark.parametrize("objective, constraints, extra", [
    ({"type": "frequency", "modes": 3}, [{"type": "volume", "limit": 0.5}], None),
    ({"type": "frequency", "modes": 2}, [{"type": "volume", "limit": 0.5}],
     {"point_masses": [{"at": {"x": 4.0, "y": 0.5}, "mass": 0.3}], "material": {"density": 2.0}}),
    ("compliance", [{"type": "volume", "limit": 0.5}, {"type": "frequency", "min_hz": 0.02, "modes": 2}], None),
    ({"type": "buckling", "modes": 3}, [{"type": "volume", "limit": 0.5}], None),
    ("compliance", [{"type": "volume", "limit": 0.5}, {"type": "buckling", "min_factor": 0.05, "modes": 2}],
     None),
], ids=["frequency", "point-masses", "frequency-constraint", "buckling", "buckling-constraint"])
def test_eigenvalue_gradients_match_finite_differences(objective, constraints, extra):
    error, evaluate = worst_error(beam(objective, constraints, extra=extra))
    assert error < 1e-5
    assert len(evaluate.labels) == 1 + len(evaluate(np.full(evaluate.n_variables, 0.5)).constraints)


def test_eigenvalue_gradients_with_projection_ramp_and_passive_elements():
    config = beam({"type": "buckling", "modes": 2}, [{"type": "volume", "limit": 0.5},
                                                      {"type": "frequency", "min_hz": 0.01, "modes": 2}],
                  interpolation="ramp", penalty=4.0, projection={"beta": 2.0},
                  passive=[{"type": "solid", "box": {"x": [3.5, 4.0]}}])
    assert worst_error(config, samples=2)[0] < 1e-5


@pytest.mark.parametrize("design", [{"symmetry": ["y"]}, {"overhang": {"build_direction": "+x"}}],
                         ids=["symmetry", "overhang"])
def test_eigenvalue_gradients_through_linking_and_the_overhang_filter(design):
    """The eigen evaluator's inner Evaluator takes the model's linking and AM filter, and its
    sensitivities go back through them: a mirror-symmetric design (about y = 0.5) has
    symmetric densities, a printed one carries its blueprint, and both match differences."""
    config = beam({"type": "frequency", "modes": 2},
                  [{"type": "volume", "limit": 0.5}, {"type": "buckling", "min_factor": 0.01, "modes": 2}],
                  **design)
    error, evaluate = worst_error(config, samples=2)
    assert error < 1e-5
    rng = np.random.default_rng(2)
    ev = evaluate(np.append(rng.uniform(0.2, 0.9, evaluate.n_variables - 1), 0.5))
    if "symmetry" in design:
        rho = ev.rho.reshape(16, 4)  # y fastest
        np.testing.assert_allclose(rho, rho[:, ::-1], rtol=1e-12)
    else:
        assert "rho_blueprint" in ev.fields and not np.allclose(ev.fields["rho_blueprint"], ev.rho)


def test_eigenvalue_gradients_on_a_mesh_file_and_in_3d(tmp_path):
    """T6 cells (stresses at the quadrature points) and an H8 grid (centre stresses, 3D)."""
    import meshio
    from mesh_helpers import general_mesh

    mesh = general_mesh("T6", (8, 2))
    path = tmp_path / "strip.vtu"
    meshio.write(path, meshio.Mesh(mesh.node_coords, [("triangle6", mesh.cells)]))
    both = [{"type": "volume", "limit": 0.5}, {"type": "frequency", "min_hz": 0.01, "modes": 2}]
    data = beam_data({"type": "buckling", "modes": 2}, both,
                     extra={"mesh": {"file": str(path)}, "loads": [{"at": {"x": 8.0}, "force": [-1.0, -0.2]}]})
    assert worst_error(parse_config(data), samples=2)[0] < 1e-5
    cube = {"mesh": {"grid": [6, 2, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 6}, "force": [-1.0, -0.1, 0.0]}],
            "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 1.2}},
            "objective": {"type": "frequency", "modes": 2},
            "constraints": [{"type": "volume", "limit": 0.5}, {"type": "buckling", "min_factor": 0.01, "modes": 2}],
            "optimizer": {"type": "mma"}}
    assert worst_error(parse_config(cube), samples=2)[0] < 1e-5


@pytest.mark.parametrize("solver", [{"type": "mg", "rtol": 1e-10}, {"type": "amg", "rtol": 1e-10}, "superlu",
                                    {"type": "reuse", "rtol": 1e-10}], ids=["mg", "amg", "superlu", "reuse"])
def test_every_solver_gives_the_frequencies_and_gradients_of_cholmod(solver):
    """mg (matrix-free, no factor): LOBPCG with the V-cycle and element-wise M, G; amg and
    reuse: LOBPCG preconditioned by their solve; superlu: ARPACK on its factor."""
    data = beam_data({"type": "frequency", "modes": 2}, [
        {"type": "volume", "limit": 0.5}, {"type": "buckling", "min_factor": 0.05, "modes": 2}], grid=(32, 8))
    direct = build(parse_config(data)).evaluator()
    other = build(parse_config({**data, "solver": solver})).evaluator()
    x = np.random.default_rng(2).uniform(0.3, 0.9, direct.n_variables)
    a, b = direct(x, smooth=False), other(x, smooth=False)
    assert other.solver.name == (solver if isinstance(solver, str) else solver["type"])
    np.testing.assert_allclose(b.fields["eigenfrequencies_hz"], a.fields["eigenfrequencies_hz"], rtol=1e-8)
    np.testing.assert_allclose(b.fields["buckling_load_factors"], a.fields["buckling_load_factors"], rtol=1e-7)
    np.testing.assert_allclose(b.constraint_gradients, a.constraint_gradients,
                               atol=1e-6 * np.abs(a.constraint_gradients).max())


# -------------------------------------------------------------------- Euler–Bernoulli checks

SOLID = {"volume_fraction": 1.0, "filter": {"type": "density", "radius": 0.015}}


def test_solid_cantilever_first_frequency_is_euler_bernoulli_within_one_percent():
    """200 × 10 Q4, length 2, height 0.1, E = 1, ν = 0.3, density 1 (docs/physics.md's case):
    f₁ = (1.8751)² √(EI / (ρA L⁴)) / 2π."""
    config = parse_config({"mesh": {"grid": [200, 10], "size": [2.0, 0.1]},
                           "material": {"E": 1.0, "nu": 0.3, "density": 1.0},
                           "supports": [{"at": {"x": 0}, "fix": "all"}], "design": SOLID,
                           "objective": {"type": "frequency", "modes": 2},
                           "constraints": [{"type": "volume", "limit": 1.0}], "optimizer": {"type": "mma"}})
    result = femopt.analyze(config)
    E, h, L = 1.0, 0.1, 2.0
    exact = 1.8751040687**2 * np.sqrt(E * h**3 / 12 / (h * L**4)) / (2 * np.pi)
    assert result.fields["eigenfrequencies_hz"][0] == pytest.approx(exact, rel=0.01)
    assert result.status == "analyzed" and result.iterations == 0


def test_solid_column_first_buckling_factor_is_euler_within_three_percent():
    """10 × 200 Q4, width 0.1, length 2, clamped at the bottom, a unit axial load on the top:
    λ₁ = π² EI / (4 L²)."""
    config = parse_config({"mesh": {"grid": [10, 200], "size": [0.1, 2.0]},
                           "supports": [{"at": {"y": 0}, "fix": "all"}],
                           "loads": [{"at": {"y": 2.0}, "force": [0.0, -1.0]}], "design": SOLID,
                           "objective": {"type": "buckling", "modes": 2},
                           "constraints": [{"type": "volume", "limit": 1.0}], "optimizer": {"type": "mma"}})
    result = femopt.analyze(config)
    exact = np.pi**2 * 0.1**3 / 12 / (4 * 2.0**2)
    assert result.fields["buckling_load_factors"][0] == pytest.approx(exact, rel=0.03)


@pytest.mark.slow
def test_clamped_clamped_beam_frequency_design_raises_the_fundamental_frequency(tmp_path):
    """configs/frequency_beam.yaml (8 × 1, 160 × 20, volume 0.5, density filter r = 0.1, MMA),
    cut to 20 iterations: the fundamental frequency rises ≥ 1.2× over the uniform design's, and
    summary.json's value is that of an independent eigen-solve of rho: scipy's eigsh on K and M
    assembled here with COO from the 88-line code's KE and the bilinear rectangle's closed-form
    consistent mass (ab/36 · [4 2 1 2; …] ⊗ I), with the interpolations of docs/physics.md."""
    config = with_overrides(load_config("configs/frequency_beam.yaml"), max_iterations=20)
    start = femopt.analyze(config).fields["eigenfrequencies_hz"][0]
    femopt.run(config, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    final = summary["eigenfrequencies_hz"][0]
    assert final >= 1.2 * start

    rho = np.load(tmp_path / "out" / "result.npz")["rho"]
    mesh = StructuredMesh((160, 20), (8.0, 1.0))
    dofs = DofMap(mesh, 2).element_dofs
    n = 2 * mesh.n_nodes
    a, b = mesh.element_size
    corner_mass = a * b / 36 * np.array([[4, 2, 1, 2], [2, 4, 2, 1], [1, 2, 4, 2], [2, 1, 2, 4]])
    m = np.where(rho > 0.1, rho, 1e5 * rho**6)
    E = 1e-9 + rho**3 * (1 - 1e-9)
    rows, cols = np.repeat(dofs, 8, axis=1).ravel(), np.tile(dofs, 8).ravel()
    K = sp.csc_matrix((np.outer(E, stiffness_matrices(mesh, 0.3).ravel()).ravel(), (rows, cols)), shape=(n, n))
    M = sp.csc_matrix((np.outer(m, np.kron(corner_mass, np.eye(2)).ravel()).ravel(),
                       (rows, cols)), shape=(n, n))
    ends = mesh.select_nodes([("x", 0.0, 0.0)]).tolist() + mesh.select_nodes([("x", 8.0, 8.0)]).tolist()
    free = np.setdiff1d(np.arange(n), DofMap(mesh, 2).dofs(np.array(ends)))
    omega2 = eigsh(K[free][:, free], 1, M=M[free][:, free], sigma=0.0, which="LM")[0][0]
    assert final == pytest.approx(np.sqrt(omega2) / (2 * np.pi), rel=1e-8)
