"""Every loss gets its gradient from one extra (block) solve with the factor in hand."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from femopt.cli import main
from femopt.config import parse_config
from femopt.objectives import CallableLoss, Compliance, Displacement, DisplacementTarget, Volume
from femopt.problem import build_problem, build_responses
from femopt.solvers import cholmod_available, make_solver
from femopt.topopt import Evaluator

from conftest import CONFIGS, mbb_data


class CountingSolver:
    """Wraps a solver and counts factorizations and solve calls (a block counts once)."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.factorizations = self.solves = self.transpose_solves = 0
        self.n_factorizations = 0

    def analyze(self, K):
        self.inner.analyze(K)

    def factorize(self, K):
        self.factorizations += 1
        self.inner.factorize(K)

    def solve(self, B):
        self.solves += 1
        return self.inner.solve(B)

    def solve_transpose(self, B):
        self.transpose_solves += 1
        return self.inner.solve_transpose(B)


def two_load_cases(config):
    """The MBB problem with a second load case (a horizontal pull at the top right)."""
    problem = build_problem(config)
    second = np.zeros(problem.mesh.n_dofs)
    node = problem.mesh.select_nodes([("x", 12.0, 12.0), ("y", 5.0, 5.0)])[0]
    second[2 * node] = 0.5
    return problem.__class__(problem.mesh, problem.element_matrix, problem.fixed_dofs,
                             np.column_stack([problem.forces[:, 0], second]), problem.E, problem.Emin)


def losses(problem):
    rng = np.random.default_rng(5)
    dofs = rng.choice(problem.free_dofs, 4, replace=False)
    weights = np.array([1.0, -2.0])
    return {
        "compliance": Compliance(weights=weights),
        "displacement": Displacement(dofs, rng.standard_normal(4), case=1),
        "target": DisplacementTarget(dofs, rng.standard_normal(4) * 0.1),
        "callable": CallableLoss(lambda u: (np.sum(np.sin(0.01 * u)), 0.01 * np.cos(0.01 * u))),
    }


@pytest.mark.parametrize("name", ["compliance", "displacement", "target", "callable"])
def test_each_loss_costs_at_most_one_extra_block_solve_and_matches_finite_differences(name):
    config = parse_config(mbb_data(nx=12, ny=5, filter_type="density"), source="test")
    problem = two_load_cases(config)
    solver = CountingSolver(make_solver("auto"))
    loss = losses(problem)[name]
    evaluate = Evaluator(problem, config.design, solver, objective=loss, constraints=[(Volume(), 0.5)])
    x = np.random.default_rng(3).uniform(0.2, 0.9, problem.mesh.n_elements)
    gradient = evaluate(x, smooth=False).gradient
    assert (solver.factorizations, solver.solves) == (1, 1)  # both load cases in one block solve
    assert solver.transpose_solves == (0 if name == "compliance" else 1)  # self-adjoint needs none

    d = np.random.default_rng(4).standard_normal(len(x))
    h = 1e-3
    f = {t: evaluate(x + t * h * d).objective for t in (-2, -1, 1, 2)}
    fd = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)
    assert gradient @ d == pytest.approx(fd, rel=1e-6)


def test_config_responses_are_built_on_the_mesh():
    data = mbb_data(nx=12, ny=5)
    data["objective"] = {"type": "displacement_target", "at": {"x": [0, 3], "y": 5}, "component": "y",
                         "target": -0.2}
    data["constraints"] = [{"type": "volume", "limit": 0.4}, {"type": "compliance", "limit": 100}]
    data["optimizer"]["type"] = "mma"
    config = parse_config(data, source="test")
    objective, constraints = build_responses(config, build_problem(config))
    assert isinstance(objective, DisplacementTarget) and len(objective.dofs) == 4
    assert np.all(objective.dofs % 2 == 1) and np.all(objective.target == -0.2)
    assert [(type(r), limit) for r, limit in constraints] == [(Volume, 0.4), (Compliance, 100.0)]


def test_python_loss_from_a_file_next_to_the_config(tmp_path):
    (tmp_path / "myloss.py").write_text(
        "import numpy as np\n\ndef loss(u):\n    return float(np.sum(u**2)), 2 * u\n")
    data = mbb_data(nx=12, ny=5, filter_type="density")
    data["objective"] = {"type": "python", "function": "myloss.py:loss"}
    data["optimizer"]["type"] = "mma"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["check-grad", str(path), "--samples", "2"])
    assert result.exit_code == 0, result.output
    data["objective"]["function"] = "myloss.py:nothere"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2 and "objective.function: cannot load 'myloss.py:nothere'" in result.stderr


@pytest.mark.parametrize("config", ["mbb.yaml", "mbb_deflection.yaml"])
def test_check_grad_passes_on_configs(config):
    result = CliRunner().invoke(main, ["check-grad", str(CONFIGS / config), "--samples", "2"])
    assert result.exit_code == 0, result.output
    assert "largest relative error" in result.output and "ok" in result.output.splitlines()[-1]


def test_check_grad_fails_above_its_tolerance():
    result = CliRunner().invoke(main, ["check-grad", str(CONFIGS / "mbb.yaml"), "--samples", "1",
                                       "--tolerance", "1e-14"])
    assert result.exit_code == 1 and "FAILED" in result.output


@pytest.mark.parametrize("solver", ["amg", pytest.param("reuse", marks=pytest.mark.skipif(
    not cholmod_available(), reason="reuse keeps a CHOLMOD factor"))])
def test_check_grad_solves_iterative_solvers_to_round_off(tmp_path, solver):
    """A loose CG tolerance (1e-6) would show in the finite differences; check-grad tightens it."""
    data = {"mesh": {"grid": [12, 4, 3]},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 12, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
            "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5}},
            "solver": {"type": solver, "rtol": 1e-6}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["check-grad", str(path), "--samples", "2"])
    assert result.exit_code == 0, result.output
