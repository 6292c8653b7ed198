"""The documentation's examples work: README.md and every docs/*.md page.

- Every ```python block runs. A page's blocks run in order in one namespace (a later block
  may use what an earlier one defined), in a temporary folder where configs/ and meshes/
  are links to the checkout's: an example that writes `out/…` or `part.msh` writes there.
- Every ```yaml block that is a complete problem (mesh, supports, loads or load_cases,
  design) is read by `femopt.load_config` and built by `femopt.prepare`, from a file in
  that same folder (after the page's Python blocks, so a mesh they write is there); a
  small grid (at most 2,000 elements) also runs 3 iterations. A block of only some
  sections (a `design:` part, an `objective:` with `constraints:`) is merged onto
  configs/mbb.yaml (or the config named by `<!-- merged onto configs/NAME.yaml -->` right
  above it) and read by `load_config`. A study file (`study:`) is read by the study
  reader as if it were in configs/studies/.
- A block's `if __name__ == "__main__":` part does not run (the pages' namespace has another
  name): the study example under it starts a Dask cluster for minutes; tests/test_study.py
  runs `femopt.study` itself.
- A block with `<!-- fragment -->` on the line right above it is part of a larger program
  or file: a Python fragment is only compiled, a YAML fragment only parsed as YAML.
- Every `configs/…`, `meshes/…` and `scripts/…` path the pages name exists, so does every
  config named by its file name alone (`mbb.yaml`, in configs/), and so does the target of
  every relative link and image, and the heading a link's #anchor names.
"""

import copy
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import femopt
from femopt.config.keys import PROBLEM

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages another branch writes (the generated key-by-key reference): links to them may
# point ahead until that branch is merged.
PENDING_PAGES = {ROOT / "docs" / "problem-file.md"}
PROBLEM_SECTIONS = set(PROBLEM.keys)   # the top-level keys of a problem file
SMALL = 2000  # elements: a complete problem this small also runs a few iterations

BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!--\s*(.*?)\s*-->\s*\n\s*$")


def blocks(page: Path):
    """(language, code, marker, line) of every fenced block of ``page``; marker is the text
    of an HTML comment on the line right above the block, or ''."""
    text = page.read_text()
    found = []
    for match in BLOCK.finditer(text):
        before = text[:match.start()]
        marker = MARKER.search(before[-200:])
        found.append((match.group(1), match.group(2), marker.group(1) if marker else "",
                      before.count("\n") + 1))
    return found


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture
def workdir(tmp_path, tmp_path_factory, monkeypatch):
    """A folder with configs/ and meshes/ linked in, as the current folder; CAD parts are
    meshed into a cache of the test session, not the user's."""
    for name in ("configs", "meshes"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "docs-cad-cache"))
    return tmp_path


def is_complete(problem) -> bool:
    return (isinstance(problem, dict) and {"mesh", "supports", "design"} <= problem.keys()
            and bool({"loads", "load_cases"} & problem.keys()))


def merge(base: dict, part: dict) -> dict:
    """``part`` over ``base``: mappings merged key by key, anything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_yaml(code: str, marker: str, where: str, folder: Path) -> None:
    data = yaml.safe_load(code)
    if marker == "fragment":
        return
    if isinstance(data, dict) and "study" in data:
        from femopt.study.spec import parse_study
        spec = parse_study(data, str(ROOT / "configs" / "studies" / "docs-example.yaml"))
        assert spec.cases, where
        return
    assert isinstance(data, dict) and data.keys() <= PROBLEM_SECTIONS, (
        f"{where}: not a problem file's sections; mark it <!-- fragment --> if it is part of one")
    if is_complete(data):
        # A file the page names as ../meshes/… is read from a folder beside meshes/ (as
        # configs/ is); any other beside what the page's Python blocks wrote.
        path = folder / "examples" / "docs-example.yaml" if "../" in code else folder / "docs-example.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(code)
        config = femopt.load_config(path)
        model = femopt.prepare(config)
        if model.mesh.structured and model.mesh.n_elements <= SMALL:
            result = femopt.run(config, max_iterations=3)
            assert np.isfinite(result.objective), where
        return
    base_name = "configs/mbb.yaml"
    if marker.startswith("merged onto "):
        base_name = marker.removeprefix("merged onto ")
    base = yaml.safe_load((ROOT / base_name).read_text())
    if "file" in base["mesh"]:  # relative to the config's folder, as when the file is run
        base["mesh"]["file"] = str((ROOT / base_name).parent / base["mesh"]["file"])
    if "load_cases" in data:  # they replace the base's loads
        base.pop("loads", None)
    femopt.load_config(merge(base, data))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_examples_run(page, workdir):
    """The page's Python blocks run, its problem files validate (module docstring)."""
    namespace = {"__name__": "docs_example"}
    found = blocks(page)
    for language, code, marker, line in found:
        where = f"{page_id(page)}:{line}"
        if language == "python":
            compiled = compile(code, where, "exec")
            if marker != "fragment":
                try:
                    exec(compiled, namespace)
                except Exception as e:
                    raise AssertionError(f"{where}: the example fails: {e!r}") from e
    for language, code, marker, line in found:
        if language == "yaml":
            where = f"{page_id(page)}:{line}"
            try:
                check_yaml(code, marker, where, workdir)
            except femopt.FemoptError as e:
                raise AssertionError(f"{where}: the example fails: {e}") from e


def test_markers_are_known():
    """Every HTML comment right above a block is one this test understands."""
    for page in PAGES:
        for language, _, marker, line in blocks(page):
            assert marker in ("", "fragment") or (
                marker.startswith("merged onto configs/") and language == "yaml"), (
                f"{page_id(page)}:{line}: unknown marker <!-- {marker} -->")


FILE = re.compile(r"(?<![\w./-])((?:configs|meshes|scripts)/[\w./-]*\w)")
LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``: lower case, punctuation dropped,
    spaces as hyphens (code blocks' comment lines are not headings)."""
    text = BLOCK.sub("", page.read_text())
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_named_files_and_links_exist(page):
    """Paths to configs/, meshes/ and scripts/, relative links and images all resolve."""
    text = page.read_text()
    missing = sorted({name for name in FILE.findall(text) if not (ROOT / name).exists()})
    assert not missing, f"{page_id(page)} names files that do not exist: {missing}"
    # A config named by its file name alone (the tables of examples) is one in configs/.
    named = {name for name in re.findall(r"`(\w+\.yaml)`", text) if not (ROOT / "configs" / name).exists()}
    assert not named, f"{page_id(page)} names configs that are not in configs/: {sorted(named)}"
    broken = []
    for target, anchor in LINK.findall(text):
        if re.match(r"[a-z]+:", target):   # http:, https:, mailto:
            continue
        path = (page.parent / target).resolve() if target else page
        if path in PENDING_PAGES and not path.exists():
            continue
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(f"{target}#{anchor}" if anchor else target)
    assert not broken, f"{page_id(page)} links to missing files: {broken}"


def test_readme_is_short_and_maps_every_page():
    """The README stays an entrance (under 300 lines) and links every page of docs/."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 300
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in text, f"README's map lacks docs/{page.name}"


def test_readme_quick_start_and_ci_agree():
    """The quick start's commands exist, and .ci/run runs the README's test command."""
    text = (ROOT / "README.md").read_text()
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/setup.sh"):
        assert f"bash {script}" in text and (ROOT / script).exists()
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_example_gives_its_result(tmp_path):
    """The README's one example is configs/mbb.yaml without its defaults: 203.1925 in 94
    iterations, the figure its output line and picture show."""
    code = next(code for language, code, _, _ in blocks(ROOT / "README.md") if language == "yaml")
    (tmp_path / "mbb.yaml").write_text(code)
    result = femopt.run(tmp_path / "mbb.yaml")
    assert (round(result.objective, 4), result.iterations, result.status) == (203.1925, 94, "converged")
