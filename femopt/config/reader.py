"""Reading a problem file: YAML text → plain data, and :class:`YamlNode`, a value of it
together with its path, whose checks fail with one-line, path-qualified messages.

A ``YamlNode`` is a node of the YAML document (YAML's own term), not a mesh node: a value
and where it is (``loads[1].force``). Each method checks one thing and raises
:class:`_Invalid` naming the path; :func:`femopt.config.parse_config` turns that into a
ConfigError naming the file too. The YAML loader reads ``1e-9`` as a number (as YAML 1.2
does) and rejects duplicate keys. The formatting helpers (``_show``, ``_describe``,
``_num``, …) are shared by the modules of :mod:`femopt.config` only.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import yaml

from femopt.errors import ConfigError

# Sizes of material values, loads, springs and weights (and of the void's modulus relative
# to the solid's): compliance ~ F²/(E·t) and its sensitivities multiply several of them, and
# must neither underflow (an all-void design "converges") nor overflow.
MAGNITUDES = (1e-30, 1e30)


def config_error(source: str | None, path: str | None, reason: str) -> ConfigError:
    """``ConfigError("<source>: <path>: <reason>")`` with those three as attributes."""
    message = ": ".join(p for p in (source, path, reason) if p)
    err = ConfigError(message)
    err.source, err.path, err.reason = source, path, reason
    return err


def read_yaml(path: str | Path, referrer: str | None = None) -> Any:
    """The YAML data of the file ``path`` (numbers like ``1e-9`` read as numbers, duplicate
    keys rejected). Raises ConfigError: an unreadable file names ``referrer`` (the file
    that refers to it, if any), broken YAML names ``path`` and where."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise config_error(referrer, None, f"cannot read {source!r}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise config_error(referrer, None, f"cannot read {source!r}: not a UTF-8 text file") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        raise config_error(source, None, _yaml_problem(e)) from None
    except yaml.YAMLError as e:
        raise config_error(source, None, f"invalid YAML: {_one_line(str(e))}") from None


def yaml_data(value: Any) -> Any:
    """``value`` with what a Python caller naturally writes turned into what YAML would read:
    tuples and numpy arrays into lists, numpy scalars (np.float64, np.int64, np.bool_, 0-d
    arrays) into Python numbers and booleans, paths into strings. Mappings are copied, the
    caller's data is left as it is; anything else stays for the validation to name."""
    if isinstance(value, Mapping):
        return {yaml_data(k) if isinstance(k, np.generic) else k: yaml_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [yaml_data(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return yaml_data(value.tolist())  # Python scalars, nested lists (0-d: a scalar)
    if isinstance(value, PathLike):
        return os.fspath(value)
    return value


class _Invalid(Exception):
    """Internal: a value at ``path`` is wrong; parse_config adds the source."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason


class YamlNode:
    """A YAML value and its path (``loads[1].force``); each check fails naming the path."""

    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: str):
        self.value, self.path = value, path

    def fail(self, reason: str) -> NoReturn:
        raise _Invalid(self.path, reason)

    # -- navigation --------------------------------------------------------

    def child(self, key: Any) -> YamlNode:
        value = self.value.get(key) if isinstance(self.value, Mapping) else None
        name = _key(key)
        return YamlNode(value, f"{self.path}.{name}" if self.path else name)

    def mapping(self, allowed: Sequence[str]) -> YamlNode:
        """Check this is a mapping with only ``allowed`` keys."""
        if not isinstance(self.value, Mapping):
            self.fail(f"expected a mapping ({', '.join(allowed)}), got {_describe(self.value)}")
        self.reject_unknown_keys(allowed)
        return self

    def reject_unknown_keys(self, allowed: Sequence[str]) -> None:
        for key in self.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1) if isinstance(key, str) else []
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
                self.child(key).fail(f"unknown key ({hint})")

    def optional(self, key: str) -> YamlNode | None:
        """The child ``key``, or None when it is absent (a present null is kept and rejected later)."""
        return self.child(key) if key in self.value else None

    def require(self, key: str) -> YamlNode:
        if key not in self.value:
            self.fail(f"missing required key {key!r}")
        return self.child(key)

    def get(self, key: str, default: Any, parse) -> Any:
        """``parse(child)`` if ``key`` is present, else ``default``."""
        node = self.optional(key)
        return default if node is None else parse(node)

    def items(self, noun: str) -> list[YamlNode]:
        """The entries of a non-empty list; ``noun`` names one entry in messages."""
        if not isinstance(self.value, list):
            self.fail(f"expected a list of {noun}s, got {_describe(self.value)}")
        if not self.value:
            self.fail(f"must list at least one {noun}")
        return [YamlNode(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def vector(self, count: int, noun: str) -> list[YamlNode]:
        """The entries of a list of exactly ``count`` values."""
        if not isinstance(self.value, list):
            self.fail(f"expected a list of {count} {noun}, got {_describe(self.value)}")
        if len(self.value) != count:
            self.fail(f"expected {count} {noun}, got {len(self.value)}")
        return [YamlNode(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    # -- scalars -----------------------------------------------------------

    def number(self, *, gt=None, ge=None, lt=None, le=None, what: str = "a number") -> float:
        """A finite real number (bool excluded) within the given bounds."""
        v = self.value
        try:
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        except OverflowError:  # an int too large for a float
            ok = False
        if not ok:
            self.fail(f"expected {what}, got {_describe(v)}")
        v = float(v)
        if ((gt is not None and not v > gt) or (ge is not None and not v >= ge)
                or (lt is not None and not v < lt) or (le is not None and not v <= le)):
            self.fail(f"must be {_bounds_text(gt, ge, lt, le)}, got {_show(self.value)}")
        return v

    def positive(self) -> float:
        return self.number(gt=0)

    def magnitude(self, *, positive: bool = False) -> float:
        """A number whose size lies in MAGNITUDES (or 0, unless ``positive``): a material
        value, load or weight, of which compliance and its sensitivities take products
        (F²/(E·t)) that must stay inside double precision."""
        v = self.number(gt=0) if positive else self.number()
        lo, hi = MAGNITUDES
        if v != 0 and not lo <= abs(v) <= hi:
            self.fail(f"must be {'' if positive else '0 or '}between {lo:g} and {hi:g} in size (femopt "
                      f"computes products of such values in double precision; choose other units), "
                      f"got {_show(self.value)}")
        return v

    def integer(self, *, ge: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"expected an integer, got {_describe(v)}")
        if ge is not None and v < ge:
            self.fail(f"must be >= {ge}, got {v}")
        return v

    def int_list(self, counts: Sequence[int], positive: bool = False) -> tuple[int, ...]:
        """A list of ``counts`` (e.g. 2 or 3) integers, reported as a whole when wrong."""
        v = self.value
        ok = (isinstance(v, list) and len(v) in counts
              and all(isinstance(x, int) and not isinstance(x, bool) and (x > 0 or not positive)
                      for x in v))
        if not ok:
            n = " or ".join(str(c) for c in counts)
            kind = "positive integers" if positive else "integers"
            self.fail(f"expected {n} {kind}, got {_show(v)}")
        return tuple(v)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_describe(self.value)}")
        return self.value

    def string(self) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected a string, got {_describe(self.value)}")
        return self.value

    def choice(self, options: Sequence[str]) -> str:
        v = self.value
        if v not in options or not isinstance(v, str):
            close = difflib.get_close_matches(v, options, n=1) if isinstance(v, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"must be one of {', '.join(options)}, got {_show(v)}{hint}")
        return v


def _alternatives(names: Sequence[str]) -> str:
    """('box', 'sphere', 'cylinder') -> 'box, sphere or cylinder'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _num(x: float) -> str:
    """1.0 -> '1', 0.5 -> '0.5', 1e-09 -> '1e-09'."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _key(key: Any, limit: int = 60) -> str:
    """A mapping key as a path or message shows it: plain when it is a printable string,
    else quoted like a value (so that a key holding a newline keeps messages one line)."""
    return key if isinstance(key, str) and key.isprintable() else _show(key, limit)


def _show(v: Any, limit: int = 60) -> str:
    """A value the way it would look in YAML flow style, on one line."""
    if v is None:
        text = "null"
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, str):
        text = repr(v)
    elif isinstance(v, (int, float)):
        text = repr(v)
    elif isinstance(v, (list, tuple)):
        text = "[" + ", ".join(_show(x, limit) for x in v) + "]"
    elif isinstance(v, Mapping):
        text = "{" + ", ".join(f"{_key(k, limit)}: {_show(x, limit)}"
                               for k, x in v.items()) + "}"
    else:
        text = _one_line(repr(v))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(v: Any) -> str:
    """What kind of value this is, for 'expected X, got Y'."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"boolean {_show(v)}"
    if isinstance(v, str):
        return f"string {_show(v)}"
    if isinstance(v, list):
        return f"a list {_show(v)}"
    if isinstance(v, Mapping):
        return f"a mapping {_show(v)}"
    if isinstance(v, (int, float)):
        return _show(v)
    return f"a {type(v).__name__} {_show(v)}"  # no YAML value: a set, a complex number, an object


def _python_value(v: Any) -> str:
    """A Python value given where a problem was expected: 'None', 'list [1]', 'int 3'."""
    return "None" if v is None else f"{type(v).__name__} {_show(v)}"


def _bounds_text(gt, ge, lt, le) -> str:
    lo, hi = (gt if gt is not None else ge), (lt if lt is not None else le)
    if lo is not None and hi is not None:
        return f"in {'(' if gt is not None else '['}{_num(lo)}, {_num(hi)}{')' if lt is not None else ']'}"
    if lo is not None:
        return f"{'>' if gt is not None else '>='} {_num(lo)}"
    return f"{'<' if lt is not None else '<='} {_num(hi)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    problem = _one_line(e.problem or e.context or "syntax error")
    mark = e.problem_mark or e.context_mark
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-9`` as a number (as YAML 1.2 does) and rejects duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {_show(key)}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
