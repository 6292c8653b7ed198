"""The package's layering (docs/architecture.md): scripts/check_layers.py finds nothing, and
would find what it looks for; ``import femopt`` and the command line start without the
heavy parts."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import check_layers  # noqa: E402


def test_femopt_has_no_circle_no_upward_import_and_no_long_module():
    assert check_layers.check(ROOT / "femopt") == []


def test_the_check_finds_circles_upward_imports_long_modules_and_unexplained_imports(tmp_path):
    package = tmp_path / "femopt"
    (package / "mesh").mkdir(parents=True)
    (package / "fem").mkdir()
    for folder in (package, package / "mesh", package / "fem"):
        (folder / "__init__.py").write_text("")
    (package / "mesh" / "base.py").write_text("from femopt.fem import dofs\n")            # mesh → fem: up
    (package / "fem" / "dofs.py").write_text(textwrap.dedent("""\
        def f():
            from femopt.fem import loads
            return loads
        """))
    (package / "fem" / "loads.py").write_text("from femopt.fem.dofs import f\n" + "x = 1\n" * 600)
    problems = check_layers.check(package)
    assert any("femopt.mesh.base (femopt.mesh) imports femopt.fem.dofs (femopt.fem)" in p for p in problems)
    assert any(p.startswith("import circle: femopt.fem.dofs ↔ femopt.fem.loads") for p in problems)
    assert any("loads.py: 601 lines" in p for p in problems)
    assert any("dofs.py:2: an import inside a function" in p for p in problems)


def test_import_femopt_and_the_command_line_load_no_heavy_module():
    """``import femopt`` imports none of its modules (the API is lazy), and the command
    line's start (``femopt --version``) neither the numerics above the solvers, nor
    matplotlib, Dask or meshio."""
    code = textwrap.dedent("""\
        import sys
        import femopt
        print(sorted(m for m in sys.modules if m.startswith("femopt.")))
        import femopt.cli
        print(" ".join(sorted(sys.modules)))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, loaded = out.splitlines()
    assert first == "[]"
    loaded = set(loaded.split())
    for heavy in ("matplotlib", "distributed", "meshio", "skimage", "pyamg", "femopt.design", "femopt.build",
                  "femopt.config", "femopt.output", "femopt.loop.evaluator"):
        assert heavy not in loaded, heavy
