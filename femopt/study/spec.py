"""A study file → :class:`StudySpec`: its cases, each a complete, validated problem.

A study file names a base problem (``base: file.yaml`` relative to the study file, or
``problem:`` inline) and the values to put into it at dotted paths::

    study: mbb-tradeoff
    base: mbb.yaml
    vary:                    # cartesian product
      design.volume_fraction: [0.2, 0.3, 0.4, 0.5]
      design.filter.radius: [1.5, 3.0]
    zip:                     # varied together (equal-length lists), crossed with ``vary``
      ...
    cases:                   # or explicit cases
      - {name: fine, set: {mesh.grid: [240, 80], design.filter.radius: 6.0}}
    plot: {x: design.volume_fraction, y: objective, series: design.filter.radius}

Every case is merged and validated here, before anything runs: an unknown path, a value
the problem schema rejects, an empty product, two cases with the same name (or names
differing only in letter case: one folder on macOS and Windows) or a name too long for
a folder is one :class:`~femopt.errors.ConfigError` (exit code 2).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# read_yaml: the problem files' YAML dialect (1e-9 is a number, duplicate keys are
# errors), so that a value reads the same in a study file as in a problem file.
from femopt.config import config_error, parse_config, read_yaml
from femopt.errors import ConfigError
from femopt.output.folder import LONGEST_NAME

KEYS = ("study", "base", "problem", "vary", "zip", "cases", "plot")
PLOT_KEYS = ("x", "y", "series")
# Result columns a plot can show besides the varied paths (femopt.study.records.CaseRecord).
RESULT_COLUMNS = ("objective", "volume", "iterations", "wall_time")


@dataclass(frozen=True)
class Case:
    """One case of a study.

    name: readable and unique, e.g. ``volume_fraction=0.3,radius=1.5``: its result
        folder's name.
    values: dotted path → value, what this case sets in the base problem.
    problem: the merged problem data (what a problem file would hold), self-contained:
        a relative ``mesh.file`` has been made absolute.
    """

    name: str
    values: dict[str, object]
    problem: dict


@dataclass(frozen=True)
class StudySpec:
    """A parsed, validated study.

    name: the study's name (``study:``; default: the file's stem).
    source: the study file's path, or "<string>" for data given directly.
    varied: the dotted paths the cases set, in the file's order.
    cases: the cases, in order (the product's order: the last path varies fastest).
    plot: {"x": path, "y": "objective" (or another result column), "series": path or
        None}; default: the first varied path against the objective, one series per
        value of the second varied path (None with one path).
    """

    name: str
    source: str
    varied: list[str]
    cases: list[Case]
    plot: dict


def load_study(study: str | Path | Mapping) -> StudySpec:
    """Read and validate a study file (or its YAML as a dict, relative paths then being
    relative to the current folder). Every case is merged and validated; any mistake is
    one ConfigError."""
    if isinstance(study, Mapping):
        return parse_study(study, "<string>")
    source = str(study)
    if not source.strip():
        raise config_error(None, None, "no study file given (an empty path)")
    return parse_study(read_yaml(Path(source), None), source)


def parse_study(data: Any, source: str = "<string>") -> StudySpec:
    """Validate already-loaded study data; ``source`` is its file (relative paths in it
    are relative to the file's folder) or "<string>"."""
    def error(path, reason):
        return config_error(source, path, reason)

    if not isinstance(data, Mapping):
        raise error(None, "expected a mapping with study:, base: (or problem:) and vary:, zip: or cases:")
    for key in data:
        if key not in KEYS:
            raise error(str(key), f"unknown key (expected one of: {', '.join(KEYS)})")
    folder = Path(source).parent if not source.startswith("<") else Path.cwd()
    name = _study_name(data.get("study"), source, error)
    base, base_source = _base_problem(data, folder, source, error)

    values = _combinations(data, error)  # list of (name or None, {path: value})
    varied = list(dict.fromkeys(path for _, combination in values for path in combination))
    names = _case_names([given or combination for given, combination in values], error)
    _check_folder_names(names, [given for given, _ in values], data, error)

    cases = []
    for case_name, (_, combination) in zip(names, values):
        problem = copy.deepcopy(base)
        for path, value in combination.items():
            _set_path(problem, path, copy.deepcopy(value), case_name, error)
        _absolute_mesh_file(problem, base_source if "mesh.file" not in combination else source)
        # The base file's default name, kept: the case's problem no longer comes from that file.
        problem.setdefault("problem", _default_problem_name(base_source))
        try:
            parse_config(problem, source=base_source)
        except ConfigError as e:  # say which case, keep the problem's path and reason
            raise error(f"case {case_name}", ": ".join(p for p in (e.path, e.reason) if p)) from None
        # A path a case leaves alone has the base's value in the table (None if unset).
        row = {path: combination[path] if path in combination else _get_path(base, path) for path in varied}
        cases.append(Case(case_name, row, problem))
    return StudySpec(name, source, varied, cases, _plot(data.get("plot"), varied, error))


def _study_name(node, source, error) -> str:
    if node is None:
        stem = Path(source).stem if not source.startswith("<") else ""
        return stem or "study"
    if not isinstance(node, str) or not _SAFE_NAME.fullmatch(node):
        raise error("study", f"expected a name of letters, digits, '.', '_', '-', got {node!r}")
    return node


def _base_problem(data, folder: Path, source: str, error) -> tuple[dict, str]:
    """The base problem's data and the source its relative paths are relative to."""
    if ("base" in data) == ("problem" in data):
        raise error(None, "give the problem to vary: either base: (a problem file) or problem: (inline)")
    if "problem" in data:
        if not isinstance(data["problem"], Mapping):
            raise error("problem", "expected the problem's sections (mesh:, supports:, ...)")
        return dict(data["problem"]), source
    base = data["base"]
    if not isinstance(base, str) or not base.strip():
        raise error("base", f"expected a problem file's path, got {base!r}")
    path = folder / base
    problem = read_yaml(path, source)
    if not isinstance(problem, Mapping):
        raise config_error(str(path), None, "expected a mapping of the problem's sections")
    return dict(problem), str(path)


def _combinations(data, error) -> list[tuple[str | None, dict]]:
    """(explicit name or None, {path: value}) of every case, in order: the product of
    ``vary`` (last path fastest) crossed with ``zip``; or the explicit ``cases``."""
    if "cases" in data and ("vary" in data or "zip" in data):
        raise error("cases", "give either cases: or vary:/zip:, not both")
    if "cases" in data:
        return _explicit_cases(data["cases"], error)
    if "vary" not in data and "zip" not in data:
        raise error(None, "nothing to vary: give vary:, zip: or cases:")
    axes = []  # each: a list of {path: value} dicts
    vary = _mapping(data.get("vary", {}), "vary", error)
    for path, options in vary.items():
        options = _values(options, f"vary.{path}", error)
        axes.append([{path: value} for value in options])
    zipped = _mapping(data.get("zip", {}), "zip", error)
    if zipped:
        lists = {path: _values(options, f"zip.{path}", error) for path, options in zipped.items()}
        lengths = {path: len(options) for path, options in lists.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{path} {n}" for path, n in lengths.items())
            raise error("zip", f"the lists must have equal lengths, got {shown}")
        axes.append([dict(zip(lists, row)) for row in zip(*lists.values())])
    if not axes:
        raise error("vary", "nothing to vary (an empty mapping)")
    return [(None, {k: v for part in combination for k, v in part.items()})
            for combination in itertools.product(*axes)]


def _explicit_cases(node, error) -> list[tuple[str | None, dict]]:
    if not isinstance(node, list) or not node:
        raise error("cases", "expected a non-empty list of {name: ..., set: {path: value, ...}}")
    cases = []
    for i, case in enumerate(node):
        where = f"cases[{i}]"
        if not isinstance(case, Mapping) or set(case) - {"name", "set"} or "set" not in case:
            raise error(where, "expected {name: ..., set: {path: value, ...}}")
        values = _mapping(case["set"], f"{where}.set", error)
        if not values:
            raise error(f"{where}.set", "sets nothing (an empty mapping)")
        name = case.get("name")
        if name is not None and (not isinstance(name, str) or not _SAFE_NAME.fullmatch(name)):
            raise error(f"{where}.name", f"expected a folder name of letters, digits, '.', '_', '-', '=', ',', got {name!r}")
        cases.append((name, dict(values)))
    return cases


def _mapping(node, where, error) -> Mapping:
    if not isinstance(node, Mapping):
        raise error(where, "expected a mapping of dotted paths (e.g. design.volume_fraction) to values")
    for path in node:
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise error(where, f"{path!r} is not a dotted path (e.g. design.filter.radius)")
    return node


def _values(node, where, error) -> list:
    if not isinstance(node, list):
        raise error(where, f"expected a list of values, got {node!r}")
    if not node:
        raise error(where, "an empty list: the study would have no case")
    return node


def _case_names(cases: list, error) -> list[str]:
    """Names of the cases: an explicit one as given, else ``last=value,...`` over the paths
    a case sets (a path's last component, or as many trailing components as make the
    labels of the study's paths distinct). Two equal names are an error."""
    paths = list(dict.fromkeys(p for case in cases if not isinstance(case, str) for p in case))
    labels = _labels(paths)
    names = [case if isinstance(case, str)
             else ",".join(f"{labels[path]}={_format(value)}" for path, value in case.items())
             for case in cases]
    seen = set()
    for name in names:
        if name in seen:
            raise error("cases", f"two cases are named {name!r}: names must be unique")
        seen.add(name)
    return names


def _check_folder_names(names: list[str], given: list, data, error) -> None:
    """Each name must make a folder on every file system: at most LONGEST_NAME bytes, and
    no two names differing only in letter case (one folder on macOS and Windows)."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise error("cases", f"the cases {other!r} and {name!r} differ only in letter case; "
                        "their folders would be one on macOS and Windows")
    for i, name in enumerate(names):
        size = len(name.encode())
        if size > LONGEST_NAME:
            where = (f"cases[{i}].name" if given[i] is not None else f"cases[{i}]" if "cases" in data
                     else "vary" if "vary" in data else "zip")
            hint = "" if given[i] is not None else " (name the cases: cases: [{name: ..., set: {...}}])"
            shown = name if len(name) <= 40 else f"{name[:39]}…"
            raise error(where, f"the case name {shown!r} is {size} bytes long; a case's folder name "
                        f"can have at most {LONGEST_NAME}{hint}")


def _labels(paths: list[str]) -> dict[str, str]:
    """Each path's shortest trailing part (whole components) that no other path shares."""
    labels = {}
    for path in paths:
        parts = path.split(".")
        for n in range(1, len(parts) + 1):
            label = ".".join(parts[-n:])
            if not any(other != path and (other == label or other.endswith("." + label)) for other in paths):
                break
        labels[path] = label
    return labels


def _format(value) -> str:
    """A value as a folder-name-safe string: 0.3, 240x80, oc."""
    if isinstance(value, (list, tuple)):
        return "x".join(_format(v) for v in value)
    if isinstance(value, Mapping):
        return "_".join(f"{k}-{_format(v)}" for k, v in value.items())
    text = repr(value) if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def _set_path(problem: dict, path: str, value, case: str, error) -> None:
    """Put ``value`` at dotted ``path`` of ``problem``, creating missing sections; list
    items are numbered (``loads.0.force``). Whether the path is in the schema is
    checked after, by validating the whole problem."""
    node, parts = problem, path.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise error(f"case {case}", f"{path}: {'.'.join(parts[:i]) or 'the problem'} is a list "
                            f"of {len(node)}; {part!r} is not an index in it")
            part = int(part)
        elif not isinstance(node, dict):
            raise error(f"case {case}", f"{path}: {'.'.join(parts[:i])} is a value, not a section")
        if last:
            node[part] = value
            return
        if isinstance(node, dict) and node.get(part) is None:
            if parts[i + 1].isdigit():
                raise error(f"case {case}", f"{path}: the problem has no {'.'.join(parts[:i + 1])} "
                            "list to number into; set the whole list")
            node[part] = {}  # a section the base leaves out, e.g. design.projection
        node = node[part]


def _get_path(problem, path: str):
    """The value at dotted ``path`` of ``problem``, or None."""
    node = problem
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def _absolute_mesh_file(problem: dict, relative_to: str) -> None:
    """Make a relative ``mesh.file`` absolute, so that a case's problem is self-contained."""
    mesh = problem.get("mesh")
    if isinstance(mesh, dict) and isinstance(mesh.get("file"), str) and not relative_to.startswith("<"):
        path = Path(mesh["file"])
        if not path.is_absolute():
            mesh["file"] = str((Path(relative_to).parent / path).resolve())


def _default_problem_name(source: str) -> str:
    """The name femopt.config gives a problem file without ``problem:``: its stem."""
    return (Path(source).stem if not source.startswith("<") else "") or "problem"


def _plot(node, varied: list[str], error) -> dict:
    """The plot's axes, defaults filled in and names checked."""
    plot = {"x": varied[0], "y": "objective", "series": varied[1] if len(varied) > 1 else None}
    if node is None:
        return plot
    if not isinstance(node, Mapping):
        raise error("plot", "expected {x: path, y: objective, series: path}")
    known = (*varied, *RESULT_COLUMNS)
    for key, value in node.items():
        if key not in PLOT_KEYS:
            raise error(f"plot.{key}", f"unknown key (expected one of: {', '.join(PLOT_KEYS)})")
        if value is not None and value not in known:
            raise error(f"plot.{key}", f"{value!r} is neither a varied path nor one of {', '.join(RESULT_COLUMNS)}")
        plot[key] = value
    if plot["x"] is None or plot["y"] is None:
        raise error("plot", "x and y need a column")
    return plot


_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._=,+-]*")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
