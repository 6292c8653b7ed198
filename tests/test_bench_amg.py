"""scripts/bench_amg.py runs end to end on a small gmsh box (its figures are not checked:
they depend on the machine)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("gmsh")
pytest.importorskip("pyamg")


@pytest.mark.slow  # gmsh, pyamg and two short runs: several seconds
def test_bench_amg_meshes_caches_and_prints_its_figures(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_amg.py"
    spec = importlib.util.spec_from_file_location("bench_amg", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--cells", "3000", "--iterations", "2", "--cache", str(tmp_path)])
    out = capsys.readouterr().out
    assert len(list(tmp_path.glob("*.msh"))) == 1
    cells = int(re.search(r"(\d+) T4 cells", out).group(1))
    assert 1500 < cells < 6000                                 # about what was asked
    for phase in ("filter", "assembly", "factorization", "solve", "sensitivity", "update", "total"):
        assert re.search(rf"^\s+{phase}\s+\d+\.\d+", out, re.M), phase
    assert "compliance after 2 iterations" in out and "peak RSS" in out and "load average" in out
    bench.main(["--cells", "3000", "--iterations", "1", "--cache", str(tmp_path)])
    assert "gmsh:" not in capsys.readouterr().out             # the cached mesh, not a new one
