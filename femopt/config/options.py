"""Values of the kinds registered options take (:data:`femopt.registry.KINDS`): bounded
numbers, continuation schedules, points, components, coordinate selections, group names,
load cases; and ``NAME`` or ``{type: NAME, <option>: value, …}`` of a registry with the
options its entry declares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from femopt.config.keys import SCHEDULE
from femopt.config.reader import YamlNode, _describe, _num, _show
from femopt.config.schema import AXES, Selection, Spec
from femopt.design import Schedule
from femopt.registry import Entry, Option

_SCHEDULE_KEYS = SCHEDULE.names()


def _parse_spec(node: YamlNode, registry, dim: int | None = None, extra_keys: Sequence[str] = (),
                default: str | None = None, n_cases: int = 1) -> Spec:
    """``NAME`` or ``{type: NAME, <option>: value, ...}`` of ``registry`` (``type`` may be
    left out when there is a ``default``). An option that belongs to another implementation
    is named as such; ``extra_keys`` are allowed and left to the caller. dim: the mesh's
    (None: any), for implementations that apply to some dimensions only."""
    names = registry.names if dim is None else registry.names_for(dim)
    if not isinstance(node.value, Mapping):
        entry = registry[node.choice(names)]
        return Spec(entry.name, _parse_options(YamlNode({}, node.path), entry, dim, n_cases))
    has_type = "type" in node.value or default is None
    entry = registry[node.require("type").choice(names) if has_type else default]
    allowed = ("type",) + tuple(extra_keys) + tuple(entry.options)
    for key in node.value:
        takers = [other.name for other in registry if key in other.options]
        if key not in allowed and takers:
            node.child(key).fail(f"{entry.name} takes no option {key!r} (it applies to {', '.join(takers)})")
    node.reject_unknown_keys(allowed)
    return Spec(entry.name, _parse_options(node, entry, dim, n_cases))


def _parse_options(node: YamlNode, entry: Entry, dim: int | None, n_cases: int = 1) -> dict:
    """The registered options of ``entry`` read from the mapping ``node``, defaults filled
    in; a missing required option is an error."""
    return {key: _parse_option(node, key, option, dim, n_cases) for key, option in entry.options.items()}


def _parse_option(node: YamlNode, key: str, option: Option, dim: int, n_cases: int = 1) -> Any:
    """The value of ``node``'s child ``key`` as ``option`` describes it (its default if absent)."""
    child = node.optional(key)
    if child is None:
        if option.required:
            node.fail(f"missing required key {key!r}")
        return option.default
    return _OPTION_READERS[option.kind](child, option, dim, n_cases)


# How each kind of option (femopt.registry.KINDS) is read: (node, option, dim, n_cases) -> value.
_OPTION_READERS = {
    "number": lambda n, o, dim, cases: n.number(**o.bounds),
    "magnitude": lambda n, o, dim, cases: n.magnitude(positive=o.bounds.get("gt") == 0),
    "integer": lambda n, o, dim, cases: n.integer(**o.bounds),
    "count": lambda n, o, dim, cases: _parse_count(n, **o.bounds),
    "boolean": lambda n, o, dim, cases: n.boolean(),
    "string": lambda n, o, dim, cases: n.string(),
    "choice": lambda n, o, dim, cases: n.choice(o.choices),
    "parameter": lambda n, o, dim, cases: _parse_parameter(n, **o.bounds),
    "point": lambda n, o, dim, cases: tuple(v.number() for v in n.vector(dim, "numbers")),
    "component": lambda n, o, dim, cases: _parse_component(n, dim),
    "selection": lambda n, o, dim, cases: _parse_selection(n, dim),
    "group": lambda n, o, dim, cases: _parse_group_name(n),
    "case": lambda n, o, dim, cases: _parse_case(n, cases),
}


def _parse_count(node: YamlNode, ge: int | None = None):
    """An integer (at least ``ge``) or the word auto."""
    if node.value == "auto":
        return "auto"
    if isinstance(node.value, str):
        node.fail(f"must be auto or an integer, got {_show(node.value)}")
    return node.integer(ge=ge)


def _parse_parameter(node: YamlNode, *, gt=None, ge=None) -> float | Schedule:
    """A number, or a continuation schedule ``{start, end, every, factor | step}``."""
    if not isinstance(node.value, Mapping):
        return node.number(gt=gt, ge=ge, what="a number or a schedule (start, end, every, factor or step)")
    node.mapping(_SCHEDULE_KEYS)
    start = node.require("start").number(gt=gt, ge=ge)
    end = node.require("end").number(gt=gt, ge=ge)
    if end < start:
        node.child("end").fail(f"must be >= start ({_num(start)}): continuation raises a parameter, "
                               f"got {_num(end)}")
    factor, step = node.optional("factor"), node.optional("step")
    if (factor is None) == (step is None):
        node.fail("give exactly one of 'factor' (multiply at each stage) or 'step' (add at each stage)")
    keys = SCHEDULE.keys
    return Schedule(start, end, every=_parse_option(node, "every", keys["every"], None),
                    factor=factor.number(**keys["factor"].bounds) if factor is not None else None,
                    step=step.number(**keys["step"].bounds) if step is not None else None)


def _parse_selection(node: YamlNode, dim: int) -> Selection:
    """``{x: 0, y: [0, 10]}``, ``{group: name}`` or both (the nodes that satisfy both)."""
    axes = AXES[:dim]
    if not isinstance(node.value, Mapping) or not node.value:
        node.fail(f"expected a mapping of coordinates ({', '.join(axes)}) to a number or a "
                  f"[min, max] range, and/or a group name (group), got {_describe(node.value)}")
    for key in node.value:
        if key in AXES[dim:]:
            node.child(key).fail(f"a {dim}D mesh has no {key} coordinate (use {', '.join(axes)})")
    node.reject_unknown_keys(axes + ("group",))
    group = node.get("group", None, _parse_group_name)
    ranges = []
    for axis in axes:
        child = node.optional(axis)
        if child is None:
            continue
        if isinstance(child.value, list):
            lo, hi = (n.number() for n in child.vector(2, "numbers [min, max]"))
            if lo > hi:
                child.fail(f"expected [min, max] with min <= max, got {_show(child.value)}")
        else:
            lo = hi = child.number(what="a number or a [min, max] range")
        ranges.append((axis, lo, hi))
    return Selection(tuple(ranges), group)


def _parse_group_name(node: YamlNode) -> str:
    """A group's name; an integer is the number of a gmsh physical group without a name."""
    if isinstance(node.value, int) and not isinstance(node.value, bool):
        return str(node.value)
    name = node.string()
    if not name:
        node.fail("expected a group name, got an empty string")
    return name


def _parse_component(node: YamlNode, dim: int) -> int:
    """One component name (x, y or z) as its index."""
    if isinstance(node.value, str) and node.value in AXES[dim:]:
        node.fail(f"a {dim}D mesh has no {node.value} component (use {', '.join(AXES[:dim])})")
    return AXES.index(node.choice(AXES[:dim]))


def _parse_case(node: YamlNode, n_cases: int) -> int:
    case = node.integer(ge=0)
    if case >= n_cases:
        node.fail(f"must be < {n_cases}, the number of load cases (numbered from 0), got {case}")
    return case
