"""The command line: outputs of a run, one clear line with exit code 2 for bad input, and
check-grad (once over every example config). The messages themselves are tested where
they are made: test_config.py and test_build.py."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import femopt
from femopt import __version__
from femopt.cli import main
from femopt.output.files import FILES

from helpers import CONFIGS, mbb_data, write_yaml as write


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_run_writes_every_output(tmp_path):
    config = write(tmp_path, mbb_data(nx=20, ny=8))
    out = tmp_path / "out"
    result = invoke("run", config, "-o", out, "--max-iterations", "5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.split()[0].isdigit() for line in lines if line.split()) == 5  # one line per iteration
    # nothing temporary left behind; the checkpoint stays, as the run stopped at its iteration limit
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + ("checkpoint.npz", ".femopt"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 5 and summary["converged"] is False
    assert set(summary["timings_s"]) >= {"assembly", "factorization", "solve", "sensitivity", "filter", "update"}
    for key in ("objective", "volume", "wall_time_s"):
        assert isinstance(summary[key], float)
    arrays = np.load(out / "result.npz")
    assert arrays["x"].shape == arrays["rho"].shape == (160,)
    assert arrays["u"].shape == (2 * 21 * 9, 1)
    assert list(arrays["grid"]) == [20, 8]
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "iteration,objective,volume,change,seconds,penalty" and len(history) == 6
    assert summary["parameters"] == {"penalty": 3.0}
    assert summary["objective"] == pytest.approx(float(history[-1].split(",")[1]))


def test_default_output_folder_is_out_problem_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, mbb_data(nx=10, ny=4))
    assert invoke("run", config, "--max-iterations", "2", "--quiet", "--solver", "superlu").exit_code == 0
    summary = json.loads((tmp_path / "out" / "mbb-beam" / "summary.json").read_text())
    assert summary["solver"] == "superlu"


def test_run_with_projection_shows_and_records_beta(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", CONFIGS / "bridge_projection.yaml", "-o", out, "--max-iterations", "2")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.split()[:1] == ["it"])
    assert header.split()[-1] == "beta"
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].endswith(",penalty,beta") and history[1].endswith(",1.0")  # β starts at 1
    assert json.loads((out / "summary.json").read_text())["parameters"]["beta"] == 1.0


def test_validate_and_version():
    result = invoke("validate", CONFIGS / "mbb.yaml")
    assert result.exit_code == 0 and "ok" in result.output and "1200 elements" in result.output
    assert __version__ in invoke("--version").output


def broken(data, *path_and_value):
    *path, value = path_and_value
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE = object()

BAD_INPUTS = {  # one of each kind: the problem file, a selection on the mesh, the supports
    "unknown key": (broken(mbb_data(), "optimizer", "tyep", "oc"), "optimizer.tyep: unknown key (did you mean 'type'?)"),
    "missing section": (broken(mbb_data(), "design", DELETE), "missing required key 'design'"),
    "empty selection": (broken(mbb_data(), "loads", 0, "at", {"x": 61}), "loads[0].at: selects no node"),
    "singular": (broken(mbb_data(), "supports", 1, "fix", ["x"]), "rigid body"),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case, command):
    data, expected = BAD_INPUTS[case]
    config = write(tmp_path, data)
    out = tmp_path / "out"
    result = invoke(command, config, *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    with pytest.raises(femopt.FemoptError) as api_error:  # the API's message, printed in one line
        femopt.prepare(config)
    assert message == f"error: {api_error.value}" and expected in message and "\n" not in message
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_file_and_broken_yaml(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "cannot read" in result.stderr and "nope.yaml" in result.stderr
    config = write(tmp_path, "mesh: {grid: [60, 20]\nsupports: [")
    result = invoke("run", config)
    assert result.exit_code == 2 and "invalid YAML" in result.stderr and "line" in result.stderr


def test_real_entry_point_prints_no_traceback(tmp_path):
    config = write(tmp_path, broken(mbb_data(), "supports", 1, "fix", ["x"]))
    proc = subprocess.run([sys.executable, "-m", "femopt.cli", "run", str(config)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- check-grad


def small_configs():
    """The grid configs of at most 20 000 elements; the large 3D ones (an iterative solver,
    minutes per check) are left to their own tests, and the mesh-file parts to test_parts.py."""
    meshes = {path: yaml.safe_load(path.read_text())["mesh"] for path in sorted(CONFIGS.glob("*.yaml"))}
    return [pytest.param(path, marks=[pytest.mark.slow] if path.name in SLOW_CHECKS else [])
            for path, mesh in meshes.items() if "grid" in mesh and np.prod(mesh["grid"]) <= 20_000]


# The 3D ones whose Taylor test takes over 10 s (16,000 H8 cells; three realizations of 2,592).
SLOW_CHECKS = {"heat_sink3d.yaml", "cantilever3d_robust.yaml"}


@pytest.mark.parametrize("path", small_configs(), ids=lambda p: p.name)
def test_check_grad_passes_on_every_config(path):
    """Objective and constraints of each example, with the default tolerance (rate ≥ 1.9);
    projection configs at their schedule's start value of beta (a fixed beta). The
    finite-difference table once judged components far below the gradient's scale on their
    own size and cried wolf (lbracket_stress.yaml: 3.5e-5 against a tolerance of 1e-5)."""
    result = invoke("check-grad", path, "--samples", "1")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok: smallest rate ")
    assert "(at least 1.9: tolerance 0.1)" in result.output.splitlines()[-1]


def test_check_grad_judges_small_components_on_the_gradients_scale():
    """lbracket_stress.yaml, seed 0: the p-norm's derivative along x[5645] is 3.6e-5 against
    a largest of 0.70; its finite difference carries the values' round-off, and the former
    per-component relative error (3.3e-5 > 1e-5) said FAILED for a right gradient."""
    result = invoke("check-grad", CONFIGS / "lbracket_stress.yaml", "--samples", "2", "--seed", "0")
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.output.splitlines() if line.startswith("constraints[0] (stress)")
             and line.split()[2].startswith("x[")]
    assert [row[2] for row in table] == ["x[1297]", "x[5645]"]  # the components the former check drew
    assert float(table[1][3]) == pytest.approx(3.627e-5, rel=1e-3)
    assert max(float(row[-1]) for row in table) < 1e-7  # over ‖∇f‖∞ = 0.70, not over 3.6e-5


def test_check_grad_prints_rates_floors_and_the_table():
    result = invoke("check-grad", CONFIGS / "mbb.yaml", "--samples", "2", "--seed", "7")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    taylor = [line for line in lines if line.startswith("objective (compliance)") and line.split()[2] in "01"]
    assert len(taylor) == 2
    rates = [float(r) for r in taylor[0].split()[6:]]
    assert len(rates) >= 4 and all(abs(r - 2) < 0.1 for r in rates)  # down to 100 × the floor
    volume = [line for line in lines if line.startswith("constraints[0] (volume)")]
    assert "at the floor: linear along d" in volume[0]  # the volume is linear in x
    assert any(line.startswith("constraints[0] (volume)          ok: linear to round-off along every direction")
               for line in lines)
    assert any(line.startswith("objective (compliance)           ok: rate 2.0") for line in lines)
    table = [line for line in lines if line.split()[2].startswith("x[") or line.split()[2] == "direction"]
    assert len(table) == 2 * 4 and max(float(line.split()[-1]) for line in table) < 1e-6


def test_check_grad_fails_a_gradient_wrong_by_one_percent(monkeypatch):
    """One term of the chain rule (dL/dE_e = −λ_eᵀ K_e u_e, every response's adjoint term)
    scaled by 1.01: the remainders fall as h, not h²."""
    from femopt import adjoint

    pullback = adjoint.stiffness_pullback
    monkeypatch.setattr(adjoint, "stiffness_pullback", lambda *args: 1.01 * pullback(*args))
    result = invoke("check-grad", CONFIGS / "mbb.yaml", "--samples", "2")
    assert result.exit_code == 1, result.output
    last = result.output.splitlines()[-1]
    assert last.startswith("Taylor test FAILED: objective (compliance) converge(s) at rate 1.0")
    assert last.endswith("< 1.9 (tolerance 0.1)")
    verdict = next(line for line in result.output.splitlines()
                   if line.startswith("objective (compliance)           FAILED: rate"))
    assert abs(float(verdict.split()[4]) - 1) < 0.05


@pytest.mark.parametrize("value", ["-1", "1", "nan"])
def test_check_grad_refuses_a_tolerance_outside_0_1(value):
    """A rate tolerance of 1 or more would pass a wrong gradient (rate 1)."""
    result = invoke("check-grad", CONFIGS / "mbb.yaml", "--tolerance", value)
    assert result.exit_code == 2 and "--tolerance" in result.output
    if value == "nan":
        assert result.stderr == "error: --tolerance: must be in (0, 1), got nan\n"


@pytest.mark.parametrize("solver", ["amg", pytest.param("reuse", marks=pytest.mark.skipif(
    not femopt.solvers.cholmod_available(), reason="reuse keeps a CHOLMOD factor"))])
def test_check_grad_solves_iterative_solvers_to_round_off(tmp_path, solver):
    """A loose CG tolerance (1e-6) would show in the finite differences; check-grad tightens it."""
    data = {"mesh": {"grid": [12, 4, 3]},
            "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 12, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
            "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5}},
            "solver": {"type": solver, "rtol": 1e-6}}
    result = invoke("check-grad", write(tmp_path, data), "--samples", "2")
    assert result.exit_code == 0, result.output


def test_python_loss_from_a_file_next_to_the_config(tmp_path):
    (tmp_path / "myloss.py").write_text(
        "import numpy as np\n\ndef loss(u):\n    return float(np.sum(u**2)), 2 * u\n")
    data = mbb_data(nx=12, ny=5, filter_type="density", type="mma")
    data["objective"] = {"type": "python", "function": "myloss.py:loss"}
    result = invoke("check-grad", write(tmp_path, data), "--samples", "2")
    assert result.exit_code == 0, result.output  # loading errors: test_build.py


# ---------------------------------------------------------------- faults found by the audit


def test_volume_fraction_one_with_oc_runs(tmp_path):
    data = mbb_data(10, 4)
    data["design"]["volume_fraction"] = 1.0
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["volume"] == 1.0


def test_a_nan_objective_stops_the_run_with_exit_1(tmp_path):
    (tmp_path / "loss.py").write_text("import numpy as np\n"
                                      "def loss(u):\n    return float('nan'), np.zeros_like(u)\n")
    data = mbb_data(10, 4, type="mma")
    data["objective"] = {"type": "python", "function": "loss.py:loss"}
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert result.stderr == "error: objective is nan at iteration 1; the run stops " \
                            "(check a python loss, the material and the loads)\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, message", [
    ("    raise KeyError('boom')", "python loss 'loss.py:loss' raised KeyError: 'boom'"),
    ("    return 1.0, np.zeros(3)", "python loss 'loss.py:loss' returned dL/du of shape (3,); "
                                  "expected (110, 1) (n_dofs, n_cases), like u"),
])
def test_errors_of_a_python_loss_are_one_line(tmp_path, body, message):
    (tmp_path / "loss.py").write_text(f"import numpy as np\ndef loss(u):\n{body}\n")
    data = mbb_data(10, 4, type="mma")
    data["objective"] = {"type": "python", "function": "loss.py:loss"}
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out", "-q")
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


@pytest.mark.parametrize("args, message", [
    (["run", ""], "error: no problem file given (an empty path)\n"),
    (["run", "{config}", "-o", ""], "error: -o/--outdir: an empty folder name; leave the option out "
                                    "for out/<problem>\n"),
    (["check-grad", "{config}", "--step", "10"], "error: --step: 10 would move the random design "
                                                 "(0.2 to 0.9) outside [0, 1]; use at most 0.05\n"),
])
def test_small_faults_are_one_line(tmp_path, args, message):
    config = write(tmp_path, mbb_data(10, 4))
    result = invoke(*[a.format(config=config) for a in args])
    assert result.exit_code == 2 and result.stderr == message


def test_check_grad_caps_samples_at_the_design_variables(tmp_path):
    result = invoke("check-grad", write(tmp_path, mbb_data(3, 2)), "--samples", "50")
    assert result.exit_code == 0, result.output
    assert "note: --samples 50 capped at the 6 design variables" in result.output


def test_validate_says_what_each_selection_caught(tmp_path):
    result = invoke("validate", write(tmp_path, mbb_data(20, 8)))
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == ["  supports[0]: 9 nodes, fixed in x",
                                              "  supports[1]: 1 node, fixed in y",
                                              "  loads[0]: 1 node, force per node [0, -1]"]
    assert "memory about" in result.output.splitlines()[0]


def test_warnings_go_to_stderr_and_the_summary(tmp_path):
    data = mbb_data(10, 4)
    data["loads"] = [{"at": {"x": 0}, "force": [1.0, -1.0]}]  # x is fixed along x = 0
    result = invoke("run", write(tmp_path, data), "-o", tmp_path / "out", "-q", "--max-iterations", "2")
    assert result.exit_code == 0
    warning = "loads[0]: 50.0% of the load acts on fixed DOFs (supported nodes) and is dropped"
    assert result.stderr == f"warning: {warning}\n"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"] == [warning]


def test_second_run_into_the_same_folder_exits_2_at_once_and_the_first_completes(tmp_path):
    config, out = str(write(tmp_path, mbb_data(30, 10, type="mma"))), str(tmp_path / "out")
    first = subprocess.Popen([sys.executable, "-m", "femopt.cli", "run", config, "-o", out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in first.stdout:  # wait until it iterates, holding the folder
        if line.split() and line.split()[0] == "1":
            break
    second = invoke("run", config, "-o", out, "-q")
    assert second.exit_code == 2
    assert second.stderr.startswith("error: ") and f"in use by another femopt run (PID {first.pid})" in second.stderr
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["status"] == "converged"


# ---------------------------------------------------------------- mesh files


def mesh_file_problem(tmp_path, mesh_name="plate.msh"):
    """The plate problem of test_meshfile, its mesh file named relative to the YAML file."""
    from test_meshfile import plate_msh, plate_problem

    (tmp_path / "meshes").mkdir(exist_ok=True)
    plate_msh(tmp_path / "meshes" / "plate.msh")
    data = plate_problem(f"../meshes/{mesh_name}")
    (tmp_path / "configs").mkdir(exist_ok=True)
    return data


def test_a_mesh_file_problem_validates_and_runs(tmp_path):
    config = write(tmp_path / "configs", mesh_file_problem(tmp_path))
    result = invoke("validate", config)
    assert result.exit_code == 0, result.output
    assert "2D, 64 elements" in result.stdout
    assert result.stdout.splitlines()[1:] == ["  supports[0]: 5 nodes, fixed in x, y",
                                              "  loads[0]: 4 facets, 5 nodes, traction [0, -1]",
                                              "  loads[1]: 8 facets, 9 nodes, pressure 0.1"]
    # the top edge's corner node is clamped: half of one of its 8 segments' load
    assert result.stderr == "warning: loads[1]: 6.2% of the load acts on fixed DOFs (supported nodes) and is dropped\n"
    out = tmp_path / "out"
    result = invoke("run", config, "-o", out, "-q", "--max-iterations", "2")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["iterations"] == 2
    assert np.load(out / "result.npz")["rho"].shape == (64,)


def _mixed(path):
    import meshio

    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0]], float)
    meshio.write(path, meshio.Mesh(points, [("quad", np.array([[0, 1, 2, 3]])), ("triangle", np.array([[1, 4, 2]]))]),
                 file_format="gmsh22", binary=False)


def _inverted(path):
    import meshio

    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0], [2, 1]], float)  # the second quad clockwise
    meshio.write(path, meshio.Mesh(points, [("quad", np.array([[0, 1, 2, 3], [1, 2, 5, 4]]))]),
                 file_format="gmsh22", binary=False)


BAD_MESHES = {  # how to spoil the plate problem, what the one line says
    "missing": (lambda d, m: d["mesh"].update(file="../meshes/none.msh"),
                "mesh.file: ", "none.msh: cannot read the mesh file: No such file or directory"),
    "unreadable": (lambda d, m: (m / "junk.msh").write_text("$MeshFormat\nnonsense\n")
                   and d["mesh"].update(file="../meshes/junk.msh"), "mesh.file: ", "junk.msh: cannot read the mesh file"),
    "mixed": (lambda d, m: _mixed(m / "mixed.msh") or d["mesh"].update(file="../meshes/mixed.msh"),
              "mesh.file: ", "mixed.msh: mixed domain cell types (1 quad, 1 triangle)"),
    "inverted": (lambda d, m: _inverted(m / "inv.msh") or d["mesh"].update(file="../meshes/inv.msh"),
                 "mesh.file: ", "inv.msh: cell 1 is inverted or degenerate"),
    "unknown group": (lambda d, m: d["loads"][0]["at"].update(group="tipp"), "loads[0].at.group: ",
                      "unknown group 'tipp' (did you mean 'tip'? the mesh has: clamp, corner, pad, tip, top)"),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", list(BAD_MESHES))
def test_bad_meshes_are_one_line_exit_2_and_write_nothing(tmp_path, case, command):
    spoil, path, expected = BAD_MESHES[case]
    data = mesh_file_problem(tmp_path)
    spoil(data, tmp_path / "meshes")
    config = write(tmp_path / "configs", data)
    out = tmp_path / "out"
    result = invoke(command, config, *(["-o", out] if command == "run" else []))
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith(f"error: {config}: {path}") and expected in message, message
    assert "\n" not in message and "Traceback" not in result.output
    assert not out.exists()


def test_run_prints_each_setup_phase_and_its_seconds(tmp_path, monkeypatch):
    """A large run (a grid of SETUP_ELEMENTS elements or more) never sits silent: every phase
    before the first iteration, and the writing of the files, prints its name and seconds
    (an injected clock: 1 s per reading)."""
    import itertools

    from femopt import cli

    ticks = itertools.count()
    monkeypatch.setattr(cli, "SETUP_CLOCK", lambda: float(next(ticks)))
    small = invoke("run", CONFIGS / "mbb.yaml", "-o", tmp_path / "small", "--max-iterations", "1")
    assert "setup:" not in small.output  # 1,200 elements: set up in a blink, printed as before
    monkeypatch.setattr(cli, "SETUP_ELEMENTS", 1000)
    result = invoke("run", CONFIGS / "mbb.yaml", "-o", tmp_path / "out", "--max-iterations", "1")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("setup:")]
    assert lines == [f"setup: {phase} … 1.0 s" for phase in
                     ("memory estimate", "mesh", "problem", "responses", "filter", "solver",
                      "solver analysis", "writing the files")]
    quiet = invoke("run", CONFIGS / "mbb.yaml", "-o", tmp_path / "q", "--max-iterations", "1", "-q")
    assert "setup:" not in quiet.output
