"""Registries: the named implementations of one extension point, with their options.

Every extension point of femopt (optimizers, filters, interpolations, responses,
solvers, cell types, passive shapes) keeps one :class:`Registry`. An entry holds
the name a problem file uses, the factory that builds the object, and the options
the factory takes with their defaults and the values they allow. The YAML reader
(:mod:`femopt.config`) and ``femopt schema`` derive their allowed names and keys from here, so adding an
implementation is one registration beside its code::

    OPTIMIZERS = Registry("optimizer")

    @OPTIMIZERS.register("oc", move=Option(0.2, bounds={"gt": 0, "le": 1}))
    class OC: ...

    OPTIMIZERS.create("oc", move=0.1)   # like OC(move=0.1), the other options at their defaults
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from femopt.errors import FemoptError

REQUIRED = object()  # the default of an option that has none: the file must give it

# What an option's value is, as a problem file spells it (femopt.config.options reads each kind):
KINDS = (
    "number",       # a finite real number within ``bounds`` (gt, ge, lt, le)
    "magnitude",    # a number whose size lies in femopt.config.MAGNITUDES, or 0 (not with bounds {"gt": 0})
    "integer",      # an integer within ``bounds`` (ge)
    "count",        # an integer within ``bounds`` (ge), or the word auto
    "boolean",
    "string",
    "choice",       # one of ``choices``
    "parameter",    # a number within ``bounds`` or a continuation schedule {start, end, every, factor | step}
    "point",        # dim numbers (a point of the mesh's space)
    "component",    # x, y or z of the mesh's dimension, as its index 0, 1, 2
    "selection",    # nodes or element centers by coordinates: {x: 0, y: [0, 10]} (nodes: and/or group)
    "group",        # the name of a named group of a mesh file
    "case",         # the index of a load case
)


@dataclass(frozen=True)
class Option:
    """One option of a registered implementation.

    default: the value when the file leaves it out; REQUIRED when it must be given.
    kind: one of KINDS. bounds: for numbers and parameters gt/ge/lt/le, for integers ge.
    choices: the allowed values of a "choice". doc: what it is, one line (``femopt schema``).
    """

    default: Any = REQUIRED
    kind: str = "number"
    bounds: Mapping[str, float] = field(default_factory=dict)
    choices: tuple = ()
    doc: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}; one of {', '.join(KINDS)}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Entry:
    """A registered implementation: ``factory(*context, **options)`` builds it."""

    name: str
    factory: Callable
    options: Mapping[str, Option]
    dims: tuple[int, ...] = (2, 3)   # the mesh dimensions it applies to
    doc: str = ""                    # what it is, one line (``femopt schema``)

    @property
    def defaults(self) -> dict[str, Any]:
        """The options that have defaults, at those defaults."""
        return {key: o.default for key, o in self.options.items() if not o.required}

    def create(self, *context, **options):
        """``factory(*context, **(defaults | options))``; unknown options are a bug here,
        since the config reader has already rejected them."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"{self.name} takes no option {', '.join(sorted(unknown))}")
        return self.factory(*context, **{**self.defaults, **options})


class Registry:
    """The implementations of one extension point, by name, in registration order.

    kind: what an entry is, for messages ("optimizer", "filter", …).
    error: the FemoptError subclass raised for an unknown name.
    """

    def __init__(self, kind: str, error: type[FemoptError] = FemoptError):
        self.kind = kind
        self.error = error
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable | None = None, *, dims=(2, 3), doc: str = "",
                 **options: Option):
        """Register ``factory`` under ``name`` with its ``options``, for meshes of ``dims``
        dimensions (``doc``: what it is, one line); without a factory, a decorator that
        registers what it decorates (and returns it unchanged)."""
        def add(function):
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, function, dict(options), tuple(dims), doc)
            return function
        return add if factory is None else add(factory)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register a temporary implementation)."""
        del self._entries[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def names_for(self, dim: int) -> tuple[str, ...]:
        """The names that apply to a ``dim``-dimensional mesh."""
        return tuple(name for name, entry in self._entries.items() if dim in entry.dims)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(f"{self.kind}: unknown {self.kind} {name!r}; choose one of "
                             f"{', '.join(self._entries)}") from None

    def create(self, name: str, *context, **options):
        """Build the implementation ``name``: its factory with the defaults filled in."""
        return self[name].create(*context, **options)
