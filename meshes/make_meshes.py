"""Generate the shipped meshes with gmsh's Python API (the optional extra ``femopt[mesh]``).

    python meshes/make_meshes.py                     # every mesh
    python meshes/make_meshes.py lbracket crank      # some of them
    python meshes/make_meshes.py --list              # names, files and what they are

Each part is one function that builds its geometry with gmsh's OpenCASCADE kernel,
names its physical groups and meshes it; ``main`` writes ``meshes/<name>.msh`` (MSH 4.1,
ASCII: meshio reads it, and the groups of an entity that belongs to several physical
groups — ``domain`` and ``bolt_rings`` — survive as overlapping ``cell_sets``; MSH 2.2
would repeat such cells once per group). Units: millimetres throughout.

Groups follow one convention, which meshes/README.md lists per part:
- ``domain``: every cell (the design domain, the cell group of the part's dimension);
- passive regions (rings of material around holes): further cell groups;
- supports and loaded boundaries: facet groups (curves in 2D, surfaces in 3D).

femopt reads the written files with meshio (it imports gmsh only to mesh CAD parts such as
``plate_hole``, which is written as a STEP file: femopt.mesh.cad). The results
are deterministic for a given gmsh version (one thread, fixed sizes), so regenerating
with the same version reproduces the committed files; another version may move nodes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import gmsh
import numpy as np

HERE = Path(__file__).resolve().parent
occ = None  # gmsh.model.occ, set once gmsh is initialized


# --- helpers -------------------------------------------------------------------------


def _com(dim: int, tag: int) -> np.ndarray:
    return np.array(occ.getCenterOfMass(dim, tag))


def _bbox(dim: int, tag: int) -> np.ndarray:
    """(2, 3): lower and upper corner of an entity's bounding box."""
    return np.array(gmsh.model.getBoundingBox(dim, tag)).reshape(2, 3)


def _boundary(dim: int) -> list[int]:
    """Tags of the (dim-1)-entities on the outer boundary of every dim-entity."""
    faces = gmsh.model.getBoundary(gmsh.model.getEntities(dim), combined=True, oriented=False)
    return sorted({abs(t) for _, t in faces})


def _on_cylinder(dim: int, tag: int, center, radius: float, axis: int, tol: float = 1e-6) -> bool:
    """Whether a boundary entity lies on the cylinder (circle in 2D: axis 2) of ``radius``
    about the line through ``center`` along ``axis``: points sampled over its
    parametrization all lie at that distance from the axis."""
    across = [a for a in range(3) if a != axis]
    c = np.asarray(center, float)
    lo, hi = _bbox(dim, tag)
    if any(lo[a] < c[a] - radius - tol or hi[a] > c[a] + radius + tol for a in across):
        return False
    bounds = gmsh.model.getParametrizationBounds(dim, tag)
    grids = [np.linspace(b0, b1, 5) for b0, b1 in zip(*bounds)]
    params = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(grids))
    points = np.array(gmsh.model.getValue(dim, tag, params.ravel())).reshape(-1, 3)
    distance = np.linalg.norm(points[:, across] - c[across], axis=1)
    return bool(np.all(np.abs(distance - radius) < 1e-3 * radius))


def _group(dim: int, tags, name: str) -> None:
    tags = sorted(set(tags))
    if not tags:
        raise RuntimeError(f"physical group {name!r} would be empty")
    gmsh.model.addPhysicalGroup(dim, tags, name=name)


def _fragment(dim: int, body, tools) -> list:
    """Fragment the part ``body`` (dim-entities) with ``tools``: passive rings (which become
    separate entities sharing the mesh at their boundary) and cutting lines (2D) or planes
    (3D) that cross the whole part, so that the holes they cross split into halves that can
    be loaded separately. Pieces of the cutters that lie outside the part are removed.
    Returns, per tool, the dim-entities it became."""
    _, children = occ.fragment(body, tools)
    occ.synchronize()
    bounding = {abs(t) for _, t in gmsh.model.getBoundary(gmsh.model.getEntities(dim), combined=False,
                                                           oriented=False)}
    stray = [(d, t) for d, t in gmsh.model.getEntities(dim - 1) if t not in bounding]
    if stray:
        occ.remove(stray, recursive=True)
        occ.synchronize()
    return [sorted({t for d, t in piece if d == dim}) for piece in children[len(body):]]


def _fix_2d_orientation() -> None:
    """Reverse any surface meshed clockwise, so every triangle or quadrangle is
    counter-clockwise (positive area), the order femopt's cell types expect."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    coord_of = dict(zip(node_tags, np.asarray(coords).reshape(-1, 3)))
    for _, tag in gmsh.model.getEntities(2):
        _, _, nodes = gmsh.model.mesh.getElements(2, tag)
        a, b, c = (coord_of[n] for n in nodes[0][:3])
        if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) < 0:
            gmsh.model.mesh.reverse([(2, tag)])


def _plane_x(x: float, y0: float, y1: float, z0: float, z1: float):
    """A rectangle in the plane x = const spanning [y0, y1] × [z0, z1]."""
    tag = occ.addRectangle(z0, y0, 0, z1 - z0, y1 - y0)   # x ∈ [z0, z1] for now
    occ.rotate([(2, tag)], 0, 0, 0, 0, 1, 0, -math.pi / 2)  # (x, y, 0) → (0, y, x)
    occ.translate([(2, tag)], x, 0, 0)
    return (2, tag)


def _plane_y(y: float, x0: float, x1: float, z0: float, z1: float):
    """A rectangle in the plane y = const spanning [x0, x1] × [z0, z1]."""
    tag = occ.addRectangle(x0, z0, 0, x1 - x0, z1 - z0)   # y ∈ [z0, z1] for now
    occ.rotate([(2, tag)], 0, 0, 0, 1, 0, 0, math.pi / 2)   # (x, y, 0) → (x, 0, y)
    occ.translate([(2, tag)], 0, y, 0)
    return (2, tag)


def _plane_z(z: float, x0: float, x1: float, y0: float, y1: float):
    return (2, occ.addRectangle(x0, y0, z, x1 - x0, y1 - y0))


# --- parts ---------------------------------------------------------------------------


def lbracket() -> None:
    """2D L-bracket (triangles): 100 × 100 mm with the upper-right 60 × 60 removed, the
    re-entrant corner rounded to R 5, clamped along the top of the vertical leg (y = 100),
    loaded on the top 10 mm of the horizontal arm's free end (x = 100, 30 ≤ y ≤ 40)."""
    # The outline as points, lines and one arc: (100, 30) splits the free end's edge so that
    # only its top 10 mm is loaded, and the concave arc of radius 5 about (45, 45) replaces
    # the corner at (40, 40).
    r = 5.0
    xy = [(0, 0), (100, 0), (100, 30), (100, 40), (40 + r, 40), (40, 40 + r), (40, 100), (0, 100)]
    pts = [occ.addPoint(x, y, 0) for x, y in xy]
    centre = occ.addPoint(40 + r, 40 + r, 0)
    curves = [occ.addCircleArc(a, centre, b) if i == 4 else occ.addLine(a, b)
              for i, (a, b) in enumerate(zip(pts, pts[1:] + pts[:1]))]
    occ.addPlaneSurface([occ.addCurveLoop(curves)])
    occ.synchronize()
    edges = _boundary(2)
    clamp = [t for t in edges if np.allclose(_bbox(1, t)[:, 1], 100)]
    tip = [t for t in edges if np.allclose(_bbox(1, t)[:, 0], 100) and _bbox(1, t)[0, 1] >= 30 - 1e-6]
    _group(2, [t for _, t in gmsh.model.getEntities(2)], "domain")
    _group(1, clamp, "clamp")
    _group(1, tip, "tip")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 1.2)
    gmsh.model.mesh.generate(2)
    _fix_2d_orientation()


PLATE_BOLTS = [(15.0, 15.0), (15.0, 65.0), (50.0, 15.0), (50.0, 65.0)]
PLATE_PIN = (150.0, 40.0)


def plate_bolts() -> None:
    """2D plate with bolt holes (quadrangles): a 120 × 80 mm plate held by four M8 bolts
    (holes Ø 9 at PLATE_BOLTS) with a lug on its right end (40 mm wide, rounded to R 20
    about the pin hole Ø 16 at (150, 40)); the pin bears on the lower half of its hole.
    Rings of material around the holes (bolt holes to R 9, the pin hole to R 15) are
    passive solids: washers need a seat, the pin a bearing."""
    plate = occ.addRectangle(0, 0, 0, 120, 80)
    lug = occ.addRectangle(110, 20, 0, 40, 40)
    lug_end = occ.addDisk(*PLATE_PIN, 0, 20, 20)
    body, _ = occ.fuse([(2, plate)], [(2, lug), (2, lug_end)])
    holes = [(2, occ.addDisk(x, y, 0, 4.5, 4.5)) for x, y in PLATE_BOLTS]
    body, _ = occ.cut(body, holes + [(2, occ.addDisk(*PLATE_PIN, 0, 8, 8))])
    rings = [occ.cut([(2, occ.addDisk(x, y, 0, r_out, r_out))], [(2, occ.addDisk(x, y, 0, r_in, r_in))])[0][0]
             for (x, y), r_in, r_out in [(c, 4.5, 9.0) for c in PLATE_BOLTS] + [(PLATE_PIN, 8.0, 15.0)]]
    # A line through the pin's centre, across the whole plate, halves the pin hole.
    cutter = (1, occ.addLine(occ.addPoint(-10, PLATE_PIN[1], 0), occ.addPoint(180, PLATE_PIN[1], 0)))
    pieces = _fragment(2, body, rings + [cutter])
    edges = _boundary(2)
    bolts = [t for t in edges if any(_on_cylinder(1, t, (x, y, 0), 4.5, 2) for x, y in PLATE_BOLTS)]
    bore = [t for t in edges if _on_cylinder(1, t, (*PLATE_PIN, 0), 8.0, 2)]
    _group(2, [t for _, t in gmsh.model.getEntities(2)], "domain")
    _group(2, sum(pieces[:4], []), "bolt_rings")
    _group(2, pieces[4], "pin_ring")
    _group(1, bolts, "bolts")
    _group(1, bore, "pin")
    _group(1, [t for t in bore if _com(1, t)[1] < PLATE_PIN[1]], "pin_bearing")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 1.6)
    # Quadrangles: Frontal-Delaunay for quads, then Blossom full-quad recombination (it
    # subdivides what it cannot pair, so no triangle is left; the sizes halve).
    gmsh.option.setNumber("Mesh.Algorithm", 8)
    gmsh.option.setNumber("Mesh.RecombinationAlgorithm", 3)
    gmsh.option.setNumber("Mesh.RecombineAll", 1)
    gmsh.model.mesh.generate(2)
    _fix_2d_orientation()


BRACKET_BOLTS = [(15.0, 15.0), (125.0, 15.0), (15.0, 65.0), (125.0, 65.0)]
BRACKET_PIN = (70.0, 75.0)  # (x, z) of the pin axis, which runs along y (before the rotation)


def bracket3d() -> None:
    """3D engine-mount bracket (tetrahedra), y up as in femopt's other 3D problems: a
    140 × 10 × 80 mm base plate (x, y, z) held by four M10 bolts (holes Ø 11 along y at
    (x, z) in BRACKET_BOLTS) and above it a 40 mm thick clevis envelope (20 ≤ z ≤ 60) — a
    trapezoid 120 mm wide at the base tapering to 50 mm at y = 75, rounded to R 25 about
    a pin hole Ø 16 whose axis runs along z at x = 70, y = 75. The pin pulls the bracket up
    (the upper half of its hole) and sideways (the +x half). Rings around the bolt holes
    (to R 11, through the base) and the pin hole (to R 14) are passive solids.

    Built with z up (base in the xy plane), then turned by the rotation
    (x, y, z) → (x, z, 80 − y) of the mesh's nodes."""
    xc, zc = BRACKET_PIN
    base = occ.addBox(0, 0, 0, 140, 80, 10)
    pts = [occ.addPoint(x, 20, z) for x, z in [(10, 10), (130, 10), (95, 75), (45, 75)]]
    loop = occ.addCurveLoop([occ.addLine(pts[i], pts[(i + 1) % 4]) for i in range(4)])
    web = [e for e in occ.extrude([(2, occ.addPlaneSurface([loop]))], 0, 40, 0) if e[0] == 3]
    boss = occ.addCylinder(xc, 20, zc, 0, 40, 0, 25)
    body, _ = occ.fuse([(3, base)], web + [(3, boss)])
    holes = [(3, occ.addCylinder(x, y, 0, 0, 0, 10, 5.5)) for x, y in BRACKET_BOLTS]
    body, _ = occ.cut(body, holes + [(3, occ.addCylinder(xc, 20, zc, 0, 40, 0, 8))])
    rings = [occ.cut([(3, occ.addCylinder(x, y, 0, 0, 0, 10, 11))],
                     [(3, occ.addCylinder(x, y, 0, 0, 0, 10, 5.5))])[0][0] for x, y in BRACKET_BOLTS]
    rings.append(occ.cut([(3, occ.addCylinder(xc, 20, zc, 0, 40, 0, 14))],
                         [(3, occ.addCylinder(xc, 20, zc, 0, 40, 0, 8))])[0][0])
    # Planes through the pin axis, each across the whole part: z = 75 (upper / lower half
    # of the pin hole) and x = 70 (+x / -x half).
    cutters = [_plane_z(zc, 30, 110, 10, 70), _plane_x(xc, -5, 85, -5, 105)]
    pieces = _fragment(3, body, rings + cutters)
    faces = _boundary(3)
    bolts = [t for t in faces if any(_on_cylinder(2, t, (x, y, 5), 5.5, 2) for x, y in BRACKET_BOLTS)]
    bore = [t for t in faces if _on_cylinder(2, t, (xc, 40, zc), 8.0, 1)]
    _group(3, [t for _, t in gmsh.model.getEntities(3)], "domain")
    _group(3, sum(pieces[:4], []), "bolt_rings")
    _group(3, pieces[4], "pin_ring")
    _group(2, bolts, "bolts")
    _group(2, bore, "pin")
    _group(2, [t for t in bore if _com(2, t)[2] > zc], "pin_up")
    _group(2, [t for t in bore if _com(2, t)[0] > xc], "pin_side")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 3.6)
    gmsh.model.mesh.generate(3)
    # A rotation (determinant +1, so the tetrahedra keep their orientation): y up.
    gmsh.model.mesh.affineTransform([1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 80])


CRANK_SPINDLE = (0.0, 0.0)
CRANK_PEDAL = (170.0, 0.0)


def crank() -> None:
    """3D bicycle crank arm (tetrahedra): 170 mm between the bottom-bracket spindle (bore
    Ø 20 in a boss R 24) and the pedal (bore Ø 14 in a boss R 16), the outline tangent to
    both bosses, 24 mm thick (z ∈ [0, 24]). The spindle bore is clamped; the pedal presses
    on the lower half of its bore (arm horizontal, the down-stroke) and pulls on its outer
    half (arm at the bottom of the stroke). Rings around both bores are passive solids."""
    (x0, y0), (x1, y1) = CRANK_SPINDLE, CRANK_PEDAL
    r0, r1, t = 24.0, 16.0, 24.0
    # External tangents of the two circles: their normals make an angle θ with the x axis,
    # cos θ = (r0 - r1) / distance.
    theta = math.acos((r0 - r1) / (x1 - x0))
    c, s = math.cos(theta), math.sin(theta)
    corners = [(x0 + r0 * c, r0 * s), (x1 + r1 * c, r1 * s), (x1 + r1 * c, -r1 * s), (x0 + r0 * c, -r0 * s)]
    pts = [occ.addPoint(x, y, 0) for x, y in corners]
    loop = occ.addCurveLoop([occ.addLine(pts[i], pts[(i + 1) % 4]) for i in range(4)])
    outline, _ = occ.fuse([(2, occ.addPlaneSurface([loop]))],
                          [(2, occ.addDisk(x0, y0, 0, r0, r0)), (2, occ.addDisk(x1, y1, 0, r1, r1))])
    body = [e for e in occ.extrude(outline, 0, 0, t) if e[0] == 3]
    body, _ = occ.cut(body, [(3, occ.addCylinder(x0, y0, 0, 0, 0, t, 10)),
                             (3, occ.addCylinder(x1, y1, 0, 0, 0, t, 7))])
    rings = [occ.cut([(3, occ.addCylinder(x, y, 0, 0, 0, t, r_out))],
                     [(3, occ.addCylinder(x, y, 0, 0, 0, t, r_in))])[0][0]
             for (x, y), r_in, r_out in [(CRANK_SPINDLE, 10, 17), (CRANK_PEDAL, 7, 12)]]
    # Planes through the pedal axis, across the whole arm: y = 0 (lower / upper half of the
    # pedal bore; it halves the spindle bore too, harmlessly) and x = 170 (outer / inner).
    cutters = [_plane_y(y1, -30, 200, -5, t + 5), _plane_x(x1, -20, 20, -5, t + 5)]
    pieces = _fragment(3, body, rings + cutters)
    faces = _boundary(3)
    spindle = [f for f in faces if _on_cylinder(2, f, (x0, y0, t / 2), 10.0, 2)]
    pedal = [f for f in faces if _on_cylinder(2, f, (x1, y1, t / 2), 7.0, 2)]
    _group(3, [tag for _, tag in gmsh.model.getEntities(3)], "domain")
    _group(3, pieces[0] + pieces[1], "hub_rings")
    _group(2, spindle, "spindle")
    _group(2, pedal, "pedal")
    _group(2, [f for f in pedal if _com(2, f)[1] < y1], "pedal_down")
    _group(2, [f for f in pedal if _com(2, f)[0] > x1], "pedal_out")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 3.0)
    gmsh.model.mesh.generate(3)


def plate_hole() -> None:
    """3D plate 60 x 20 x 10 with a bolt hole Ø 8 at (50, 10) through z: a STEP file, no mesh.

    The CAD part of configs/plate_hole_cad.yaml, which femopt meshes itself
    (femopt.mesh.cad): a box minus a cylinder, written as geometry. Its faces after
    import: face-1 is x = 0 and face-7 the bolt hole.
    """
    box = occ.addBox(0, 0, 0, 60, 20, 10)
    hole = occ.addCylinder(50, 10, 0, 0, 0, 10, 4)
    occ.cut([(3, box)], [(3, hole)])
    occ.synchronize()


PARTS = {"lbracket": lbracket, "plate_bolts": plate_bolts, "bracket3d": bracket3d, "crank": crank,
         "plate_hole": plate_hole}
STEP_PARTS = {"plate_hole"}  # written as CAD geometry (<name>.step), not meshed here


def make(name: str, directory: Path = HERE, verbose: bool = False) -> Path:
    """Build part ``name``, mesh it and write ``directory/<name>.msh`` (the parts of
    STEP_PARTS: its geometry as ``directory/<name>.step``); returns the path."""
    global occ
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.NumThreads", 1)        # deterministic meshes
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 24)  # 24 elements around a hole
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.Binary", 0)
        gmsh.model.add(name)
        occ = gmsh.model.occ
        PARTS[name]()
        path = directory / f"{name}.{'step' if name in STEP_PARTS else 'msh'}"
        gmsh.write(str(path))
        return path
    finally:
        gmsh.finalize()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"parts to mesh (default: all of {', '.join(PARTS)})")
    parser.add_argument("--list", action="store_true", help="list the parts and exit")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the .msh files (default: meshes/)")
    parser.add_argument("--verbose", action="store_true", help="show gmsh's messages")
    args = parser.parse_args(argv)
    if args.list:
        for name, function in PARTS.items():
            print(f"{name:12s} {function.__doc__.splitlines()[0]}")
        return 0
    unknown = [n for n in args.names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose among {', '.join(PARTS)}")
    for name in args.names or PARTS:
        path = make(name, args.out, args.verbose)
        print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
