"""Meshes from files: any format meshio reads (gmsh .msh v2/v4, .vtu, Abaqus .inp, …).

:func:`read_mesh` turns a file into a :class:`femopt.mesh.Mesh`:

- the domain is the cells of the highest dimension; they must be of one type, and
  that type one of ``CELL_TYPES`` (looked up by its ``meshio_name``);
- named groups — gmsh physical groups (``cell_data["gmsh:physical"]`` with the names
  in ``field_data``) and meshio's ``cell_sets`` / ``point_sets`` — become node, facet
  and cell groups: a group of domain cells is a cell group, a group of cells one
  dimension lower (lines in 2D, triangles or quads in 3D) a facet group, and any
  group also names its nodes (a node group); points and edges in 3D give nodes only;
- nodes that no domain cell uses are dropped and the rest renumbered in their
  order, so every node gets DOFs that something stiffens;
- coincident nodes (an unwelded seam) are merged, groups included
  (:func:`femopt.mesh.checks.merge_coincident_nodes`; ``Mesh.merged_nodes`` says how
  many), and coordinates out of :data:`femopt.mesh.checks.COORDINATE_RANGE` are refused;
- a 2D mesh stored with z = 0 (gmsh's habit) becomes 2D.

Every problem is a :class:`~femopt.errors.MeshError` with a one-line message that
names the file and what is wrong where.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from femopt.element import CELL_TYPES, CellType, InvertedCellError
from femopt.errors import MeshError
from femopt.mesh.base import Mesh
from femopt.mesh.cad import cached_mesh, is_cad
from femopt.mesh.checks import check_coordinates, merge_coincident_nodes


def read_mesh(path, scale: float = 1.0, **cad_options) -> Mesh:
    """The :class:`Mesh` of the file ``path``, coordinates multiplied by ``scale``; a CAD
    file (STEP, IGES, BREP) is meshed by gmsh with ``cad_options`` (``size``, ``min_size``,
    ``order``; :func:`femopt.mesh.cad.cached_mesh`) and that mesh read.

    Reading the same unchanged file again with the same scale returns the same
    (immutable) Mesh without parsing it twice: the problem file's reader asks for
    the dimension and the build for the mesh.
    Raises MeshError (missing or unreadable file, unknown format, mixed or unsupported
    cell types, no cells of dimension 2 or 3, inverted or degenerate cells).
    """
    path = Path(path)
    if is_cad(path):
        return _read_cad(path, scale, **cad_options)
    try:
        stat = path.stat()
    except OSError as e:
        raise MeshError(f"{path}: cannot read the mesh file: {e.strerror or e}") from None
    return _read_cached(str(path.resolve()), str(path), stat.st_mtime_ns, stat.st_size, float(scale))


def _read_cad(path: Path, scale: float, size: float = 0.0, min_size: float = 0.0, order: int = 1) -> Mesh:
    """The mesh of the CAD part ``path``: elements of about ``size`` (at least ``min_size``;
    0: gmsh's choice) and polynomial ``order`` (1 or 2), from the cache of
    :mod:`femopt.mesh.cad`; errors name the CAD file as well as its cached mesh."""
    msh = cached_mesh(path, size, min_size, order)
    try:
        return read_mesh(msh, scale)
    except MeshError as e:
        raise MeshError(str(e).replace(str(msh), f"{path} (meshed as {msh})", 1)) from None


@lru_cache(maxsize=2)
def _read_cached(resolved: str, shown: str, mtime_ns: int, size: int, scale: float) -> Mesh:
    return from_meshio(_read_meshio(Path(resolved), shown), scale, source=shown)


def _read_meshio(path: Path, shown: str):
    """meshio's reading of ``path``, its failures (including the ``sys.exit`` meshio
    calls on a file it cannot parse, after printing) turned into one-line MeshErrors."""
    import meshio  # here, not at the top: it takes half a second, paid by mesh files only

    if path.is_dir():
        raise MeshError(f"{shown}: cannot read the mesh file: it is a folder")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() not in meshio.extension_to_filetypes and suffixes not in meshio.extension_to_filetypes:
        known = ", ".join(sorted(meshio.extension_to_filetypes))
        raise MeshError(f"{shown}: unknown mesh format {path.suffix or '(no extension)'!r} "
                        f"(meshio reads {known})")
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return meshio.read(path)
    except SystemExit:
        reason = " ".join(printed.getvalue().split()).removeprefix("Error: ") or "meshio cannot parse it"
    except OSError as e:
        reason = e.strerror or str(e)
    except Exception as e:  # a malformed file fails inside meshio's parsers in any way
        reason = f"{type(e).__name__}: {' '.join(str(e).split())}" if str(e) else type(e).__name__
    raise MeshError(f"{shown}: cannot read the mesh file: {reason[:300]}")


def from_meshio(raw, scale: float = 1.0, source: str = "<meshio>") -> Mesh:
    """The :class:`Mesh` of a ``meshio.Mesh`` (see the module docstring for the rules);
    ``source`` names it in messages. Raises MeshError."""
    dim = _domain_dimension(raw, source)
    blocks = [b for b in raw.cells if b.dim == dim]
    cell_type = _domain_cell_type(blocks, source)
    offsets = np.cumsum([0] + [len(b.data) for b in blocks])
    cells = np.concatenate([np.asarray(b.data, np.int64) for b in blocks])
    used = np.unique(cells)
    renumber = np.full(len(raw.points), -1, np.int64)
    renumber[used] = np.arange(len(used))
    with np.errstate(over="ignore", invalid="ignore"):  # out of range: check_coordinates says so
        coords = np.asarray(raw.points, float)[used, :dim] * scale
    check_coordinates(coords, source, scale)
    node_groups, facet_groups, cell_groups = _groups(raw, dim, cell_type, renumber, offsets, source)
    coords, cells, node_groups, facet_groups, merged = merge_coincident_nodes(
        coords, renumber[cells], node_groups, facet_groups)
    cells = _oriented(cells, coords, cell_type)
    mesh = Mesh(coords, cells, cell_type, node_groups, facet_groups, cell_groups)
    mesh.merged_nodes = merged
    _check_cells(mesh, source)
    return mesh


def _domain_dimension(raw, source: str) -> int:
    """The problem's dimension: the highest cell dimension, 2 only for a mesh in the plane z = 0."""
    top = max((b.dim for b in raw.cells), default=0)
    counts = _type_counts(raw.cells)
    if top < 2:
        raise MeshError(f"{source}: no cells of dimension 2 or 3 (it has {counts or 'no cells'})")
    points = np.asarray(raw.points)
    if top == 2 and points.shape[1] == 3 and np.any(points[:, 2] != 0):
        raise MeshError(f"{source}: no 3D cells, and its 2D cells ({counts}) are not in the plane "
                        "z = 0: a surface mesh? femopt needs 2D meshes in z = 0 or volume meshes")
    return top


def _domain_cell_type(blocks, source: str) -> CellType:
    """The one registered cell type of the domain blocks."""
    types = {b.type for b in blocks}
    if len(types) > 1:
        raise MeshError(f"{source}: mixed domain cell types ({_type_counts(blocks)}); femopt needs one "
                        "cell type per mesh")
    registered = (CELL_TYPES.create(name) for name in CELL_TYPES.names)
    by_meshio_name = {c.meshio_name: c for c in registered if c.dim == blocks[0].dim}
    name = types.pop()
    if name not in by_meshio_name:
        raise MeshError(f"{source}: {name} cells are not supported (femopt reads "
                        f"{', '.join(by_meshio_name)})")
    return by_meshio_name[name]


def _type_counts(blocks) -> str:
    """'120 triangle, 30 quad' for blocks of cells, summed per type."""
    counts = defaultdict(int)
    for b in blocks:
        counts[b.type] += len(b.data)
    return ", ".join(f"{n} {t}" for t, n in counts.items())


def _groups(raw, dim: int, cell_type: CellType, renumber: np.ndarray, offsets: np.ndarray, source: str):
    """(node_groups, facet_groups, cell_groups) of the file's named groups, in the new numbering."""
    nodes, facets, cells = defaultdict(list), defaultdict(list), defaultdict(list)
    facet_width = len(cell_type.facets[0])
    domain_index = {id(b): i for i, b in enumerate(b for b in raw.cells if b.dim == dim)}
    for name, b, members in _named_cells(raw):
        block = raw.cells[b]
        data = renumber[np.asarray(block.data, np.int64)[members]]
        nodes[name].append(data.ravel())
        if block.dim == dim:
            cells[name].append(offsets[domain_index[id(block)]] + members)
        elif block.dim == dim - 1:
            if data.shape[1] != facet_width:
                raise MeshError(f"{source}: group {name!r} has {block.type} facets, which do not fit "
                                f"{cell_type.name} cells ({facet_width} nodes per facet)")
            facets[name].append(data[np.all(data >= 0, axis=1)])  # facets off the domain are dropped
    for name, points in (raw.point_sets or {}).items():
        nodes[name].append(renumber[np.asarray(points, np.int64)])
    node_groups = {name: np.unique(np.concatenate(parts)) for name, parts in nodes.items()}
    node_groups = {name: n[n >= 0] for name, n in node_groups.items()}
    facet_groups = {name: np.unique(np.concatenate(parts), axis=0) for name, parts in facets.items()}
    cell_groups = {name: np.unique(np.concatenate(parts)) for name, parts in cells.items()}
    return node_groups, facet_groups, cell_groups


def _named_cells(raw):
    """(name, block index, (n,) cell indices within the block) of every named group: gmsh
    physical groups and meshio cell sets (gmsh 4 files give both; repeats are harmless)."""
    physical = (raw.cell_data or {}).get("gmsh:physical")
    if physical is not None:
        names = {}
        for name, value in (raw.field_data or {}).items():  # gmsh: name -> [tag, dimension]
            value = np.asarray(value).ravel()
            if len(value) == 2:
                names[int(value[0]), int(value[1])] = name
        for b, (block, tags) in enumerate(zip(raw.cells, physical)):
            tags = np.asarray(tags).ravel()
            for tag in np.unique(tags[tags > 0]):  # gmsh 2 writes 0 for "in no physical group"
                # A physical group without a name goes by its number, as gmsh shows it.
                name = names.get((int(tag), block.dim), str(int(tag)))
                yield name, b, np.flatnonzero(tags == tag)
    for name, per_block in (raw.cell_sets or {}).items():
        if name.startswith("gmsh:"):  # meshio's bookkeeping, not a user's group
            continue
        for b, members in enumerate(per_block):
            if members is not None and len(members):
                yield name, b, np.asarray(members, np.int64)


# Node orders that mirror each cell type (VTK's node order): corners 1 and 2 swap, and the
# edge midpoints follow their edges (T6: 01, 12, 20; T10: 01, 12, 20, 03, 13, 23).
_MIRRORED = {"T3": [0, 2, 1], "Q4": [0, 3, 2, 1], "T6": [0, 2, 1, 5, 4, 3], "T4": [0, 2, 1, 3],
             "H8": [0, 3, 2, 1, 4, 7, 6, 5], "T10": [0, 2, 1, 3, 6, 5, 4, 7, 9, 8]}


def _oriented(cells: np.ndarray, coords: np.ndarray, cell_type: CellType) -> np.ndarray:
    """``cells`` mirrored when every one of them is (a 2D surface meshed clockwise, an
    exporter's opposite convention); a mesh with both orientations is left to the
    inverted-cell check, which names the first bad cell."""
    center = cell_type.shape_gradients(cell_type.reference_nodes.mean(axis=0, keepdims=True))[0]
    jacobian = np.einsum("eni,nj->eij", coords[cells], center)
    if len(cells) and np.all(np.linalg.det(jacobian) < 0):
        return cells[:, _MIRRORED[cell_type.name]]
    return cells


def _check_cells(mesh: Mesh, source: str) -> None:
    """Raise MeshError naming the first inverted or degenerate cell and its node coordinates."""
    try:
        mesh.element_volumes  # computes every Jacobian determinant once (cached for later)
    except InvertedCellError as e:
        found = re.search(r"\bcell (\d+)", str(e))
        where = ""
        if found:
            points = mesh.node_coords[mesh.cells[int(found.group(1))]]
            where = "; its nodes: " + ", ".join("(" + ", ".join(f"{v:g}" for v in p) + ")" for p in points)
        raise InvertedCellError(f"{source}: {e}{where}") from None
