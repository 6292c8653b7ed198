"""Design parameterization: projection, RAMP, continuation, passive regions — each VJP
against finite differences, and the passive densities exact through a run."""

import numpy as np
import pytest

from femopt.config import Schedule, parse_config
from femopt.design import RAMP, SIMP, Continuation, DesignSpace, HeavisideProjection, region_mask
from femopt.design.projection import volume_preserving_threshold
from femopt.errors import ConfigError
from femopt.gradcheck import check_gradients
from femopt.mesh import StructuredMesh
from femopt.problem import build_problem
from femopt.solvers import make_solver
from femopt.topopt import Evaluator, optimize

from conftest import mbb_data


def central_difference(function, x, direction, h):
    """Fourth-order central difference of a vector function along ``direction``."""
    f = {t: function(x + t * h * direction) for t in (-2, -1, 1, 2)}
    return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)


def vjp_error(function, vjp, x, rng, h):
    """Relative error of ⟨w, J d⟩ (finite differences) against ⟨vjp(w), d⟩."""
    w, d = rng.standard_normal(len(x)), rng.standard_normal(len(x))
    fd = w @ central_difference(function, x, d, h)
    return abs(vjp(w) @ d - fd) / abs(fd)


# ---------------------------------------------------------------- projection


def test_projection_keeps_0_and_1_and_tends_to_a_step():
    rho = np.array([0.0, 0.2, 0.5, 0.8, 1.0])
    assert HeavisideProjection(1e-6, 0.5).apply(rho, 0.5) == pytest.approx(rho, abs=1e-9)
    sharp = HeavisideProjection(512.0, 0.5).apply(rho, 0.5)
    np.testing.assert_allclose(sharp, [0, 0, 0.5, 1, 1], atol=1e-12)
    assert HeavisideProjection(8.0, 0.3).apply(np.array([0.0, 1.0]), 0.3) == pytest.approx([0, 1])


@pytest.mark.parametrize("beta", [1.0, 8.0, 32.0])
@pytest.mark.parametrize("eta", [0.5, 0.3])
def test_projection_vjp_matches_finite_differences(beta, eta):
    rng = np.random.default_rng(0)
    rho = rng.uniform(0.05, 0.95, 50)
    projection = HeavisideProjection(beta, eta)
    error = vjp_error(lambda r: projection.apply(r, eta), lambda w: projection.vjp(rho, eta, w),
                      rho, rng, h=1e-3 / beta)
    assert error < 1e-7


def test_projection_eta_derivative_matches_finite_differences():
    rho = np.random.default_rng(1).uniform(0, 1, 30)
    projection = HeavisideProjection(6.0)
    fd = central_difference(lambda t: projection.apply(rho, t[0]), np.array([0.4]), np.ones(1), 1e-4)
    np.testing.assert_allclose(projection.derivative_eta(rho, 0.4), fd, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("beta", [1.0, 16.0, 64.0])
def test_volume_preserving_threshold_keeps_the_volume(beta):
    rho = np.random.default_rng(2).beta(0.5, 0.7, 500)  # skewed: η ≠ 0.5
    eta = volume_preserving_threshold(rho, beta)
    assert 0 < eta < 1
    assert HeavisideProjection(beta).apply(rho, eta).sum() == pytest.approx(rho.sum(), rel=1e-13)


@pytest.mark.parametrize("masked", [False, True])
def test_volume_preserving_vjp_includes_the_threshold_derivative(masked):
    """η(ρ̃) moves with the densities; the VJP's rank-one term must account for it."""
    rng = np.random.default_rng(3)
    rho = rng.uniform(0.05, 0.95, 40)
    mask = rng.uniform(size=40) < 0.7 if masked else None
    projection = HeavisideProjection(4.0, 0.5, preserve_volume=True, volume_mask=mask)

    def forward(r):
        return projection.apply(r, projection.threshold(r))

    eta = projection.threshold(rho)
    error = vjp_error(forward, lambda w: projection.vjp(rho, eta, w), rho, rng, h=1e-4)
    assert error < 1e-7
    # Holding η fixed instead gives a visibly different (wrong) derivative.
    fixed = HeavisideProjection(4.0, eta)
    assert vjp_error(forward, lambda w: fixed.vjp(rho, eta, w), rho, rng, h=1e-4) > 1e-3


# ---------------------------------------------------------------- interpolation


@pytest.mark.parametrize("material", [SIMP(2.0, 1e-3, 3.0), RAMP(2.0, 1e-3, 8.0), RAMP(1.0, 1e-9, 0.0)])
def test_interpolation_vjp_matches_finite_differences(material):
    rng = np.random.default_rng(4)
    rho = rng.uniform(0.05, 0.95, 30)
    error = vjp_error(material.apply, lambda w: material.vjp(rho, w), rho, rng, h=1e-4)
    assert error < 1e-9


def test_ramp_end_values_and_linear_case():
    ramp = RAMP(E0=2.0, Emin=1e-3, penalty=8.0)
    assert ramp.apply(np.array([0.0, 1.0])) == pytest.approx([1e-3, 2.0])
    rho = np.linspace(0, 1, 5)
    assert RAMP(1.0, 0.0, 0.0).apply(rho) == pytest.approx(rho)  # q = 0: linear
    assert np.all(ramp.apply(rho[1:-1]) < 1e-3 + rho[1:-1] * (2.0 - 1e-3))  # penalized


# ---------------------------------------------------------------- continuation


def test_schedule_raises_every_n_iterations_and_on_convergence():
    continuation = Continuation({"beta": Schedule(1.0, 8.0, every=3, factor=2.0), "penalty": 3.0})
    seen = []
    for settled in [False, False, False, True, False, False, False, False, False]:
        seen.append(continuation.values["beta"])
        continuation.advance(settled)
    # 3 iterations at 1; 1 at 2 (ended early: settled); then 3 at 4; then 8 for good.
    assert seen == [1, 1, 1, 2, 4, 4, 4, 8, 8]
    assert continuation.finished and continuation.values["penalty"] == 3.0


def test_additive_schedule_stops_at_its_end():
    continuation = Continuation({"penalty": Schedule(1.0, 3.0, every=1, step=0.75)})
    values = []
    for _ in range(5):
        values.append(continuation.values["penalty"])
        continuation.advance(False)
    assert values == [1.0, 1.75, 2.5, 3.0, 3.0]


# ---------------------------------------------------------------- passive regions


def test_region_shapes_select_element_centers():
    mesh = StructuredMesh((10, 4), (10.0, 4.0))
    region = parse_config(_mbb_with_passive([
        {"type": "solid", "box": {"x": [0, 2], "y": [3, 4]}},
        {"type": "void", "circle": {"center": [5, 2], "radius": 1.0}},
    ], nx=10, ny=4), source="t").design.passive
    box, circle = (region_mask(mesh, r) for r in region)
    assert np.count_nonzero(box) == 2                          # centers (0.5, 3.5), (1.5, 3.5)
    assert np.count_nonzero(circle) == 4                       # the 4 centers at distance √0.5
    mesh3 = StructuredMesh((4, 4, 4), (4.0, 4.0, 4.0))
    data = {"mesh": {"grid": [4, 4, 4]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 4}, "force": [0, 0, -1]}],
            "design": {"volume_fraction": 0.5, "passive": [
                {"type": "void", "sphere": {"center": [2, 2, 2], "radius": 0.9}},
                {"type": "void", "cylinder": {"center": [2, 2, 0], "radius": 0.9, "axis": "z"}}]}}
    sphere, cylinder = (region_mask(mesh3, r) for r in parse_config(data, source="t").design.passive)
    assert np.count_nonzero(sphere) == 8 and np.count_nonzero(cylinder) == 16


def test_design_space_embeds_and_restricts():
    fixed = np.array([np.nan, 1.0, np.nan, 0.0])
    space = DesignSpace(fixed, 4)
    assert space.n_variables == 2
    np.testing.assert_array_equal(space.embed(np.array([0.3, 0.7])), [0.3, 1.0, 0.7, 0.0])
    np.testing.assert_array_equal(space.restrict(np.array([1.0, 2.0, 3.0, 4.0])), [1.0, 3.0])
    np.testing.assert_array_equal(space.fix(np.full(4, 0.5)), [0.5, 1.0, 0.5, 0.0])
    # Volume 0.5 over 4 elements with one solid: the 2 variables start at 0.5.
    np.testing.assert_array_equal(space.initial_design(0.5), [0.5, 0.5])


def _mbb_with_passive(passive, nx=30, ny=10, **design):
    data = mbb_data(nx=nx, ny=ny, filter_type="density")
    data["design"].update(passive=passive, **design)
    return data


PASSIVE = [{"type": "solid", "box": {"x": [0, 6], "y": [8, 10]}},
           {"type": "void", "circle": {"center": [15, 5], "radius": 2.5}},
           {"type": "void", "box": {"x": [26, 30], "y": [6, 10]}}]


@pytest.mark.parametrize("projection", [None, {"beta": {"start": 1, "end": 8, "factor": 2, "every": 10},
                                               "preserve_volume": True}])
def test_passive_densities_stay_exact_through_a_run(projection, monkeypatch):
    data = _mbb_with_passive(PASSIVE, **({"projection": projection} if projection else {}))
    data["optimizer"].update(type="mma", max_iterations=60)
    config = parse_config(data, source="t")
    problem = build_problem(config)
    solid, void = problem.passive == 1.0, problem.passive == 0.0
    assert solid.sum() == 12 and void.sum() > 20
    densities = []
    evaluate = Evaluator.__call__

    def spy(self, x, smooth=True):  # every evaluation of the run, not only the last
        assert len(x) == problem.mesh.n_elements - solid.sum() - void.sum()  # only active variables
        ev = evaluate(self, x, smooth)
        densities.append(ev.rho)
        assert np.all(ev.gradient == ev.gradient)  # finite
        return ev

    monkeypatch.setattr(Evaluator, "__call__", spy)
    result = optimize(problem, config.design, config.optimizer, make_solver("auto"))
    assert len(densities) == result.iterations
    for rho in densities + [result.rho]:
        assert np.all(rho[solid] == 1.0) and np.all(rho[void] == 0.0)  # exactly
    assert np.all(result.x[solid] == 1.0) and np.all(result.x[void] == 0.0)
    assert result.volume == pytest.approx(0.5, abs=1e-3)  # passive solid counted


def test_gradient_with_passive_regions_and_projection_matches_finite_differences():
    data = _mbb_with_passive(PASSIVE, projection={"beta": 4.0, "preserve_volume": True},
                             interpolation="ramp", penalty=5.0)
    config = parse_config(data, source="t")
    problem = build_problem(config)
    evaluate = Evaluator(problem, config.design, make_solver("auto"))
    assert evaluate.n_variables < problem.mesh.n_elements
    results = check_gradients(evaluate, evaluate.n_variables, ["objective", "volume"], samples=3)
    assert max(r.relative_error for r in results) < 1e-5


# ---------------------------------------------------------------- springs


def test_springs_are_added_to_the_diagonal_only():
    data = mbb_data(nx=6, ny=2, filter_type="density")
    data["springs"] = [{"at": {"x": 6, "y": 2}, "component": "x", "stiffness": 0.25}]
    config = parse_config(data, source="t")
    problem = build_problem(config)
    with_spring = Evaluator(problem, config.design, make_solver("auto"))
    rho = np.random.default_rng(5).uniform(0.2, 1.0, problem.mesh.n_elements)
    difference = (with_spring.stiffness(rho)
                  - with_spring.assembler.matrix(with_spring.material.apply(rho))).tocoo()
    dof = int(np.searchsorted(problem.free_dofs, problem.spring_dofs[0]))
    assert (list(difference.row), list(difference.col), list(difference.data)) == ([dof], [dof], [0.25])


# ---------------------------------------------------------------- YAML


def error_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="p.yaml")
    return str(info.value)


@pytest.mark.parametrize("design, message", [
    ({"projection": {"beta": {"start": 4, "end": 2, "factor": 2}}},
     "design.projection.beta.end: must be >= start (4): continuation raises a parameter, got 2"),
    ({"projection": {"beta": {"start": 1, "end": 32}}},
     "design.projection.beta: give exactly one of 'factor' (multiply at each stage) or 'step' "
     "(add at each stage)"),
    ({"projection": {"beta": {"start": 1, "end": 32, "factor": 2, "evry": 5}}},
     "design.projection.beta.evry: unknown key (did you mean 'every'?)"),
    ({"projection": {"beta": {"start": 1, "end": 32, "factor": 0.5}}},
     "design.projection.beta.factor: must be > 1, got 0.5"),
    ({"projection": {"eta": 1.0}}, "design.projection.eta: must be in (0, 1), got 1.0"),
    ({"projection": {"preserve_volume": "yes"}},
     "design.projection.preserve_volume: expected true or false, got string 'yes'"),
    ({"penalty": {"start": 0.5, "end": 3, "step": 0.5}}, "design.penalty.start: must be >= 1, got 0.5"),
    ({"interpolation": "ramp", "penalty": -1}, "design.penalty: must be >= 0, got -1"),
    ({"interpolation": "rmap"},
     "design.interpolation: must be one of simp, ramp, got 'rmap' (did you mean 'ramp'?)"),
    ({"passive": [{"type": "solid"}]}, "design.passive[0]: give exactly one shape (box or circle), got 0"),
    ({"passive": [{"type": "solid", "box": {"x": [0, 1]}, "circle": {"center": [0, 0], "radius": 1}}]},
     "design.passive[0]: give exactly one shape (box or circle), got 2"),
    ({"passive": [{"type": "hole", "box": {"x": [0, 1]}}]},
     "design.passive[0].type: must be one of solid, void, got 'hole'"),
    ({"passive": [{"type": "void", "sphere": {"center": [0, 0], "radius": 1}}]},
     "design.passive[0].sphere: not available on a 2D mesh (use box or circle)"),
    ({"passive": [{"type": "void", "circle": {"center": [0, 0, 0], "radius": 1}}]},
     "design.passive[0].circle.center: expected 2 numbers, got 3"),
])
def test_design_keys_are_validated_with_their_path(design, message):
    data = mbb_data(nx=6, ny=2, filter_type="density")
    data["design"].update(design)
    assert error_of(data) == f"p.yaml: {message}"


def test_projection_needs_the_density_filter():
    data = mbb_data(nx=6, ny=2, filter_type="sensitivity")
    data["design"]["projection"] = {"beta": 2.0}
    assert error_of(data) == ("p.yaml: design.filter.type: projection needs a density filter "
                              "(the sensitivity filter leaves the densities unfiltered)")


def test_passive_regions_that_select_nothing_or_everything_are_errors():
    data = _mbb_with_passive([{"type": "void", "circle": {"center": [100, 100], "radius": 1}}])
    with pytest.raises(ConfigError, match=r"design.passive\[0\]: the circle contains no element center"):
        build_problem(parse_config(data, source="t"))
    data = _mbb_with_passive([{"type": "solid", "box": {"x": [0, 30]}}])
    with pytest.raises(ConfigError, match="every element is passive"):
        build_problem(parse_config(data, source="t"))


def test_spring_mistakes_name_their_path():
    data = mbb_data(nx=6, ny=2, filter_type="density")
    data["springs"] = [{"at": {"x": 6, "y": 2}, "component": "z", "stiffness": 0.1}]
    assert error_of(data) == "p.yaml: springs[0].component: a 2D mesh has no z component (use x, y)"
    data["springs"] = [{"at": {"x": 6, "y": 2}, "component": "x", "stiffness": 0}]
    assert error_of(data) == "p.yaml: springs[0].stiffness: must be > 0, got 0"
    data["springs"] = [{"at": {"x": 0}, "component": "x", "stiffness": 0.1}]  # the symmetry line
    with pytest.raises(ConfigError, match=r"springs\[0\].at: every selected DOF is fixed"):
        build_problem(parse_config(data, source="t"))
