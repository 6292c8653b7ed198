"""Selections of a problem file resolved on its mesh, all in one pass.

A selection (:class:`femopt.config.Selection`) names nodes by coordinates and/or a mesh
group. :func:`resolve_selections` turns every selection of a problem — supports, loads,
springs, point masses, passive groups, the options of kind "selection" of the responses —
into node numbers, facets or cells, in the order of the file, before anything is built from
them; the first that matches nothing is a ConfigError naming its key and what the mesh spans.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from femopt.config import ProblemConfig, Selection
from femopt.mesh import AXES, Mesh
from femopt.responses import RESPONSES


@dataclass(frozen=True)
class Selections:
    """What every selection of a problem file holds on its mesh, by the path of its key:
    ``selections["supports[0].at"]``. Nodes (n,), facets (n, nodes per facet) for facet
    loads, cells (n,) for heat sources; :meth:`response_options` gives a response's options
    with its selections replaced by their nodes."""

    found: dict[str, np.ndarray]

    def __getitem__(self, path: str) -> np.ndarray:
        return self.found[path]

    def response_options(self, spec) -> dict:
        """``spec.options`` (a ResponseConfig's) with each selection as its (n,) nodes."""
        return {key: self.found.get(f"{spec.path}.{key}", value) for key, value in spec.options.items()}


def resolve_selections(config: ProblemConfig, mesh: Mesh) -> Selections:
    """Every selection of ``config`` on ``mesh`` (supports, loads, springs, point masses,
    passive groups, then the responses' selections), in one pass; raises ConfigError for
    the first that selects nothing or names a group the mesh lacks."""
    return Selections({**structure_selections(config, mesh), **response_selections(config, mesh)})


def structure_selections(config: ProblemConfig, mesh: Mesh) -> dict[str, np.ndarray]:
    """The supports', loads', springs', point masses' selections by path (passive groups checked)."""
    found = {}
    for support in config.supports:
        found[f"{support.path}.at"] = select_nodes(config, mesh, support.at, f"{support.path}.at")
    for case in config.cases:
        for load in case.loads:
            found[f"{load.path}.at"] = _load_selection(config, mesh, load)
    for spring in config.springs:
        found[f"{spring.path}.at"] = select_nodes(config, mesh, spring.at, f"{spring.path}.at")
    for mass in config.point_masses:
        found[f"{mass.path}.at"] = select_nodes(config, mesh, mass.at, f"{mass.path}.at")
    for region in config.design.passive:
        if region.shape == "group":  # the cells themselves come with the region's mask
            mesh_group(config, mesh, region.options["group"], f"{region.path}.group", "cell")
    return found


def response_selections(config: ProblemConfig, mesh: Mesh) -> dict[str, np.ndarray]:
    """The nodes of the responses' options of kind "selection", by path."""
    found = {}
    for spec in (config.objective, *config.constraint_list):
        options = RESPONSES[spec.type].options
        for key, value in spec.options.items():
            if options[key].kind == "selection" and value is not None:
                found[f"{spec.path}.{key}"] = select_nodes(config, mesh, value, f"{spec.path}.{key}")
    return found


def on_facets(config: ProblemConfig, mesh: Mesh, load) -> bool:
    """True when ``load`` acts on facets (a traction, a pressure, a force on a facet group,
    a heat flux), False when on nodes or (heat sources) on cells."""
    if config.physics == "heat":
        return load.source is None and bool(load.traction)
    return bool(load.traction or load.pressure is not None
                or (load.at.group in mesh.facet_groups and not load.per_node))


def _load_selection(config: ProblemConfig, mesh: Mesh, load) -> np.ndarray:
    """The nodes, facets or (a heat source's) cells that ``load`` acts on."""
    path = f"{load.path}.at"
    if config.physics == "heat" and load.source is not None:
        return select_cells(config, mesh, load.at, path)
    if on_facets(config, mesh, load):
        return select_facets(config, mesh, load.at, path)
    return select_nodes(config, mesh, load.at, path)


def select_nodes(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """The nodes of ``selection`` (its coordinates and its group); a ConfigError about
    ``path`` when there are none."""
    nodes = mesh.select_nodes(selection.ranges)
    if selection.group is not None:
        nodes = np.intersect1d(nodes, mesh_group(config, mesh, selection.group, f"{path}.group"))
    if len(nodes) == 0:
        raise config.error(path, f"selects no node ({_where(mesh, selection)})")
    return nodes


def select_facets(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """(n_facets, nodes per facet) the facets of ``selection``'s group whose nodes all lie
    in its coordinate ranges; a ConfigError about ``path`` when there are none."""
    facets = mesh_group(config, mesh, selection.group, f"{path}.group", "facet")
    if selection.ranges:
        inside = np.zeros(mesh.n_nodes, bool)
        inside[mesh.select_nodes(selection.ranges)] = True
        facets = facets[inside[facets].all(axis=1)]
    if len(facets) == 0:
        raise config.error(path, f"selects no facet ({_where(mesh, selection)})")
    return facets


def select_cells(config: ProblemConfig, mesh, selection: Selection, path: str) -> np.ndarray:
    """(n,) the cells whose centers lie in ``selection``'s ranges and, with a group, that
    belong to that cell group; every cell for an empty selection; a ConfigError about
    ``path`` when there are none."""
    centers = mesh.element_centers
    tolerance = 1e-3 * mesh.characteristic_size
    inside = np.ones(mesh.n_elements, bool)
    for axis, lo, hi in selection.ranges:
        c = centers[:, AXES.index(axis)]
        inside &= (c >= lo - tolerance) & (c <= hi + tolerance)
    if selection.group is not None:
        in_group = np.zeros(mesh.n_elements, bool)
        in_group[mesh_group(config, mesh, selection.group, f"{path}.group", "cell")] = True
        inside &= in_group
    if not inside.any():
        raise config.error(path, f"contains no cell center ({_where(mesh, selection)})")
    return np.flatnonzero(inside)


def _where(mesh, selection: Selection) -> str:
    """'group 'tip', x=0; the mesh spans x in [0, 60], y in [0, 20]'."""
    where = [f"{a}={lo:g}" if lo == hi else f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in selection.ranges]
    if selection.group is not None:
        where.insert(0, f"group {selection.group!r}")
    spans = ", ".join(f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in zip(AXES, *mesh.bounds))
    return f"{', '.join(where)}; the mesh spans {spans}"


_GROUP_KINDS = {"node": "node_groups", "facet": "facet_groups", "cell": "cell_groups"}


def mesh_group(config: ProblemConfig, mesh, name: str, path: str, kind: str = "node") -> np.ndarray:
    """``mesh``'s ``kind`` group ``name`` (node: (n,) nodes, facet: (n, nodes per facet),
    cell: (n,) cells); a ConfigError about ``path`` listing the mesh's groups when it has
    none of that name and kind."""
    groups = getattr(mesh, _GROUP_KINDS[kind])
    if name in groups:
        return groups[name]
    every = sorted(set().union(*(getattr(mesh, attribute) for attribute in _GROUP_KINDS.values())))
    if name in every:
        has = [k for k, attribute in _GROUP_KINDS.items() if name in getattr(mesh, attribute)]
        holds = "cells" if "cell" in has else "facets" if "facet" in has else "nodes only"
        raise config.error(path, f"group {name!r} holds {holds}; this needs a group of {kind}s"
                           + (" (lines in 2D, faces in 3D)" if kind == "facet" else ""))
    if not every:
        raise config.error(path, f"unknown group {name!r} (the mesh has no named groups"
                           + ("; a generated grid never has any)" if mesh.structured else ")"))
    close = difflib.get_close_matches(name, every, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise config.error(path, f"unknown group {name!r} ({hint}the mesh has: {', '.join(every)})")
