"""The robust formulation (femopt.loop.robust, femopt.design.robust): thresholds and length
scale, the bound formulation's gradients, its configuration errors, its outputs and
checkpoints, and the minimum length scale shown on an optimized design by morphological
openings of its solid and its void."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate

import femopt
from femopt.cli import main
from femopt.design.robust import RobustThresholds, length_scales, marginal_kernel, member_width

from helpers import ball, mbb_data, opening_loss, write_yaml as write

# "Almost nothing" for the openings: a digital disk of radius ρ rounds every convex corner
# of a phase (a 90° corner loses (1 − π/4)ρ² ≈ 0.3–0.6 pixels for ρ = 1.3–1.7), and a truss
# has tens of them, so the opening of a design that keeps the length scale still removes
# up to about 1 % of a phase of a few hundred pixels; a single member thinner than 2ρ and
# as long as the beam is high removes ≥ 2 × 20 = 40 pixels, 6 % or more of these designs'
# phases. 2 % separates the two (test_opening_loss_finds_a_thin_member shows the other side).
ALMOST_NOTHING = 0.02


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def robust_mbb(nx=60, ny=20, radius=3.0, delta_eta=0.2, beta_end=8, every=25, max_iterations=150, **robust):
    """The half MBB beam, density filter, β from 1 to ``beta_end``, robust with ``delta_eta``, MMA."""
    data = mbb_data(nx, ny, filter_type="density", radius=radius, type="mma",
                    max_iterations=max_iterations)
    data["design"]["projection"] = {"beta": {"start": 1, "end": beta_end, "factor": 2, "every": every},
                                    "robust": {"delta_eta": delta_eta, **robust}}
    return data


# ---------------------------------------------------------------- length scale


def test_thresholds():
    t = RobustThresholds(0.2)
    assert t.all == (0.7, 0.5, pytest.approx(0.3))
    with pytest.raises(ValueError):
        RobustThresholds(0.3, eta=0.8)


@pytest.mark.parametrize("dim", [2, 3])
def test_marginal_kernel_integrates_the_cone(dim):
    """k(s) = ∫ max(0, r − |(s, t)|) dt over the (dim − 1) normal directions, by quadrature."""
    r = 1.7
    for s in (0.0, 0.3, 1.0, 1.6):
        if dim == 2:
            expected = integrate.quad(lambda t: max(0.0, r - np.hypot(s, t)), -r, r, epsabs=1e-12)[0]
        else:  # axisymmetric over the plane: ∫ 2π ρ (r − √(s² + ρ²)) dρ
            expected = integrate.quad(lambda p: 2 * np.pi * p * max(0.0, r - np.hypot(s, p)), 0, r)[0]
        assert marginal_kernel(np.array([s]), r, dim)[0] == pytest.approx(expected, rel=1e-7, abs=1e-12)
    assert marginal_kernel(np.array([r, 2 * r]), r, dim).tolist() == [0.0, 0.0]


def test_member_width_in_1d_is_the_closed_form():
    """1D hat filter: the bar with peak η_e has half-width a = r(1 − √(1 − η_e)), and where
    y < a, ρ̃(y) = η_e − y²/r², so the blueprint member is 2r√(η_e − η) wide."""
    for eta_e in (0.6, 0.7, 0.75):
        assert member_width(2.0, eta_e, 0.5, 1) == pytest.approx(2 * 2.0 * np.sqrt(eta_e - 0.5), rel=1e-6)


def test_length_scales_grow_with_delta_eta_and_radius_and_are_symmetric():
    widths = [length_scales(4.0, RobustThresholds(d), 2)[0] for d in (0.1, 0.2, 0.3, 0.4)]
    assert np.all(np.diff(widths) > 0)
    solid, void = length_scales(4.0, RobustThresholds(0.2), 2)
    assert solid == pytest.approx(void) == pytest.approx(2 * length_scales(2.0, RobustThresholds(0.2), 2)[0])
    assert solid / 4.0 == pytest.approx(0.8441, abs=1e-4)
    assert length_scales(1.0, RobustThresholds(0.2), 3)[0] == pytest.approx(0.7885, abs=1e-4)
    solid, void = length_scales(1.0, RobustThresholds(0.2, eta=0.45), 2)  # a lower η: thicker solid
    assert solid > void


def test_opening_loss_finds_a_thin_member():
    image = np.zeros((40, 20), bool)
    image[:, :4] = True                   # a 4 wide flange
    image[10:14, :] = True                # a 4 wide web
    assert opening_loss(image, 1.69) == 0.0
    image[30:32, :] = True                # and a 2 wide one
    assert opening_loss(image, 1.69) > 3 * ALMOST_NOTHING
    assert ball(1.69, 2).sum() == 9 and ball(1.0, 3).sum() == 7


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("robust, key, message", [
    ({"delta_eta": 0.5}, "design.projection.robust.delta_eta", "must be in (0, 0.5)"),
    ({"delta_eta": 0}, "design.projection.robust.delta_eta", "must be in (0, 0.5)"),
    ({"delta_eta": -0.1}, "design.projection.robust.delta_eta", "must be in (0, 0.5)"),
    ({"delta_eta": "big"}, "design.projection.robust.delta_eta", "expected a number"),
    ({"delta_eta": 0.2, "update_every": 0}, "design.projection.robust.update_every", "must be >= 1"),
    ({"delta": 0.2}, "design.projection.robust.delta", "unknown key"),
])
def test_bad_robust_input_is_one_line_exit_2(tmp_path, robust, key, message):
    data = robust_mbb()
    data["design"]["projection"]["robust"] = robust
    for command in ("run", "check-grad"):
        result = invoke(command, write(tmp_path, data), "-o" if command == "run" else "--seed",
                        tmp_path / "out" if command == "run" else 0)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and f"{key}: " in result.output and message in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, key", [
    (lambda d: d["optimizer"].update(type="oc"), "optimizer.type"),
    (lambda d: d["design"]["projection"].update(eta=0.85), "design.projection.robust.delta_eta"),
    (lambda d: d["design"]["projection"].update(preserve_volume=True), "design.projection.preserve_volume"),
    (lambda d: d.update(objective={"type": "displacement", "at": {"x": 0, "y": 20}, "component": "y"}),
     "design.projection.robust"),
])
def test_what_the_robust_formulation_cannot_do_is_one_line_exit_2(tmp_path, change, key):
    data = robust_mbb()
    change(data)
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.split(": ")[2] == key


# ---------------------------------------------------------------- gradients


def test_check_grad_on_a_robust_config(tmp_path):
    """Every function of the bound formulation (z, the three compliances ≤ z, the dilated
    volume) against finite differences, through the CLI (its labels are the evaluator's)."""
    result = invoke("check-grad", write(tmp_path, robust_mbb(nx=24, ny=8, radius=2.0)), "--samples", "3")
    assert result.exit_code == 0, result.output
    for label in ("compliance eroded <= z", "compliance blueprint <= z", "compliance dilated <= z",
                  "volume dilated <= limit"):
        assert label in result.output
    assert "minimum member width 1.688 (solid) and 1.688 (void)" in result.stderr


def test_validate_reports_the_length_scale(tmp_path):
    result = invoke("validate", write(tmp_path, robust_mbb(nx=24, ny=8, radius=2.0)))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("robust: thresholds 0.7 (eroded), 0.5 (blueprint)")
    assert "minimum member width 1.688 (solid) and 1.688 (void)" in result.stdout


def test_check_grad_on_robust_3d_and_mesh_file_problems(tmp_path):
    from test_cli import mesh_file_problem

    cube = {"mesh": {"grid": [10, 4, 3]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 10, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
            "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5},
                       "projection": {"beta": 2.0, "robust": {"delta_eta": 0.15}}},
            "optimizer": {"type": "mma"}}
    plate = mesh_file_problem(tmp_path)
    plate["design"]["projection"] = {"beta": 4.0, "robust": {"delta_eta": 0.2}}
    plate["optimizer"] = {"type": "mma"}
    for data, folder in ((cube, tmp_path), (plate, tmp_path / "configs")):
        config = write(folder, data)
        result = invoke("check-grad", config, "--samples", "2")
        assert result.exit_code == 0, result.output
        out = folder / "out"
        result = invoke("run", config, "-o", out, "-q", "--max-iterations", "3")
        assert result.exit_code == 0, result.output
        files = np.load(out / "result.npz")
        assert files["rho_eroded"].shape == files["rho_dilated"].shape == files["rho"].shape


def test_the_realizations_are_ordered_and_the_volume_limit_keeps_the_blueprint(tmp_path):
    model = femopt.prepare(robust_mbb(nx=24, ny=8, radius=2.0))
    evaluator = model.evaluator()
    assert evaluator.n_variables == 24 * 8 + 1 == len(model.x0)
    ev = evaluator(model.x0)
    eroded, dilated = ev.fields["rho_eroded"], ev.fields["rho_dilated"]
    assert np.all(eroded < ev.rho) and np.all(ev.rho < dilated)
    r = ev.responses
    assert r["compliance eroded"] > r["compliance blueprint"] > r["compliance dilated"]
    assert r["objective"] == pytest.approx(r["compliance eroded"])  # z starts at the worst compliance
    assert ev.constraints[0] == pytest.approx(0.0)
    assert r["volume limit dilated"] == pytest.approx(0.5 * r["volume dilated"] / r["volume blueprint"])
    assert r["volume blueprint"] == pytest.approx(0.5)


# ---------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory):
    """The 60 × 20 robust MBB (r = 3, β → 8) and its plain twin, with their files."""
    out = tmp_path_factory.mktemp("robust")
    runs = {}
    for label in ("robust", "plain"):
        data = robust_mbb()
        if label == "plain":
            del data["design"]["projection"]["robust"]
        runs[label] = (femopt.run(data, out / label), out / label)
    return runs


def eroded_compliance(x, beta=8.0, radius=3.0):
    """Compliance of the 60 × 20 design x projected at η = 0.7 with β: a plain evaluator."""
    data = mbb_data(60, 20, filter_type="density", radius=radius, type="mma")
    data["design"]["projection"] = {"beta": beta, "eta": 0.7}
    return femopt.prepare(data).evaluator()(x).objective


@pytest.mark.slow
def test_robust_mbb_keeps_its_length_scale_in_solid_and_void(robust_run):
    result, out = robust_run["robust"]
    assert result.converged
    files = np.load(out / "result.npz")
    solid = files["rho"].reshape(60, 20) > 0.5
    width_solid, width_void = length_scales(3.0, RobustThresholds(0.2), 2)
    assert opening_loss(solid, width_solid / 2) <= ALMOST_NOTHING
    assert opening_loss(~solid, width_void / 2) <= ALMOST_NOTHING
    # the blueprint keeps the requested volume through the dilated design's rescaled limit
    assert result.volume == pytest.approx(0.5, abs=0.01)


@pytest.mark.slow
def test_robust_outputs_describe_the_blueprint_and_hold_the_realizations(robust_run):
    result, out = robust_run["robust"]
    files = np.load(out / "result.npz")
    assert files["x"].shape == files["rho"].shape == files["rho_eroded"].shape == files["rho_dilated"].shape
    assert np.array_equal(files["rho"], result.rho)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["volume"] == pytest.approx(np.mean(result.rho))
    worst = max(summary["responses"][f"compliance {n}"] for n in ("eroded", "blueprint", "dilated"))
    assert summary["objective"] == pytest.approx(worst, rel=2e-3)  # the bound is active at the end
    assert summary["responses"]["compliance eroded"] == pytest.approx(
        eroded_compliance(result.x), rel=1e-9)


@pytest.mark.slow
def test_robust_design_is_stiffer_eroded_than_the_plain_one(robust_run):
    """The point of the formulation: the plain projection design with the same filter and β
    is stiffer as drawn, but loses more of its stiffness when eroded (η = 0.7)."""
    robust, _ = robust_run["robust"]
    plain, _ = robust_run["plain"]
    assert plain.objective < robust.responses["compliance blueprint"]
    assert robust.responses["compliance eroded"] < 0.95 * eroded_compliance(plain.x)


def test_robust_run_resumes_to_the_same_result(tmp_path):
    """The scale of z and the dilated volume limit (updated every 4 iterations) are
    checkpointed: 6 + 6 iterations give what 12 give."""
    data = robust_mbb(nx=24, ny=8, radius=2.0, every=5, update_every=4)
    straight = femopt.run(data, tmp_path / "straight", max_iterations=12)
    femopt.run(data, tmp_path / "split", max_iterations=6)
    resumed = femopt.run(data, tmp_path / "split", max_iterations=12, resume=True)
    assert np.allclose(resumed.x, straight.x, rtol=0, atol=1e-10)
    assert resumed.responses == pytest.approx(straight.responses, rel=1e-10)
