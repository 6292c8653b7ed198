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


# ---------------------------------------------------------------- the study's folder (issue 22)


def one_case_study(directory, **problem) -> Path:
    """A study of one 20×8 case (the base problem with ``problem``'s optimizer entries)."""
    write_yaml(directory, {**base_problem(), "optimizer": {**base_problem()["optimizer"], **problem}}, "mbb.yaml")
    text = yaml.safe_dump({"study": "s", "base": "mbb.yaml",
                           "cases": [{"name": "a", "set": {"design.volume_fraction": 0.4}}]}, sort_keys=False)
    return write_yaml(directory, text, "s.yaml")


def no_cluster(*args, **kwargs):
    raise AssertionError("the study started a Dask cluster")


@pytest.mark.parametrize("where, expected", [
    ("/", "is a mount point"),
    (".", "is the current folder or contains it"),
    ("..", "is the current folder or contains it"),
    ("mine", "holds notes.txt, not written by femopt"),
    ("mine_case", "holds notes.txt, not written by femopt"),
])
def test_a_study_refuses_the_folders_femopt_run_refuses(tmp_path, monkeypatch, where, expected):
    path = one_case_study(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    (tmp_path / "mine_case" / "cases" / "a").mkdir(parents=True)  # a case's name, but not a study's folder
    (tmp_path / "mine_case" / "notes.txt").write_text("the user's")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work if where == ".." else tmp_path)
    monkeypatch.setattr(runner, "_client", no_cluster)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = cli(path, "-o", where)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written
    assert (tmp_path / "mine" / "notes.txt").read_text() == "the user's"
    assert not Path("/study.json").exists() and not Path("/cases").exists()


def test_a_second_study_into_the_same_folder_is_refused_at_once(tmp_path, monkeypatch):
    from contextlib import contextmanager

    path = write_study(tmp_path, vary=VARY)
    outdir = tmp_path / "out"
    second = []

    class Running(Exception):
        pass

    @contextmanager
    def first_cluster(scheduler, workers):  # the first study is about to run its cases
        second.append(cli(path, "-o", outdir, "--workers", "1"))  # it would start a cluster: no_cluster
        raise Running

    monkeypatch.setattr(runner, "_client", first_cluster)
    with pytest.raises(Running):
        femopt.study(path, outdir, workers=1)
    assert second[0].exit_code == 2, second[0].output
    assert second[0].stderr == (f"error: {outdir}: in use by another femopt run (PID {os.getpid()}); "
                                f"wait for it to finish or choose another folder\n")
    assert second[0].stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mbb.yaml", "s.yaml"]  # lock released, out/ empty: gone


@pytest.mark.parametrize("study, where", [
    ({"cases": [{"name": "n" * 223, "set": {"design.volume_fraction": 0.4}}]}, "cases[0].name"),
    ({"vary": {"problem": ["p" * 250]}}, "vary"),
])
def test_case_names_too_long_for_a_folder_are_refused_by_the_dry_run(tmp_path, study, where):
    path = write_study(tmp_path, **study)
    result = cli(path, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}: {where}: ") and "bytes long" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert "n" * 222 in load_study(write_study(tmp_path, cases=[
        {"name": "n" * 222, "set": {"design.volume_fraction": 0.4}}])).cases[0].name  # the longest allowed


@pytest.mark.parametrize("outdir", ["o" * 223, "x" * 256 + "/out"])
def test_an_output_folder_name_too_long_is_refused_by_the_dry_run(tmp_path, monkeypatch, outdir):
    monkeypatch.chdir(tmp_path)
    result = cli(write_study(tmp_path, vary=VARY), "-o", outdir, "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and " bytes" in result.stderr and "allow" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_case_names_differing_only_in_letter_case_are_refused(tmp_path):
    path = write_study(tmp_path, cases=[{"name": "Fine", "set": {"design.volume_fraction": 0.4}},
                                        {"name": "coarse", "set": {"design.volume_fraction": 0.3}},
                                        {"name": "fine", "set": {"design.volume_fraction": 0.5}}])
    result = cli(path, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {path}: cases: the cases 'Fine' and 'fine' differ only in letter "
                             f"case; their folders would be one on macOS and Windows\n")


def test_more_workers_than_cores_are_capped_with_a_notice(tmp_path, monkeypatch):
    from femopt.solvers import memory

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(memory, "available_bytes", lambda: 1e12)
    path = write_study(tmp_path, vary=VARY)
    result = cli(path, "-o", tmp_path / "out", "--dry-run", "--workers", "1000")
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: --workers 1000 lowered to 3: the machine has 3 cores\n"
    assert result.stdout.splitlines()[-1].startswith("s: 4 cases, would run on 3 local workers")

    started = []

    class Started(Exception):
        pass

    def fake_client(scheduler, workers):  # records what the study would start
        started.append(workers)
        raise Started

    monkeypatch.setattr(runner, "_client", fake_client)
    notes = []
    with pytest.raises(Started):
        femopt.study(path, tmp_path / "out", workers=1000, on_note=notes.append)
    assert started == [3] and notes == ["--workers 1000 lowered to 3: the machine has 3 cores"]
    peak = max(runner.memory_estimates(load_study(path)).values(), key=lambda e: e.total_bytes).total_bytes
    monkeypatch.setattr(memory, "available_bytes", lambda: 2.5 * peak)
    assert runner.worker_count(load_study(path), load_study(path).cases, 1000) == (
        2, "--workers 1000 lowered to 2: the memory available fits 2 cases at a time")
    assert runner.worker_count(load_study(path), load_study(path).cases, 2) == (2, None)
    assert runner.worker_count(load_study(path), load_study(path).cases) == (2, None)  # the default: no note


class _Server:
    """A TCP server on 127.0.0.1 that accepts connections and says nothing, or garbage."""

    def __init__(self, reply: bytes):
        import threading

        self.socket = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = []
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)
            try:
                connection.sendall(self.reply)
            except OSError:
                pass

    def close(self):
        self.socket.close()
        for connection in self.connections:
            connection.close()


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n" * 50])
def test_a_scheduler_address_where_no_dask_listens_is_one_line(tmp_path, monkeypatch, reply):
    import time

    server = _Server(reply)
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", 0.5)
    try:
        started = time.monotonic()
        result = cli(write_study(tmp_path, vary=VARY), "-o", tmp_path / "out", "--scheduler", server.address)
        took = time.monotonic() - started
    finally:
        server.close()
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --scheduler: {server.address} did not answer as a Dask scheduler")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert took < 30  # the timeout, not the 120 s of distributed's handshake
    assert not (tmp_path / "out" / "cases").exists()


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "PYTHONUNBUFFERED": "1"}


def test_an_interrupted_study_is_one_line_and_exit_130(tmp_path, monkeypatch):
    from contextlib import contextmanager

    @contextmanager
    def interrupted_cluster(scheduler, workers):  # Ctrl-C while the cases run
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(runner, "_client", interrupted_cluster)
    path = write_study(tmp_path, vary=VARY)
    result = cli(path, "-o", tmp_path / "my out")
    assert result.exit_code == 130 and result.stdout == ""
    assert result.stderr == f"interrupted; finished cases are kept; go on with: femopt study {path} -o '{tmp_path}/my out'\n"
    assert not (tmp_path / "my out").exists() and not list(tmp_path.glob(".*femopt-lock"))
    with pytest.raises(runner.StudyInterrupted) as raised:  # the Python API
        femopt.study(path, tmp_path / "out")
    assert raised.value.signal == 2 and raised.value.exit_code == 130


@pytest.mark.slow
def test_ctrl_c_during_a_study_keeps_finished_cases_and_stops_the_cluster(tmp_path):
    import signal
    import time

    write_yaml(tmp_path, base_problem(), "mbb.yaml")
    long = {"mesh.grid": [240, 80], "mesh.size": [240.0, 80.0], "optimizer.max_iterations": 100000,
            "optimizer.tolerance": 1e-12}
    write_yaml(tmp_path, yaml.safe_dump({"study": "s", "base": "mbb.yaml", "cases": [
        {"name": "short", "set": {"design.volume_fraction": 0.4}}, {"name": "long", "set": long}]}), "s.yaml")
    outdir = tmp_path / "out"
    # A terminal's Ctrl-C reaches the whole process group: the study in a group of its own.
    process = subprocess.Popen([sys.executable, "-m", "femopt.cli", "study", "s.yaml", "-o", "out",
                                "--workers", "1"], cwd=tmp_path, env=_env(), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:  # the short case runs first, the long one then
            lines.append(line)
            if line.startswith("short: "):
                break
        assert lines and lines[-1].startswith("short: objective "), lines
        time.sleep(1.0)  # the long case is running
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr == "interrupted; finished cases are kept; go on with: femopt study s.yaml -o out\n", stderr
    assert "Aborted" not in stdout + stderr and "Traceback" not in stdout + stderr
    assert json.loads((outdir / "cases" / "short" / "summary.json").read_text())["iterations"] == 5
    assert not (outdir / "cases" / "long" / "summary.json").exists()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # every worker process is gone
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("processes of the study are still running after it exited")
    assert not any(p.name.endswith("femopt-lock") for p in tmp_path.iterdir())


@pytest.mark.slow
def test_a_script_without_the_main_guard_gets_one_clear_error(tmp_path):
    write_yaml(tmp_path, base_problem(), "mbb.yaml")
    write_yaml(tmp_path, yaml.safe_dump({"study": "s", "base": "mbb.yaml",
                                         "vary": {"design.volume_fraction": [0.3, 0.4]}}), "s.yaml")
    script = tmp_path / "script.py"
    script.write_text("import femopt\n\nresult = femopt.study('s.yaml', 'out', workers=1)\nprint(result.records)\n")
    process = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 1
    last = process.stderr.strip().splitlines()[-1]
    assert last == ("femopt.errors.FemoptError: femopt.study: the script script.py calls it while "
                    "Dask's worker processes import it; put the call under "
                    "`if __name__ == \"__main__\":`"), process.stderr
    # One traceback, femopt's (no worker's, no log lines of distributed, no "Nanny failed to start").
    assert process.stderr.count("Traceback") == 1 and "distributed" not in process.stderr, process.stderr
    assert process.stdout == ""
    assert not (tmp_path / "out" / "cases").exists()
