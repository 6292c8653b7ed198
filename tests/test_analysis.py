"""femopt analyze / femopt.analyze, and the problem-file keys of the eigenvalue responses."""

import json
import subprocess
import sys

import meshio
import numpy as np
import pytest
import yaml

import femopt
from femopt.config import parse_config
from femopt.errors import ConfigError

STRIP = {"problem": "strip", "mesh": {"grid": [16, 4], "size": [4.0, 1.0]},
         "supports": [{"at": {"x": 0}, "fix": "all"}],
         "design": {"volume_fraction": 0.5, "filter": {"type": "density", "radius": 0.4}},
         "objective": {"type": "frequency", "modes": 3},
         "constraints": [{"type": "volume", "limit": 0.5}],
         "optimizer": {"type": "mma", "max_iterations": 3}}


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "femopt.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def write(tmp_path, data, name="p.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_analyze_writes_the_files_and_eigenvalues_of_the_starting_design(tmp_path):
    path = write(tmp_path, STRIP)
    out = tmp_path / "out"
    done = cli("analyze", path, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "frequency 1 (Hz):" in done.stdout and "starting design" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "analyzed" and summary["iterations"] == 0
    assert len(summary["eigenfrequencies_hz"]) == 3
    assert summary["eigenfrequencies_hz"] == sorted(summary["eigenfrequencies_hz"])
    assert {"modes.png", "density.vtu", "density.png", "result.npz"} <= {p.name for p in out.iterdir()}
    vtu = meshio.read(out / "density.vtu")
    assert vtu.point_data["vibration_mode_1"].shape == (17 * 5, 3)
    # the uniform design: every element at the volume fraction
    np.testing.assert_allclose(np.load(out / "result.npz")["rho"], 0.5)


def test_analyze_at_a_result_design_repeats_the_runs_last_evaluation(tmp_path):
    data = {**STRIP, "objective": "compliance", "loads": [{"at": {"x": 4.0}, "force": [0.0, -1.0]}],
            "constraints": [{"type": "volume", "limit": 0.5}, {"type": "frequency", "min_hz": 0.005, "modes": 2},
                            {"type": "buckling", "min_factor": 0.01, "modes": 2}]}
    path = write(tmp_path, data)
    run = femopt.run(str(path), tmp_path / "run")
    result = femopt.analyze(str(path), design=tmp_path / "run" / "result.npz")
    np.testing.assert_allclose(result.rho, run.rho)
    np.testing.assert_allclose(result.fields["eigenfrequencies_hz"], run.fields["eigenfrequencies_hz"], rtol=1e-10)
    np.testing.assert_allclose(result.fields["buckling_load_factors"], run.fields["buckling_load_factors"],
                               rtol=1e-10)
    assert result.objective == pytest.approx(run.objective, rel=1e-10)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(summary["buckling_load_factors"]) == 2 and len(summary["eigenfrequencies_hz"]) == 2


def test_analyze_a_compliance_problem_in_3d(tmp_path):
    data = {"problem": "cube", "mesh": {"grid": [6, 2, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
            "loads": [{"at": {"x": 6}, "force": [0.0, -1.0, 0.0]}], "design": {"volume_fraction": 0.5},
            "objective": "compliance", "constraints": [{"type": "volume", "limit": 0.5},
                                                       {"type": "frequency", "min_hz": 0.01, "modes": 2}],
            "optimizer": {"type": "mma"}}
    out = tmp_path / "out"
    done = cli("analyze", write(tmp_path, data), "-o", out)
    assert done.returncode == 0, done.stderr
    assert "objective:" in done.stdout
    assert (out / "modes.png").stat().st_size > 0
    assert "vibration_mode_2" in meshio.read(out / "density.vtu").point_data


@pytest.mark.parametrize("design, message", [
    ("missing.npz", "error: --design: cannot read"),
    ("other.npz", "error: --design: .* holds a design of 12 elements; this problem's mesh has 64"),
])
def test_analyze_rejects_a_design_it_cannot_use(tmp_path, design, message):
    np.savez(tmp_path / "other.npz", x=np.full(12, 0.5))
    out = tmp_path / "out"
    done = cli("analyze", write(tmp_path, STRIP), "--design", tmp_path / design, "-o", out)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    import re
    assert re.search(message, done.stderr), done.stderr
    assert not out.exists()


BAD = [
    ({"constraints": [{"type": "frequency", "modes": 2}]}, "constraints[0]: missing required key 'min_hz'"),
    ({"constraints": [{"type": "frequency", "limit": 2}]},
     "constraints[0].limit: a frequency constraint is a lower bound: give min_hz instead"),
    ({"objective": {"type": "frequency", "min_hz": 2}}, "objective.min_hz: bounds a frequency constraint"),
    ({"objective": {"type": "buckling", "min_factor": 2}, "loads": [{"at": {"x": 4}, "force": [-1, 0]}]},
     "objective.min_factor: bounds a buckling constraint"),
    ({"objective": {"type": "frequency", "modes": 0}}, "objective.modes: must be >= 1"),
    ({"objective": "compliance"}, "missing required key 'loads'"),
    ({"optimizer": {"type": "oc"}}, "optimizer.type: oc handles compliance"),
    ({"point_masses": [{"at": {"x": 4}, "mas": 1}]}, "point_masses[0].mas: unknown key"),
    ({"point_masses": [{"at": {"x": 4}, "mass": -1}]}, "point_masses[0].mass: must be > 0"),
    ({"material": {"density": 0}}, "material.density: must be > 0"),
    ({"objective": {"type": "buckling"}, "loads": [{"at": {"x": 4}, "force": [1, 0]}],
      "constraints": [{"type": "buckling", "min_factor": 1, "case": 1}]}, "constraints[0].case: must be < 1"),
]


@pytest.mark.parametrize("changes, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_eigenvalue_keys_are_one_line_errors(changes, expected):
    with pytest.raises(ConfigError) as info:
        parse_config({**STRIP, **changes}, source="p.yaml")
    assert expected in str(info.value)


def test_point_mass_selection_and_heat_are_checked(tmp_path):
    done = cli("validate", write(tmp_path, {**STRIP, "point_masses": [{"at": {"x": 9}, "mass": 1.0}]}))
    assert done.returncode == 2 and "point_masses[0].at: selects no node" in done.stderr
    with pytest.raises(ConfigError, match="frequency needs displacements"):
        parse_config({**STRIP, "physics": "heat", "supports": [{"at": {"x": 0}, "fix": ["t"]}]})


def test_point_masses_lower_the_frequencies():
    light = femopt.analyze(STRIP).fields["eigenfrequencies_hz"]
    heavy = femopt.analyze({**STRIP, "point_masses": [{"at": {"x": 4.0}, "mass": 1.0}]}).fields["eigenfrequencies_hz"]
    assert np.all(heavy < light)
    dense = femopt.analyze({**STRIP, "material": {"density": 4.0}}).fields["eigenfrequencies_hz"]
    np.testing.assert_allclose(dense, light / 2, rtol=1e-9)   # ω ∝ 1/√density


def test_a_frequency_run_resumes_to_the_uninterrupted_result(tmp_path):
    """The bound's scale is evaluator state: a checkpoint keeps it, and a resumed run ends
    where an uninterrupted one does."""
    data = {**STRIP, "optimizer": {"type": "mma", "max_iterations": 8}}
    whole = femopt.run(data, tmp_path / "whole")
    femopt.run(data, tmp_path / "parts", max_iterations=4)
    resumed = femopt.run(data, tmp_path / "parts", resume=True)
    assert resumed.iterations == whole.iterations == 8
    assert resumed.objective == pytest.approx(whole.objective, rel=1e-10)
    np.testing.assert_allclose(resumed.fields["eigenfrequencies_hz"], whole.fields["eigenfrequencies_hz"],
                               rtol=1e-10)
