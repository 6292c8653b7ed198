"""The stress response (femopt/responses/stress.py) and its outputs (femopt/output/stress.py): the
centre stress operator, the p-norm's value and gradient (finite differences, at fixed
normalization, on every cell type, several load cases, passive and excluded elements),
the adaptive normalization, bad input, the result files, and a coarse L-bracket run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import femopt
from femopt.cli import main
from femopt.design import FILTERS, SIMP
from femopt.loop.gradcheck import check_gradients
from femopt.fem.dofs import DofMap
from femopt.fem.elasticity import stiffness_matrices
from femopt.mesh import StructuredMesh
from femopt.responses import State, Volume
from femopt.fem.problem import Problem
from femopt.solvers import make_solver
from femopt.responses.stress import CentreStress, Stress, centre_von_mises, included_elements, von_mises_form
from femopt.loop.evaluator import Constraint, Evaluator
from helpers import CONFIGS, central_difference, write_yaml
from mesh_helpers import distorted, quadratic


def lbracket(n=20, limit=0.6, **design):
    """The L-bracket of configs/lbracket_stress.yaml on an n × n grid, as YAML data."""
    return {
        "problem": "lbracket-stress",
        "mesh": {"grid": [n, n], "size": [100.0, 100.0]},
        "supports": [{"at": {"x": [0, 40], "y": 100}, "fix": "all"}],
        "loads": [{"at": {"x": 100, "y": [30, 40]}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 12.0},
                   "passive": [{"type": "void", "box": {"x": [40, 100], "y": [40, 100]}}], **design},
        "objective": "volume",
        "constraints": [{"type": "stress", "limit": limit, "exclude": {"x": 100, "y": [30, 40]}}],
        "optimizer": {"type": "mma", "move": 0.1, "max_iterations": 300, "tolerance": 0.002},
    }


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------- the centre stress


def test_von_mises_form_matches_the_invariant():
    """σᵀVσ against 3/2 s:s (s the deviator) for a random 3D stress, and the plane-stress
    form against the same with σ_z = τ_yz = τ_zx = 0."""
    s = np.random.default_rng(1).standard_normal(6)
    tensor = np.array([[s[0], s[3], s[5]], [s[3], s[1], s[4]], [s[5], s[4], s[2]]])
    deviator = tensor - np.trace(tensor) / 3 * np.eye(3)
    assert s @ von_mises_form(3) @ s == pytest.approx(1.5 * np.sum(deviator**2))
    plane = np.array([s[0], s[1], 0, s[3], 0, 0])
    assert s[[0, 1, 3]] @ von_mises_form(2) @ s[[0, 1, 3]] == pytest.approx(plane @ von_mises_form(3) @ plane)


@pytest.mark.parametrize("cell_type", [None, "T3", "T4", "H8"])
def test_stresses_vjp_is_the_transpose(cell_type):
    grid = (3, 2) if cell_type in (None, "T3") else (2, 2, 2)
    mesh = (StructuredMesh(grid, tuple(float(g) for g in grid)) if cell_type is None
            else distorted(grid, tuple(float(g) for g in grid), cell_type=None if cell_type == "H8" else cell_type))
    dofmap = DofMap(mesh, mesh.dim)
    operator = CentreStress(mesh, 2.0, 0.3, dofmap.element_dofs)
    rng = np.random.default_rng(0)
    n_dofs = mesh.dim * mesh.n_nodes
    u, s_bar = rng.standard_normal((n_dofs, 2)), rng.standard_normal((mesh.n_elements, 3 * mesh.dim - 3, 2))
    assert np.sum(operator.stresses(u) * s_bar) == pytest.approx(np.sum(u * operator.stresses_vjp(s_bar, n_dofs)))


def test_structured_grid_shares_the_general_meshes_stress():
    """The shared box matrix of a grid gives the per-element result of the same mesh."""
    grid = StructuredMesh((4, 3), (8.0, 3.0))
    general = distorted((4, 3), (8.0, 3.0), amount=0.0)
    u = np.random.default_rng(2).standard_normal(grid.dim * grid.n_nodes)
    np.testing.assert_allclose(centre_von_mises(grid, u, 1.0, 0.3), centre_von_mises(general, u, 1.0, 0.3), rtol=1e-12)


# ---------------------------------------------------------------- the response and its gradient


def _evaluator(mesh, fixed_nodes, loads, passive=None, excluded_nodes=None, p=8.0, q=0.5):
    """An Evaluator with the stress p-norm as its objective and as a constraint, density
    filter r = 1.5, SIMP p = 3. loads: {node: force vector} per load case."""
    dofmap = DofMap(mesh, mesh.dim)
    forces = np.zeros((dofmap.n_dofs, len(loads)))
    for c, case in enumerate(loads):
        for node, force in case.items():
            forces[dofmap.dofs([node]), c] += force
    problem = Problem(mesh, stiffness_matrices(mesh, 0.3), np.sort(dofmap.dofs(fixed_nodes)), forces,
                      passive=passive, nu=0.3)
    stress = Stress(CentreStress(mesh, problem.E, 0.3, dofmap.element_dofs), p, q,
                    included_elements(problem, excluded_nodes))
    return Evaluator(problem, make_solver("auto"), filter=FILTERS.create("density", mesh, radius=1.5),
                     material=SIMP(problem.E, problem.Emin, 3.0), objective=stress,
                     constraints=[Constraint(stress, 0.5, "constraints[0]"),
                                  Constraint(Volume(None if mesh.structured else mesh.element_volumes), 0.5,
                                             "constraints[1]")]), stress


def _cases(mesh):
    """A 2D or 3D cantilever: x = 0 clamped, two load cases at the far end."""
    lower, upper = mesh.bounds
    clamped = mesh.select_nodes([("x", lower[0], lower[0])])
    tip = mesh.select_nodes([("x", upper[0], upper[0])])
    down, side = np.zeros(mesh.dim), np.zeros(mesh.dim)
    down[1], side[0] = -1.0, 0.5
    return clamped, [{tip[0]: down}, {tip[-1]: side}]


@pytest.mark.parametrize("cell_type", [None, "T3", "H8", "T4", "T6", "T10"])
def test_gradient_matches_finite_differences(cell_type):
    """Objective and constraint (value c_N σ_PN, at a normalization c_N ≠ 1 set by one
    optimizer iteration) against fourth-order differences, two load cases, a passive
    element and an excluded node."""
    grid = (6, 3) if cell_type in (None, "T3", "T6") else (3, 2, 2)
    if cell_type is None:
        mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    elif cell_type in ("T6", "T10"):
        mesh = quadratic(distorted(grid, tuple(float(g) for g in grid), cell_type="T3" if cell_type == "T6" else "T4"))
    else:
        mesh = distorted(grid, tuple(float(g) for g in grid), cell_type=None if cell_type == "H8" else cell_type)
    clamped, loads = _cases(mesh)
    passive = np.full(mesh.n_elements, np.nan)
    passive[-1] = 1.0
    evaluator, stress = _evaluator(mesh, clamped, loads, passive, excluded_nodes=[list(loads[1])[0]])
    n = evaluator.n_variables
    evaluator.start_iteration()
    evaluator(np.random.default_rng(3).uniform(0.2, 0.9, n))
    assert 0 < stress.normalization < 1
    normalization = stress.normalization
    samples = check_gradients(evaluator, n, ["objective", "constraints[0]", "constraints[1]"],
                              samples=3, step=1e-3, seed=1)
    assert max(s.scaled_error for s in samples) < 1e-6
    assert stress.normalization == normalization  # finite differences leave it alone


def test_gradient_is_finite_and_exact_at_zero_density():
    """ρ^q has an infinite slope at ρ = 0, the p-norm's ρ^(qp) does not: void elements get
    a zero gradient, not NaN, and the rest still matches finite differences (one-sided
    designs at the bound are where MMA puts void elements)."""
    mesh = StructuredMesh((6, 3), (6.0, 3.0))
    clamped, loads = _cases(mesh)
    evaluator, stress = _evaluator(mesh, clamped, loads[:1])
    rho = np.random.default_rng(4).uniform(0.2, 0.9, mesh.n_elements)
    rho[:5] = 0.0
    K = evaluator.stiffness(rho)
    evaluator.solver.factorize(K)
    u = evaluator.assembler.full_vector(evaluator.solver.solve(evaluator.problem.forces[evaluator.free]),
                                        evaluator.n_dofs).reshape(-1, 1)
    value, u_bar, rho_bar = stress.evaluate(State(rho, u, evaluator.problem.forces))
    assert np.all(np.isfinite(rho_bar)) and np.all(rho_bar[:5] == 0.0)
    direction = np.zeros(mesh.n_elements)
    direction[5:] = np.random.default_rng(5).standard_normal(mesh.n_elements - 5)
    fd = central_difference(lambda r: stress.evaluate(State(r, u, None))[0], rho, direction, 1e-4)
    assert rho_bar @ direction == pytest.approx(fd, rel=1e-7)


def test_normalization_makes_the_value_the_true_maximum():
    """After an optimizer iteration's evaluation, c_N σ_PN equals max ρ^q σ_vm over the
    included elements and both load cases; a plain evaluation (a line search's) keeps c_N."""
    mesh = StructuredMesh((8, 4), (8.0, 4.0))
    clamped, loads = _cases(mesh)
    evaluator, stress = _evaluator(mesh, clamped, loads, excluded_nodes=[list(loads[0])[0]])
    x = np.random.default_rng(6).uniform(0.2, 0.9, evaluator.n_variables)
    plain = evaluator(x).objective
    evaluator.start_iteration()
    ev = evaluator(x)
    peak, element, case = stress.maximum(ev.rho, ev.u)
    assert ev.objective == pytest.approx(peak, rel=1e-12) and plain > peak  # the plain p-norm overestimates
    sigma = ev.rho[:, None] ** 0.5 * stress.operator.von_mises(ev.u)
    assert peak == pytest.approx(sigma[stress.included].max()) and stress.included[element]
    normalization = stress.normalization
    y = x * np.random.default_rng(7).uniform(0.5, 1.0, len(x))
    assert evaluator(y).objective != pytest.approx(stress.maximum(*_solved(evaluator, y))[0], rel=1e-9)
    assert stress.normalization == normalization


def _solved(evaluator, x):
    ev = evaluator(x)
    return ev.rho, ev.u


def test_included_elements_leave_out_passive_and_excluded_ones():
    mesh = StructuredMesh((4, 2), (4.0, 2.0))
    passive = np.full(8, np.nan)
    passive[0] = 0.0
    problem = Problem(mesh, stiffness_matrices(mesh, 0.3), np.arange(2), np.zeros((mesh.dim * mesh.n_nodes, 1)),
                      passive=passive)
    corner = mesh.select_nodes([("x", 4, 4), ("y", 0, 0)])   # touches element 6 only
    included = included_elements(problem, corner)
    assert np.flatnonzero(~included).tolist() == [0, 6]


# ---------------------------------------------------------------- problem files


@pytest.mark.parametrize("change,message", [
    ({"limit": 0}, "constraints[0].limit: must be > 0, got 0"),
    ({"limit": -1.0}, "constraints[0].limit: must be > 0, got -1.0"),
    ({"q": 0}, "constraints[0].q: must be in (0, 1], got 0"),
    ({"q": 1.5}, "constraints[0].q: must be in (0, 1], got 1.5"),
    ({"p": 1.5, "q": 0.5}, "constraints[0].p: p·q must be >= 1"),
    ({"exclude": {"x": 200}}, "constraints[0].exclude: selects no node"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, change, message):
    data = lbracket(8)
    data["constraints"][0].update(change)
    result = invoke("run", write_yaml(tmp_path, data), "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "summary.json").exists()


def test_check_grad_passes_on_a_stress_config_from_a_mesh_file():
    result = invoke("check-grad", CONFIGS / "lbracket_stress_mesh.yaml", "--samples", "2", "--step", "1e-2")
    assert result.exit_code == 0, result.output


def test_result_files_hold_the_stress_recomputable_from_result_npz(tmp_path):
    """result.npz, summary.json and stress.png of a short run; the relaxed stress again
    from u, ρ, the grid and the formula of docs/physics.md written out for a Q4 box at its centre."""
    out = tmp_path / "out"
    result = invoke("run", write_yaml(tmp_path, lbracket(10)), "-o", out, "--max-iterations", "3", "-q")
    assert result.exit_code == 0, result.output
    assert (out / "stress.png").stat().st_size > 0
    data = np.load(out / "result.npz")
    summary = json.loads((out / "summary.json").read_text())["stress"]
    nx, ny = data["grid"]
    hx, hy = data["size"] / data["grid"]
    E, nu, q = 1.0, 0.3, 0.5
    # B at the centre of an hx × hy box, nodes counter-clockwise from the lower left:
    # dN/dx = ±1/(2hx), dN/dy = ±1/(2hy).
    dNdx = np.array([-1, 1, 1, -1]) / (2 * hx)
    dNdy = np.array([-1, -1, 1, 1]) / (2 * hy)
    i, j = np.divmod(np.arange(nx * ny), ny)                         # element (i, j), y fastest
    nodes = np.stack([i * (ny + 1) + j, (i + 1) * (ny + 1) + j, (i + 1) * (ny + 1) + j + 1,
                      i * (ny + 1) + j + 1], axis=1)
    u = data["u"][:, 0].reshape(-1, 2)[nodes]                         # (n_el, 4, 2)
    exx, eyy = u[:, :, 0] @ dNdx, u[:, :, 1] @ dNdy
    gxy = u[:, :, 0] @ dNdy + u[:, :, 1] @ dNdx
    c = E / (1 - nu**2)
    sx, sy, txy = c * (exx + nu * eyy), c * (eyy + nu * exx), c * (1 - nu) / 2 * gxy
    solid = np.sqrt(sx**2 - sx * sy + sy**2 + 3 * txy**2)
    relaxed = data["rho"] ** q * solid
    np.testing.assert_allclose(data["von_mises"][:, 0], solid, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(data["von_mises_relaxed"][:, 0], relaxed, rtol=1e-10, atol=1e-14)
    included = data["stress_included"]
    assert summary["max_relaxed"] == pytest.approx(relaxed[included].max(), rel=1e-12)
    assert summary["element"] == int(np.flatnonzero(included)[np.argmax(relaxed[included])])
    assert summary["limit"] == 0.6 and summary["response"] == "constraints[0]"
    assert summary["centroid"] == pytest.approx([(i[summary["element"]] + 0.5) * hx, (j[summary["element"]] + 0.5) * hy])
    # the passive void and the elements at the loaded nodes are left out
    assert included.sum() == nx * ny - 6 * 6 - 2   # below and above y = 30


def test_mesh_file_result_has_the_relaxed_stress_in_its_vtu(tmp_path):
    meshio = pytest.importorskip("meshio")
    out = tmp_path / "out"
    result = invoke("run", CONFIGS / "lbracket_stress_mesh.yaml", "-o", out, "--max-iterations", "1", "-q")
    assert result.exit_code == 0, result.output
    cells = meshio.read(out / "density.vtu").cell_data
    data = np.load(out / "result.npz")
    np.testing.assert_allclose(cells["von_mises_relaxed"][0], data["von_mises_relaxed"][:, 0])
    np.testing.assert_allclose(cells["von_mises"][0], data["von_mises"][:, 0])
    assert (out / "stress.png").exists()


@pytest.mark.slow
def test_coarse_lbracket_meets_its_limit_and_its_compliance_twin_does_not():
    """The coarse L-bracket (40 × 40) at minimum volume under the stress limit ends within
    10 % of it; the compliance design of the same volume exceeds it clearly."""
    data = lbracket(40, limit=0.6, filter={"type": "density", "radius": 5.0})
    model = femopt.prepare(data)
    result = femopt.run(model)
    stress = model.constraints[0].response
    peak = stress.maximum(result.rho, result.u)[0]
    assert abs(peak / 0.6 - 1) < 0.1
    twin = {**data, "design": {**data["design"], "volume_fraction": result.volume},
            "optimizer": {"type": "oc", "move": 0.2, "max_iterations": 500, "tolerance": 0.002}}
    del twin["objective"], twin["constraints"]
    compliance = femopt.run(twin)
    assert compliance.volume == pytest.approx(result.volume, rel=1e-3)
    assert stress.maximum(compliance.rho, compliance.u)[0] > 1.3 * 0.6


def test_resumed_stress_run_reaches_the_uninterrupted_result(tmp_path):
    """The normalization depends on the design alone (renormalized at each iteration's own
    design), so a checkpoint needs no state for it: 6 iterations, and 3 + 3 resumed, agree."""
    data = lbracket(12)
    data["optimizer"]["max_iterations"] = 6
    whole = femopt.run(data)
    femopt.run(data, tmp_path, max_iterations=3)
    resumed = femopt.run(data, tmp_path, resume=True)
    assert resumed.iterations == whole.iterations == 6
    assert resumed.responses["constraints[0]"] == pytest.approx(whole.responses["constraints[0]"], rel=1e-9)
    np.testing.assert_allclose(resumed.x, whole.x, rtol=0, atol=1e-9)


def test_minimizing_the_maximum_stress_lowers_it():
    """The objective form: min max stress at a volume limit, MMA, a few iterations."""
    data = lbracket(16)
    data["objective"] = {"type": "stress", "exclude": {"x": 100, "y": [30, 40]}}
    data["constraints"] = [{"type": "volume", "limit": 0.4}]
    data["optimizer"]["max_iterations"] = 15
    history = femopt.run(data).history
    assert history[-1].objective < 0.8 * history[0].objective


def test_3d_result_draws_the_stress_on_the_solid(tmp_path):
    meshio = pytest.importorskip("meshio")
    data = {"problem": "stress3d", "mesh": {"grid": [8, 4, 3]},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 8, "y": 0}, "force": [0.0, -1.0, 0.0]}],
            "design": {"volume_fraction": 0.6, "filter": {"type": "density", "radius": 1.5}},
            "objective": {"type": "stress", "q": 0.8, "exclude": {"x": 8, "y": 0}},
            "constraints": [{"type": "volume", "limit": 0.6}],
            "optimizer": {"type": "mma", "max_iterations": 2}}
    out = tmp_path / "out"
    result = invoke("run", write_yaml(tmp_path, data), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert (out / "stress.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())["stress"]
    assert summary["response"] == "objective" and "limit" not in summary and summary["q"] == 0.8
    relaxed = meshio.read(out / "density.vtu").cell_data["von_mises_relaxed"][0]
    assert summary["max_relaxed"] == pytest.approx(relaxed[np.load(out / "result.npz")["stress_included"]].max())


def test_a_heat_problem_has_no_stress(tmp_path):
    data = {"physics": "heat", "mesh": {"grid": [4, 4]}, "supports": [{"at": {"x": 0}, "fix": ["t"]}],
            "loads": [{"at": {"x": 4}, "heat": 1.0}], "design": {"volume_fraction": 0.5},
            "objective": "volume", "constraints": [{"type": "stress", "limit": 1.0}],
            "optimizer": {"type": "mma"}}
    result = invoke("run", write_yaml(tmp_path, data))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "constraints[0].type: stress needs displacements; physics: heat" in result.stderr
