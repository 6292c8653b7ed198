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
the problem schema rejects, an empty product or two cases with the same name is one
:class:`~femopt.errors.ConfigError` (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass


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
