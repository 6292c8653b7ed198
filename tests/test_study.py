"""Studies (femopt.study): spec validation, a local Dask study, its reuse of finished cases,
failures, and a study on a separate Dask scheduler. Problems are 20×8 MBBs of 5 iterations."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import mbb_data, write_yaml

import femopt
from femopt.cli import main
from femopt.errors import ConfigError
from femopt.study import runner
from femopt.study.spec import load_study, parse_study

ROOT = Path(__file__).resolve().parents[1]
VARY = {"design.volume_fraction": [0.3, 0.4], "design.filter.radius": [1.5, 3.0]}
NAMES = ["volume_fraction=0.3,radius=1.5", "volume_fraction=0.3,radius=3.0",
         "volume_fraction=0.4,radius=1.5", "volume_fraction=0.4,radius=3.0"]


def base_problem():
    return mbb_data(20, 8, max_iterations=5)


def write_study(directory, **study) -> Path:
    """A study file in ``directory`` whose base is a problem file beside it."""
    write_yaml(directory, base_problem(), "mbb.yaml")
    text = yaml.safe_dump({"study": "s", "base": "mbb.yaml", **study}, sort_keys=False)  # the file's order matters
    return write_yaml(directory, text, "s.yaml")


def cli(*args):
    return CliRunner().invoke(main, ["study", *[str(a) for a in args]])


def table(outdir) -> dict[str, tuple]:
    """study.json's rows: name → (objective, volume, iterations, status)."""
    rows = json.loads((Path(outdir) / "study.json").read_text())["cases"]
    return {r["name"]: (r["objective"], r["volume"], r["iterations"], r["status"]) for r in rows}


def mtimes(outdir) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(Path(outdir, "cases").rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- the study file


@pytest.mark.parametrize("study, expected", [
    ({"vary": {"design.volum_fraction": [0.3]}}, "design.volum_fraction: unknown key (did you mean 'volume_fraction'?)"),
    ({"vary": {"design.volume_fraction": [0.3, 1.5]}}, "case volume_fraction=1.5: design.volume_fraction: must be in (0, 1]"),
    ({"vary": {"design.volume_fraction": []}}, "vary.design.volume_fraction: an empty list"),
    ({"cases": [{"name": "a", "set": {"design.volume_fraction": 0.3}},
                {"name": "a", "set": {"design.volume_fraction": 0.4}}]}, "two cases are named 'a'"),
    ({"zip": {"design.volume_fraction": [0.3, 0.4], "design.filter.radius": [1.5]}},
     "zip: the lists must have equal lengths, got design.volume_fraction 2, design.filter.radius 1"),
    ({"vary": {"mesh.grid.x": [3]}}, "mesh.grid is a list of 2; 'x' is not an index in it"),
    ({"vary": {"constraints.0.limit": [0.3]}}, "the problem has no constraints list to number into"),
    ({"cases": [{"set": {"design.volume_fraction": 0.3}}], "vary": VARY}, "give either cases: or vary:/zip:"),
    ({"vary": VARY, "plot": {"x": "design.penalty"}}, "plot.x: 'design.penalty' is neither a varied path"),
])
def test_a_bad_study_is_one_line_exit_2_and_runs_nothing(tmp_path, study, expected):
    path = write_study(tmp_path, **study)
    result = cli(path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_cases_names_values_and_plot_defaults(tmp_path):
    spec = load_study(write_study(tmp_path, vary=VARY))
    assert spec.name == "s" and spec.varied == list(VARY)
    assert [c.name for c in spec.cases] == NAMES  # the last path varies fastest
    assert spec.cases[1].values == {"design.volume_fraction": 0.3, "design.filter.radius": 3.0}
    assert spec.cases[1].problem["design"]["filter"]["radius"] == 3.0
    assert spec.cases[1].problem["problem"] == "mbb-beam"
    assert spec.plot == {"x": "design.volume_fraction", "y": "objective", "series": "design.filter.radius"}
    assert base_problem()["design"]["volume_fraction"] == 0.5  # the base is not changed


def test_zip_crosses_vary_and_names_are_disambiguated():
    spec = parse_study({"problem": base_problem(),
                        "vary": {"design.filter.radius": [1.5, 2.0]},
                        "zip": {"design.volume_fraction": [0.3, 0.4], "loads.0.force": [[0, -1], [0, -2]]}})
    assert len(spec.cases) == 4 and spec.plot["series"] == "design.volume_fraction"
    assert [c.name for c in spec.cases[:2]] == ["radius=1.5,volume_fraction=0.3,force=0x-1",
                                                "radius=1.5,volume_fraction=0.4,force=0x-2"]
    assert spec.cases[1].problem["loads"][0]["force"] == [0, -2]
    from femopt.study.spec import _labels  # two paths of the schema rarely share a last component
    assert _labels(["design.filter.radius", "other.radius", "mesh.grid"]) == {
        "design.filter.radius": "filter.radius", "other.radius": "other.radius", "mesh.grid": "grid"}


def test_explicit_cases_fill_in_the_base_values():
    spec = parse_study({"problem": base_problem(), "cases": [
        {"name": "fine", "set": {"mesh.grid": [40, 16], "mesh.size": [40.0, 16.0], "design.filter.radius": 3.0}},
        {"set": {"design.volume_fraction": 0.3}}]})
    assert [c.name for c in spec.cases] == ["fine", "volume_fraction=0.3"]
    assert spec.cases[1].values == {"mesh.grid": [20, 8], "mesh.size": [20.0, 16.0 / 2],
                                    "design.filter.radius": 1.5, "design.volume_fraction": 0.3}


def test_dry_run_lists_cases_with_memory_and_writes_nothing(tmp_path):
    result = cli(write_study(tmp_path, vary=VARY), "-o", tmp_path / "out", "--dry-run", "--workers", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == NAMES
    assert "design.volume_fraction=0.3, design.filter.radius=1.5; memory about" in lines[0]
    assert lines[4].startswith("s: 4 cases, would run on 2 local workers")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- running a study


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    """The 2×2 study run once on 2 local workers through the command line."""
    folder = tmp_path_factory.mktemp("study")
    path = write_study(folder, vary=VARY)
    result = cli(path, "-o", folder / "out", "--workers", "2")
    return path, folder / "out", result


def test_a_local_study_runs_every_case_like_femopt_run(local_study):
    path, outdir, result = local_study
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "s: 4 cases, 4 to run on 2 local workers"
    finished = [line for line in lines if ": objective " in line]
    assert sorted(line.split(":")[0] for line in finished) == NAMES
    assert all(", 5 iterations, iteration_limit, " in line for line in finished)
    assert lines[2].startswith("  [1 done (0 failed), 2 running, 1 queued; ")
    assert lines[-1] == f"s: 4 of 4 cases done (4 run now, 0 from before); results in {outdir}/"
    rows = table(outdir)
    assert list(rows) == NAMES
    for case in load_study(path).cases:
        reference = femopt.run(case.problem)  # the merged problem, as `femopt run` would run it
        assert rows[case.name] == (reference.objective, reference.volume, 5, "iteration_limit")
        summary = json.loads((outdir / "cases" / case.name / "summary.json").read_text())
        assert summary["objective"] == reference.objective
        assert summary["study"]["parameters"] == case.values
        assert (outdir / "cases" / case.name / "density.png").is_file()


def test_a_rerun_skips_finished_cases_and_runs_interrupted_ones(local_study, tmp_path):
    path, original, _ = local_study
    outdir = tmp_path / "out"
    shutil.copytree(original, outdir)
    before = mtimes(outdir)
    again = femopt.study(path, outdir)
    assert again.ran == [] and not again.failed
    assert mtimes(outdir) == before  # nothing rewritten
    assert {r.name: (r.objective, r.volume, r.iterations, r.status) for r in again.records} == table(original)
    frame = again.to_pandas()  # pandas is in the test extra
    assert frame["name"].tolist() == NAMES and frame["objective"].tolist() == [r.objective for r in again.records]
    assert set(frame.columns) >= set(again.records[0].parameters) | {"iterations", "status", "error"}

    # Interrupted: one case's folder is gone, another holds a run stopped after 2 iterations
    # (its checkpoint, no summary of the study).
    gone, partial = NAMES[0], NAMES[3]
    shutil.rmtree(outdir / "cases" / gone)
    shutil.rmtree(outdir / "cases" / partial)
    femopt.run(load_study(path).cases[3].problem, outdir / "cases" / partial, max_iterations=2)
    assert (outdir / "cases" / partial / "checkpoint.npz").is_file()
    kept = {p: t for p, t in mtimes(outdir).items() if gone not in p and partial not in p}
    result = femopt.study(path, outdir, workers=1)
    assert sorted(result.ran) == sorted([gone, partial])
    assert {p: t for p, t in mtimes(outdir).items() if p in kept} == kept
    assert table(outdir) == table(original)  # the resumed case ends where the uninterrupted one did


def test_a_failing_case_is_recorded_and_the_others_finish(tmp_path):
    floating = [{"at": {"x": 0}, "fix": ["x"]}]  # y is free: a rigid-body mode
    path = write_study(tmp_path, cases=[{"name": "ok", "set": {"design.volume_fraction": 0.4}},
                                        {"name": "floating", "set": {"supports": floating}}])
    outdir = tmp_path / "out"
    result = cli(path, "-o", outdir, "--workers", "1", "--quiet")
    assert result.exit_code == 1
    assert result.stdout == (f"s: 1 of 2 cases done (2 run now, 0 from before), 1 failed: floating; "
                             f"results in {outdir}/\n")
    assert "floating: failed: " in result.stderr and "rigid body" in result.stderr
    rows = json.loads((outdir / "study.json").read_text())["cases"]
    assert [r["status"] for r in rows] == ["iteration_limit", "failed"]
    assert "the structure can still move as a rigid body" in rows[1]["error"]
    assert rows[1]["objective"] is None
    assert "rigid body" in json.loads((outdir / "state.json").read_text())["failed"]["floating"]["error"]

    again = femopt.study(path, outdir)  # recorded failures are not run again ...
    assert again.ran == [] and [r.name for r in again.failed] == ["floating"]
    assert "rigid body" in again.failed[0].error
    retried = femopt.study(path, outdir, workers=1, retry_failed=True)  # ... unless asked
    assert retried.ran == ["floating"] and [r.name for r in retried.failed] == ["floating"]


def test_a_dead_worker_fails_its_case_only():
    from distributed import KilledWorker

    from femopt.study.runner import _record
    from femopt.study.spec import Case

    class Dead:
        status = "error"

        def exception(self):
            return KilledWorker("femopt-case-a", "tcp://127.0.0.1:1", 1)

    record, details = _record(Dead(), Case("a", {"p": 1}, {}), Path("x"))
    assert record.failed and record.error.startswith("the worker running it died")


def test_local_workers_fit_cores_cases_and_memory(monkeypatch):
    from femopt.build import memory_estimate
    from femopt.solvers import memory
    from femopt.study.runner import case_config, local_workers

    spec = parse_study({"problem": base_problem(), "vary": VARY})
    peak = max(memory_estimate(case_config(spec, case)).total_bytes for case in spec.cases)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * peak)
    assert local_workers(spec) == 4  # no more than the cases
    monkeypatch.setattr(memory, "available_bytes", lambda: 2.5 * peak)
    assert local_workers(spec) == 2  # two cases fit in memory at a time
    monkeypatch.setattr(memory, "available_bytes", lambda: 0.5 * peak)
    assert local_workers(spec) == 1  # one, and femopt.run says whether it fits


def test_the_python_api_is_exported_lazily(tmp_path):
    import femopt.study.runner  # noqa: F401  (the package is then an attribute of femopt)

    assert callable(femopt.study) and "study" in dir(femopt)
    with pytest.raises(ConfigError, match="nothing to vary"):
        femopt.study({"problem": base_problem()}, tmp_path / "out")


def test_conflicting_options_are_one_line(tmp_path):
    result = cli(write_study(tmp_path, vary=VARY), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2 and result.stderr.startswith("error: --workers: ")


# ---------------------------------------------------------------- a separate Dask cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_study_on_a_dask_scheduler_gives_the_local_table(local_study, tmp_path, monkeypatch):
    from distributed import Client

    path, local, _ = local_study
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    processes = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--no-dashboard"], **quiet))
        with Client(address, timeout="60s"):
            pass  # the scheduler is up
        monkeypatch.setattr(runner, "WORKER_WAIT", 0.5)
        alone = cli(path, "-o", tmp_path / "alone", "--scheduler", address)
        assert alone.exit_code == 2 and "no worker joined" in alone.output, alone.output
        assert not (tmp_path / "alone" / "cases").exists()
        monkeypatch.undo()
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--nworkers", "1", "--no-dashboard"], **quiet))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        result = cli(path, "-o", tmp_path / "out", "--scheduler", address)
        assert result.exit_code == 0, result.output
        assert f"4 to run on the scheduler at {address}" in result.stdout
        assert table(tmp_path / "out") == table(local)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
