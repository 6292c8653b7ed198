"""``femopt schema``: every key of a problem file with its type, default, bounds and
allowed names, generated from the declarations the parser reads (:mod:`femopt.config.keys`)
and the registries — as plain text (:func:`text`), a JSON Schema for editors
(:func:`json_schema`, draft-07, which VS Code's YAML extension reads for completion and
checking) and the reference page docs/problem-file.md (:func:`markdown`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from femopt.config.keys import PROBLEM, SCHEDULE, Key, Section
from femopt.config.reader import MAGNITUDES, _bounds_text
from femopt.config.schema import AXES, PHYSICS
from femopt.mesh.checks import COORDINATE_RANGE
from femopt.registry import Entry, Option

SCHEMA_FILE = "docs/problem-file.schema.json"   # the committed JSON Schema, relative to the repository
MODELINE = f"# yaml-language-server: $schema=../{SCHEMA_FILE}"   # as a file in configs/ writes it

_SELECTION_DOC = ("Nodes by coordinates and/or a named group: each of x, y (z) is a number (the nodes at "
                  "that coordinate, within 0.1 % of the element size) or a [min, max] range; several keys "
                  "intersect. group: NAME selects a named group of a mesh file (a number: a gmsh physical "
                  "group without a name), alone or intersected with coordinates.")


# -- types, defaults, descriptions in words -------------------------------------------------

def _num(v: float) -> str:
    """1.0 -> '1', 1e-09 -> '1e-9'."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{v:g}")


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _num(v)
    return str(v)


def _bounds(bounds) -> str:
    return _bounds_text(bounds.get("gt"), bounds.get("ge"), bounds.get("lt"), bounds.get("le")) if bounds else ""


def _type(item: Key | Option) -> str:
    """What ``item``'s value is, in words."""
    kind, bounds, of = item.kind, _bounds(item.bounds), getattr(item, "of", None)
    if kind == "parameter" and of is not None:   # bounds of the chosen entry's option
        per_entry = ", ".join(f"{e.name}: {_bounds(e.options[_name_in(e)].bounds)}" for e in of)
        return f"number or schedule ({per_entry})"
    words = {
        "number": f"number {bounds}".strip(),
        "magnitude": _magnitude_text(item.bounds),
        "length": f"number from {_num(COORDINATE_RANGE[0])} to {_num(COORDINATE_RANGE[1])}",
        "integer": f"integer {bounds}".strip(),
        "count": f"integer {bounds} or auto".replace("  ", " "),
        "boolean": "true | false",
        "string": "string",
        "choice": " | ".join(map(str, item.choices)),
        "parameter": f"number {bounds} or schedule".replace("  ", " "),
        "point": "point: [x, y] or [x, y, z]",
        "component": " | ".join(AXES),
        "selection": "selection",
        "group": "group name",
        "case": "load case number, from 0",
        "name": "plain name (no /)",
        "path": "file path",
        "grid": "[nx, ny] or [nx, ny, nz], integers > 0",
        "extent": "a number per axis (a grid), or one number > 0 (a CAD file's element size)",
        "vector": f"a number per axis, each {_magnitude_text({}) if of == 'magnitude' else 'from ' + _num(COORDINATE_RANGE[0]) + ' to ' + _num(COORDINATE_RANGE[1])}",
        "fix": "x | y | z | a list of them | all; heat: t",
        "section": "mapping",
        "list": "list of mappings",
    }
    if kind == "entry":
        return " | ".join(of.names)
    if kind == "section" and of.registry is not None:
        return "NAME or mapping" if of.bare else "mapping"
    return words[kind]


def _magnitude_text(bounds) -> str:
    lo, hi = map(_num, MAGNITUDES)
    return f"number from {lo} to {hi}" if bounds else f"0 or a number from {lo} to {hi} in size"


def _name_in(entry: Entry) -> str:
    """The one option of an interpolation entry (its penalty)."""
    return next(iter(entry.options))


def _default(item: Key | Option, alternative: bool = False) -> str:
    """The default in words: "required", "" for one of several alternatives (exactly one given)."""
    if getattr(item, "default_text", None):
        return item.default_text
    if item.required:
        unless = getattr(item, "unless", None)
        return "required" + (f" (unless {unless})" if unless else "")
    if alternative and item.default is None:
        return ""
    return _value(_file_value(item))


def _file_value(item: Key | Option) -> Any:
    """The default as a problem file writes it (a component index as its name)."""
    if item.kind == "component" and isinstance(item.default, int) and not isinstance(item.default, bool):
        return AXES[item.default]
    return item.default


def _doc(item: Key | Option) -> str:
    doc = item.doc
    if item.kind == "entry":
        doc += "; " + "; ".join(f"{entry.name}: {entry.doc}" for entry in item.of)
    if getattr(item, "physics", None):
        doc += f" (physics: {item.physics} only)"
    if getattr(item, "dims", (2, 3)) != (2, 3):
        doc += f" ({'/'.join(map(str, item.dims))}D meshes only)"
    if getattr(item, "needs", None):
        doc += f" (with {item.needs} only)"
    return doc


# -- rows: one per key, depth first ---------------------------------------------------------

@dataclass(frozen=True)
class _Row:
    path: str     # e.g. "design.projection.beta", "loads[].force", "solver.rtol"
    type: str
    default: str
    doc: str


@dataclass(frozen=True)
class _Block:
    """One section of the reference: a heading, its description, its rows, and for a
    registry or shape section one sub-block per entry."""

    path: str
    doc: str
    rows: tuple[_Row, ...]
    notes: tuple[str, ...] = ()
    entries: tuple[_Block, ...] = ()


def _blocks(section: Section, path: str, seen: dict | None = None) -> list[_Block]:
    """The block of ``section`` at ``path`` and those of the sections below it, in order;
    a section or registry met before (``seen``: its path) refers to its first block."""
    seen = {} if seen is None else seen
    seen[id(section)] = path
    prefix = f"{path}." if path else ""
    rows, below, notes = [], [], []
    if section.registry is not None:
        default = section.type_default
        rows.append(_Row(prefix + "type", " | ".join(section.registry.names), default or "required",
                         f"the {section.registry.kind}"))
    for name, key in section.keys.items():
        doc = _doc(key)
        if key.kind in ("section", "list") and id(key.of) in seen:
            doc += f" (each as in {seen[id(key.of)]})"
        elif key.kind in ("section", "list"):
            below += _blocks(key.of, prefix + name + ("[]" if key.kind == "list" else ""), seen)
        rows.append(_Row(prefix + name, _type(key), _default(key, name in section.exactly_one), doc))
    if section.exactly_one:
        notes.append("Exactly one of " + ", ".join(section.exactly_one) + ".")
    if section.at_most_one:
        notes.append("At most one of " + ", ".join(section.at_most_one) + ".")
    if section.bare is not None:
        value = "NAME" if section.registry is not None else section.bare.upper()
        notes.append(f"`{path}: {value}` is short for `{{{section.bare}: {value}}}`.")
    entries = ()
    if section.registry is not None and id(section.registry) in seen:
        notes.append(f"The types and their options are those of {seen[id(section.registry)]}.")
    elif section.registry is not None:
        seen[id(section.registry)] = path
        entries = tuple(_entry_block(prefix, entry, f"type: {entry.name}") for entry in section.registry)
    if section.shapes is not None:
        notes.append("Exactly one shape key: " + ", ".join(section.shapes.names) + ".")
        entries = tuple(_entry_block(prefix + entry.name + ".", entry, f"shape {entry.name}", entry.name)
                        for entry in section.shapes)
    return [_Block(path, section.doc, tuple(rows), tuple(notes), entries)] + below


def _entry_block(prefix: str, entry: Entry, title: str, shape: str | None = None) -> _Block:
    """A registered implementation's options (``shape``: its key, when the key holds them)."""
    doc = entry.doc + (f" ({'/'.join(map(str, entry.dims))}D meshes only)" if entry.dims != (2, 3) else "")
    if shape is not None and list(entry.options) == [shape]:   # box: {x: ...} holds the option itself
        option = entry.options[shape]
        return _Block(title, doc, (_Row(prefix[:-1], _type(option), "", option.doc),))
    rows = tuple(_Row(prefix + name, _type(o), _default(o), o.doc) for name, o in entry.options.items())
    return _Block(title, doc, rows)


def _all_blocks() -> list[_Block]:
    schedule = _blocks(SCHEDULE, "schedule")[0]
    selection = _Block("selection", _SELECTION_DOC, tuple(
        [_Row(f"at.{axis}", "number or [min, max]", "", f"the {axis} coordinate") for axis in AXES]
        + [_Row("at.group", "group name", "", "a named group of the mesh file")]))
    return _blocks(PROBLEM, "") + [selection, schedule]


# -- text and Markdown ----------------------------------------------------------------------

def text() -> str:
    """Every key, one line each: ``path  type  default  description``."""
    lines = []
    for block in _all_blocks():
        lines.append(f"{block.path or 'top level'}: {block.doc}")
        lines += [f"  {note}" for note in block.notes]
        lines += _text_rows(block.rows, "  ")
        for entry in block.entries:
            lines.append(f"  {block.path} {entry.path}: {entry.doc}")
            lines += _text_rows(entry.rows, "    ") or ["    (no options)"]
        lines.append("")
    return "\n".join(lines)


def _text_rows(rows, indent: str) -> list[str]:
    """``path: type; default`` and the description below it."""
    lines = []
    for row in rows:
        default = row.default if not row.default or row.default.startswith("required") else f"default {row.default}"
        lines += [f"{indent}{row.path}: {row.type}" + (f"; {default}" if default else ""), f"{indent}    {row.doc}"]
    return lines


def markdown() -> str:
    """The reference page docs/problem-file.md."""
    out = [
        "# The problem file",
        "",
        "<!-- Generated by `femopt schema --markdown` from femopt/config/keys.py and the registries; "
        "do not edit. Regenerate: python -m femopt.cli schema --markdown > docs/problem-file.md -->",
        "",
        "A problem file is a YAML mapping of the sections below. Every key is listed with its type, "
        "its default (or *required*) and the names it allows; `femopt schema` prints the same list, "
        "`femopt validate FILE` checks a file.",
        "",
        "## Editor support",
        "",
        f"`femopt schema --json` prints a JSON Schema (draft-07; committed as `{SCHEMA_FILE}`). "
        "Editors that run yaml-language-server (VS Code's YAML extension, Neovim, Emacs) complete "
        "keys and names and mark mistakes when a problem file starts with a modeline naming it, "
        "relative to the file:",
        "",
        "```yaml",
        MODELINE,
        "problem: mbb-beam",
        "```",
        "",
        "The schema checks what can be checked without the mesh; `femopt validate` checks the rest "
        "(dimensions, selections, combinations such as oc with other responses than compliance).",
        "",
    ]
    for block in _all_blocks():
        out += [f"## {block.path or 'Top level'}", "", block.doc, ""] + _table(block.rows)
        out += [note for note in block.notes] + ([""] if block.notes else [])
        for entry in block.entries:
            out += [f"### {block.path} {entry.path}", "", entry.doc, ""]
            out += _table(entry.rows) if entry.rows else ["No options.", ""]
    return "\n".join(out).rstrip() + "\n"


def _table(rows) -> list[str]:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{row.path}` | {cell(row.type)} | {cell(row.default)} | {cell(row.doc)} |" for row in rows]
    return lines + [""]


# -- JSON Schema ----------------------------------------------------------------------------

def json_schema() -> dict:
    """The JSON Schema (draft-07) of a problem file. Keys of one physics are allowed by
    the schema's properties (for completion) and restricted per ``physics`` by a condition."""
    schema = {"$schema": "http://json-schema.org/draft-07/schema#",
              "title": "femopt problem file",
              "description": "Generated by `femopt schema --json`; see docs/problem-file.md.",
              **_section_schema(PROBLEM, None),
              "definitions": {"selection": _selection_schema()}}
    conditions = []
    for physics in PHYSICS:
        restricted = {name: _key_schema(key, physics) for name, key in PROBLEM.keys.items()}
        changed = {name: s for name, s in restricted.items() if s != schema["properties"][name]}
        conditions.append({"properties": changed})
    heat = {"properties": {"physics": {"const": "heat"}}, "required": ["physics"]}
    schema.setdefault("allOf", []).append({"if": heat, "then": conditions[PHYSICS.index("heat")],
                                           "else": conditions[PHYSICS.index("elasticity")]})
    return schema


def json_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _number(bounds) -> dict:
    names = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
    return {"type": "number", **{names[b]: v for b, v in bounds.items()}}


def _magnitude(bounds) -> dict:
    """A number whose size lies in MAGNITUDES, or 0 unless ``bounds`` is {gt: 0}."""
    lo, hi = MAGNITUDES
    positive = {"type": "number", "minimum": lo, "maximum": hi}
    if bounds.get("gt") == 0:
        return positive
    return {"anyOf": [{"const": 0}, positive, {"type": "number", "minimum": -hi, "maximum": -lo}]}


def _schedule(bounds) -> dict:
    keys = SCHEDULE.keys
    properties = {name: _with_doc(_number(bounds) if name in ("start", "end") else _plain(key), key)
                  for name, key in keys.items()}
    return {"type": "object", "properties": properties, "required": ["start", "end"],
            "oneOf": [{"required": [k]} for k in SCHEDULE.exactly_one], "additionalProperties": False}


def _selection_schema() -> dict:
    coordinate = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"},
                                                  "minItems": 2, "maxItems": 2}]}
    properties = {axis: {**coordinate, "description": f"the {axis} coordinate, or a [min, max] range"}
                  for axis in AXES}
    properties["group"] = {**_plain(Option(kind="group")), "description": "a named group of the mesh file"}
    return {"type": "object", "description": _SELECTION_DOC, "properties": properties,
            "minProperties": 1, "additionalProperties": False}


def _plain(item: Key | Option, physics: str | None = None) -> dict:
    """The schema of ``item``'s value, without description or default."""
    kind, bounds, of = item.kind, dict(item.bounds), getattr(item, "of", None)
    if kind == "parameter":
        if of is not None:
            return {"anyOf": [_plain(e.options[_name_in(e)]) for e in of]}
        return {"anyOf": [_number(bounds), _schedule(bounds)]}
    if kind in ("number", "integer", "count"):
        number = _number(bounds) if kind == "number" else {"type": "integer", **(
            {"minimum": bounds["ge"]} if "ge" in bounds else {}), **(
            {"maximum": bounds["le"]} if "le" in bounds else {})}
        return {"anyOf": [number, {"const": "auto"}]} if kind == "count" else number
    if kind in ("section", "list"):
        section = _section_schema(of, physics)
        return section if kind == "section" else {"type": "array", "items": section, "minItems": 1}
    if kind == "extent":
        return {"anyOf": [_plain(Key("vector", "", of=of)), {"type": "number", "exclusiveMinimum": 0}]}
    if kind == "vector":
        return {"type": "array", "items": _plain(Key(of, "")), "minItems": 2, "maxItems": 3}
    axes = list(AXES)
    components = {"elasticity": axes, "heat": ["t"], None: axes + ["t"]}[physics]
    return {
        "boolean": {"type": "boolean"},
        "string": {"type": "string"},
        "choice": {"enum": list(item.choices)},
        "point": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3},
        "component": {"enum": axes},
        "selection": {"$ref": "#/definitions/selection"},
        "group": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
        "case": {"type": "integer", "minimum": 0},
        "name": {"type": "string", "pattern": r"^[^/\\\n]*\S[^/\\\n]*$"},
        "path": {"type": "string", "minLength": 1},
        "grid": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 3},
        "magnitude": _magnitude(bounds),
        "length": {"type": "number", "minimum": COORDINATE_RANGE[0], "maximum": COORDINATE_RANGE[1]},
        "fix": {"anyOf": [{"enum": components + ["all"]},
                          {"type": "array", "items": {"enum": components}, "minItems": 1}]},
    }[kind] if kind != "entry" else {"enum": list(of.names)}


def _with_doc(schema: dict, item: Key | Option) -> dict:
    extra = {"description": _doc(item)} if item.doc else {}
    default = _file_value(item)
    if not item.required and isinstance(default, (bool, int, float, str)):
        extra["default"] = default
    return {**schema, **extra} if "$ref" not in schema else {"allOf": [schema], **extra}


def _key_schema(key: Key | Option, physics: str | None) -> Any:
    if getattr(key, "physics", None) not in (None, physics) and physics is not None:
        return False   # the key of another physics
    return _with_doc(_plain(key, physics), key)


def _section_schema(section: Section, physics: str | None) -> dict:
    keys = {name: key for name, key in section.keys.items() if physics is None or key.physics in (None, physics)}
    properties = {name: _key_schema(key, physics) for name, key in keys.items()}
    required = [name for name, key in keys.items() if key.required and not key.unless]
    rules = []
    one = [name for name in section.exactly_one if name in keys]
    if one:
        rules.append({"oneOf": [{"required": [name]} for name in one]})
    if section.at_most_one:
        rules.append({"not": {"required": list(section.at_most_one)}})
    for name, key in keys.items():
        if key.required and key.unless:
            rules.append({"anyOf": [{"required": [name]}, {"required": [key.unless]}]})
    depends = {name: [key.needs] for name, key in keys.items() if key.needs}
    if section.shapes is not None:
        for entry in section.shapes:
            properties[entry.name] = _shape_schema(entry)
        rules.append({"oneOf": [{"required": [name]} for name in section.shapes.names]})
    if section.registry is not None:
        return {"description": section.doc, "anyOf": _registry_branches(section, properties, required)}
    schema = {"type": "object", "description": section.doc}
    if section.bare is not None:   # the bare key's value alone, or the mapping
        bare = {key: value for key, value in _key_schema(keys[section.bare], physics).items() if key != "description"}
        schema = {"description": section.doc, "anyOf": [bare, {**schema, "description": section.doc}]}
        target = schema["anyOf"][1]
    else:
        target = schema
    target.update(properties=properties, additionalProperties=False)
    if required:
        target["required"] = required
    if depends:
        target["dependencies"] = depends
    if rules:
        target["allOf"] = rules
    return schema


def _registry_branches(section: Section, fixed: dict, required: list) -> list:
    """One branch per entry of ``section.registry`` (type, its options, the fixed keys),
    and the entry's name alone where ``bare``."""
    registry = section.registry
    branches = [{"enum": list(registry.names)}] if section.bare else []
    for entry in registry:
        bound = section.lower_bounds.get(entry.name)   # instead of the fixed keys (limit)
        properties = {"type": {"const": entry.name, "description": entry.doc},
                      **{name: _key_schema(o, None) for name, o in entry.options.items()},
                      **({} if bound else fixed)}
        needed = ([] if entry.name == section.type_default else ["type"]) + ([bound] if bound else required) + [
            name for name, o in entry.options.items() if o.required]
        branch = {"type": "object", "properties": properties, "additionalProperties": False}
        if needed:
            branch["required"] = needed
        branches.append(branch)
    return branches


def _shape_schema(entry: Entry) -> dict:
    if list(entry.options) == [entry.name]:
        return {**_key_schema(entry.options[entry.name], None), "description": entry.doc}
    return {"type": "object", "description": entry.doc, "additionalProperties": False,
            "properties": {name: _key_schema(o, None) for name, o in entry.options.items()},
            "required": [name for name, o in entry.options.items() if o.required]}
