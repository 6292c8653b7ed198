"""Design parameterization: projection, RAMP, continuation, passive regions — each VJP
against finite differences, and the passive densities exact through a run."""

import numpy as np
import pytest

import femopt
from femopt.design import RAMP, SIMP, Continuation, DesignSpace, HeavisideProjection, Schedule, region_mask
from femopt.design.projection import volume_preserving_threshold
from femopt.loop.gradcheck import check_gradients
from femopt.mesh import StructuredMesh
from femopt.loop.evaluator import Evaluator

from helpers import central_difference, mbb_data


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
    box = region_mask(mesh, "box", box=(("x", 0.0, 2.0), ("y", 3.0, 4.0)))
    circle = region_mask(mesh, "circle", center=(5.0, 2.0), radius=1.0)
    assert np.count_nonzero(box) == 2                          # centers (0.5, 3.5), (1.5, 3.5)
    assert np.count_nonzero(circle) == 4                       # the 4 centers at distance √0.5
    mesh3 = StructuredMesh((4, 4, 4), (4.0, 4.0, 4.0))
    sphere = region_mask(mesh3, "sphere", center=(2.0, 2.0, 2.0), radius=0.9)
    cylinder = region_mask(mesh3, "cylinder", center=(2.0, 2.0, 0.0), radius=0.9, axis=2)
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
    problem = femopt.prepare(data).problem
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
    result = femopt.run(data)
    assert len(densities) == result.iterations
    for rho in densities + [result.rho]:
        assert np.all(rho[solid] == 1.0) and np.all(rho[void] == 0.0)  # exactly
    assert np.all(result.x[solid] == 1.0) and np.all(result.x[void] == 0.0)
    assert result.volume == pytest.approx(0.5, abs=1e-3)  # passive solid counted


def test_gradient_with_passive_regions_and_projection_matches_finite_differences():
    data = _mbb_with_passive(PASSIVE, projection={"beta": 4.0, "preserve_volume": True},
                             interpolation="ramp", penalty=5.0)
    evaluate = femopt.prepare(data).evaluator()
    assert evaluate.n_variables < evaluate.problem.mesh.n_elements
    results = check_gradients(evaluate, evaluate.n_variables, ["objective", "volume"], samples=3)
    assert max(r.scaled_error for r in results) < 1e-5


# ---------------------------------------------------------------- springs


def test_springs_are_added_to_the_diagonal_only():
    data = mbb_data(nx=6, ny=2, filter_type="density")
    data["springs"] = [{"at": {"x": 6, "y": 2}, "component": "x", "stiffness": 0.25}]
    with_spring = femopt.prepare(data).evaluator()
    problem = with_spring.problem
    rho = np.random.default_rng(5).uniform(0.2, 1.0, problem.mesh.n_elements)
    difference = (with_spring.stiffness(rho)
                  - with_spring.assembler.matrix(with_spring.material.apply(rho))).tocoo()
    dof = int(np.searchsorted(problem.free_dofs, problem.spring_dofs[0]))
    assert (list(difference.row), list(difference.col), list(difference.data)) == ([dof], [dof], [0.25])
