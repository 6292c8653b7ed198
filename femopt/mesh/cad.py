"""Meshes of CAD parts: STEP, IGES and BREP files meshed with gmsh's OpenCASCADE kernel.

``mesh: {file: part.step, size: 2.5}`` (optional ``min_size``, ``order: 2``) makes
:func:`femopt.mesh.io.read_mesh` ask :func:`cached_mesh` for gmsh's mesh of the part and
read that like any other mesh file:

- a part with volumes gives tetrahedra (T4, or T10 with ``order: 2``); a part of
  planar faces only, in the plane z = 0, gives triangles (T3, T6) in 2D; anything else
  (a surface model, a wireframe) is refused;
- every CAD face becomes the group ``face-<tag>`` and every volume ``volume-<tag>``
  (gmsh's tags after importing the file; facet and cell groups in 3D, in 2D the faces are
  cell groups and the curves facet groups ``curve-<tag>``); a name the file gives an
  entity (a STEP label) becomes a group of that name too;
- :func:`describe_faces` lists each face's kind (plane, cylinder, …), area and centroid
  for ``femopt validate``, so a user can pick ``at: {group: face-7}``.

The mesh is cached: ``$XDG_CACHE_HOME/femopt/cad/<key>.msh`` (``~/.cache`` without
XDG_CACHE_HOME), with its face table beside it as ``<key>.json``; the key is the sha256
of the CAD file's bytes and the mesh options, so an edited part or another size meshes
again and the same part is meshed once, whatever its path. gmsh is imported only to mesh
(it takes a second to import), with its terminal output off and without the SIGINT
handler it installs by default (femopt's own Ctrl-C handling checkpoints the run).
Sizes are in the file's units (gmsh reads STEP in millimetres); ``scale`` multiplies the
coordinates afterwards, as for any mesh file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import threading
from pathlib import Path

from femopt.errors import MeshError

#: File suffixes read as CAD parts (lower case).
CAD_SUFFIXES = (".step", ".stp", ".iges", ".igs", ".brep")
_FORMAT = 1  # bump when what is cached changes: older cache entries are then not used
_LOCK = threading.Lock()  # gmsh is one global session per process


def is_cad(path) -> bool:
    """Whether ``path`` names a CAD file (by its suffix)."""
    return Path(path).suffix.lower() in CAD_SUFFIXES


def cached_mesh(path, size: float = 0.0, min_size: float = 0.0, order: int = 1) -> Path:
    """The path of the gmsh mesh (MSH 4.1) of the CAD file ``path`` with these options,
    meshed now unless the cache has it. Raises MeshError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise MeshError(f"{path}: cannot read the CAD file: it is a folder") from None
    except OSError as e:
        raise MeshError(f"{path}: cannot read the CAD file: {e.strerror or e}") from None
    msh = cache_dir() / f"{_key(data, size, min_size, order)}.msh"
    if not msh.exists() or not msh.with_suffix(".json").exists():
        try:
            msh.parent.mkdir(parents=True, exist_ok=True)
            _mesh(path, msh, size, min_size, order)
        except OSError as e:
            raise MeshError(f"{path}: cannot write its mesh into the cache {msh.parent}: "
                            f"{e.strerror or e} (XDG_CACHE_HOME chooses another folder)") from None
    return msh


def describe_faces(path, size: float = 0.0, min_size: float = 0.0, order: int = 1,
                   scale: float = 1.0) -> list[str]:
    """One line per CAD face of ``path``: ``face-7: cylinder, area 125.7, centroid (50, 10, 5)``,
    area and centroid in the scaled units."""
    table = json.loads(cached_mesh(path, size, min_size, order).with_suffix(".json").read_text())
    lines = []
    for face in table["faces"]:
        centroid = ", ".join(f"{scale * c:.4g}" for c in face["centroid"])
        lines.append(f"{face['group']}: {face['kind']}, area {scale ** 2 * face['area']:.4g}, "
                     f"centroid ({centroid})")
    return lines


def copy_mesh(path, directory, size: float = 0.0, min_size: float = 0.0, order: int = 1) -> Path:
    """Copy the mesh of the CAD file ``path`` into ``directory`` as ``mesh.msh`` (in the
    file's units: the problem's ``scale`` is not applied); returns its path."""
    target = Path(directory) / "mesh.msh"
    shutil.copyfile(cached_mesh(path, size, min_size, order), target)
    return target


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/femopt/cad``, ``~/.cache/femopt/cad`` without it."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "femopt" / "cad"


def _key(data: bytes, size: float, min_size: float, order: int) -> str:
    digest = hashlib.sha256(data).hexdigest()
    options = f"{_FORMAT}:{float(size)!r}:{float(min_size)!r}:{int(order)}"
    return f"{digest[:32]}-{hashlib.sha256(options.encode()).hexdigest()[:12]}"


def _mesh(path: Path, msh: Path, size: float, min_size: float, order: int) -> None:
    """Import ``path`` with gmsh, mesh it and write ``msh`` and its face table atomically
    (a temporary name, then a rename: parallel runs of the same part may race)."""
    import gmsh  # here, not at the top: it takes a second to import, and only meshing needs it

    with _LOCK, _quiet_output():
        owner = not gmsh.isInitialized()
        if owner:  # interruptible=False: no SIGINT handler of gmsh's
            gmsh.initialize(["-noenv"], readConfigFiles=False, interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)  # deterministic meshes
        gmsh.model.add(f"femopt-cad-{os.getpid()}")
        try:
            dim = _import(gmsh, path)
            table = _name_groups(gmsh, dim)
            gmsh.option.setNumber("Mesh.MeshSizeMax", size if size > 0 else 1e22)
            gmsh.option.setNumber("Mesh.MeshSizeMin", min_size)
            gmsh.option.setNumber("Mesh.ElementOrder", order)
            gmsh.option.setNumber("Mesh.HighOrderOptimize", 2)  # untangle curved T10 near small holes
            gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
            gmsh.option.setNumber("Mesh.Binary", 0)
            try:
                gmsh.model.mesh.generate(dim)
            except Exception as e:
                raise MeshError(f"{path}: gmsh cannot mesh the part: {_reason(e)}") from None
            stem = f"{msh.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp = msh.with_name(stem + ".msh")
            gmsh.write(str(tmp))
            tmp_json = msh.with_name(stem + ".json")
            tmp_json.write_text(json.dumps(table, indent=1) + "\n")
            os.replace(tmp_json, msh.with_suffix(".json"))
            os.replace(tmp, msh)
        finally:
            gmsh.model.remove()
            if owner:
                gmsh.finalize()


@contextlib.contextmanager
def _quiet_output():
    """File descriptors 1 and 2 to /dev/null: OpenCASCADE's STEP reader and writer print
    their statistics and parse errors there themselves, whatever gmsh's General.Terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            os.dup2(null, fd)
        yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def _import(gmsh, path: Path) -> int:
    """Import the CAD file into the current model; the mesh's dimension (3, or 2 for
    planar faces in z = 0). Raises MeshError for an unreadable or non-solid file."""
    try:
        gmsh.model.occ.importShapes(str(path))
        gmsh.model.occ.synchronize()
    except Exception as e:
        raise MeshError(f"{path}: cannot read the CAD file: {_reason(e)}") from None
    if gmsh.model.getEntities(3):
        return 3
    faces = [tag for _, tag in gmsh.model.getEntities(2)]
    if not faces:
        raise MeshError(f"{path}: the CAD file has no solid and no faces (femopt needs a solid part, "
                        "or planar faces in z = 0 for a 2D problem)")
    flat = all(gmsh.model.getType(2, f).lower() == "plane" for f in faces)
    box = gmsh.model.getBoundingBox(-1, -1)  # OpenCASCADE widens it by its tolerance (1e-7)
    tolerance = 1e-6 * max(1.0, box[3] - box[0], box[4] - box[1])
    if not flat or abs(box[2]) > tolerance or abs(box[5]) > tolerance:
        count = f"{len(faces)} face{'s' if len(faces) > 1 else ''}"
        raise MeshError(f"{path}: the CAD file has {count} but no solid: a surface model? "
                        "femopt needs a solid part, or planar faces in z = 0 for a 2D problem")
    return 2


def _name_groups(gmsh, dim: int) -> dict:
    """Physical groups ``face-<tag>`` / ``volume-<tag>`` (2D: ``curve-<tag>`` / ``face-<tag>``)
    and those of the entities' own names; the face table for :func:`describe_faces`."""
    prefix = {1: "curve", 2: "face", 3: "volume"}
    named = {}
    for d in (dim - 1, dim):
        tags = [tag for _, tag in gmsh.model.getEntities(d)]
        for tag in tags:
            gmsh.model.addPhysicalGroup(d, [tag], tag, f"{prefix[d]}-{tag}")
            name = gmsh.model.getEntityName(d, tag).strip()
            if name:
                named.setdefault((d, name), []).append(tag)
        next_tag = max(tags, default=0) + 1
        for (group_dim, name), members in named.items():
            if group_dim == d:
                gmsh.model.addPhysicalGroup(d, members, next_tag, name)
                next_tag += 1
    faces = []
    for _, tag in gmsh.model.getEntities(2):
        faces.append({"group": f"face-{tag}", "kind": gmsh.model.getType(2, tag).lower(),
                      "area": gmsh.model.occ.getMass(2, tag),
                      "centroid": list(gmsh.model.occ.getCenterOfMass(2, tag))[:dim]})
    return {"dimension": dim, "faces": faces}


def _reason(error: Exception) -> str:
    """gmsh's last error message (its exception's text), on one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]
