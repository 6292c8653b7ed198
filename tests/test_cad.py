"""CAD parts (femopt.mesh.cad): a STEP plate with a bolt hole meshed with gmsh at run time,
its face groups and face table, the mesh cache and its key, the fingerprint, one-line
errors for bad files, and a run to volume 0.3 that writes a closed density.stl and mesh.msh."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from femopt.cli import main
from femopt.config import load_config
from femopt.errors import MeshError
from femopt.mesh import cad, read_mesh

from helpers import CONFIGS, ROOT

PLATE = 60 * 20 * 10 - np.pi * 4 ** 2 * 10  # mm³: the box minus the bolt hole Ø 8


def write_step(path, surface_only: bool = False):
    """A 60 x 20 x 10 plate minus a bolt hole Ø 8 at (50, 10), axis z, as gmsh writes it
    (box minus cylinder, OpenCASCADE); ``surface_only``: a rectangle at z = 5, no solid."""
    import gmsh

    gmsh.initialize(["-noenv"], readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        occ = gmsh.model.occ
        if surface_only:
            occ.addRectangle(0, 0, 5, 60, 20)
        else:
            occ.cut([(3, occ.addBox(0, 0, 0, 60, 20, 10))], [(3, occ.addCylinder(50, 10, 0, 0, 0, 10, 4))])
        occ.synchronize()
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """Meshes cached in one folder of the session (not the user's ~/.cache)."""
    folder = tmp_path_factory.getbasetemp() / "cad-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "femopt" / "cad"


@pytest.fixture(scope="module")
def step(tmp_path_factory):
    return write_step(tmp_path_factory.mktemp("cad") / "plate.step")


def plate_config(folder, step, **mesh):
    data = {"problem": "plate", "mesh": {"file": str(step), "size": 4.0, **mesh},
            "material": {"E": 70000.0, "nu": 0.33, "Emin": 7e-5},
            "supports": [{"at": {"group": "face-1"}, "fix": "all"}],
            "loads": [{"at": {"group": "face-7"}, "force": [0.0, -1000.0, 0.0]}],
            "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 6.0}},
            "optimizer": {"type": "oc", "max_iterations": 8}}
    path = folder / "plate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_step_meshes_to_tetrahedra_with_a_group_per_face_and_volume(step):
    mesh = read_mesh(step, size=4.0)
    assert mesh.cell_type.name == "T4" and mesh.dim == 3
    assert sorted(mesh.facet_groups) == [f"face-{k}" for k in range(1, 8)]
    assert "volume-1" in mesh.cell_groups and len(mesh.cell_groups["volume-1"]) == mesh.n_elements
    assert mesh.element_volumes.sum() == pytest.approx(PLATE, rel=1e-2)
    clamp = mesh.node_coords[mesh.facet_groups["face-1"]]
    assert np.all(clamp[..., 0] == pytest.approx(0.0, abs=1e-9))
    hole = mesh.node_coords[mesh.facet_groups["face-7"]]
    assert np.hypot(hole[..., 0] - 50, hole[..., 1] - 10) == pytest.approx(4.0, abs=1e-6)


def test_order_2_gives_t10_and_scale_multiplies_coordinates(step):
    mesh = read_mesh(step, scale=0.001, size=4.0, order=2)
    assert mesh.cell_type.name == "T10"
    # Midside nodes on the cylinder: the volume is the exact one to a fraction of a percent.
    assert mesh.element_volumes.sum() == pytest.approx(PLATE * 1e-9, rel=1e-3)


def test_mesh_is_cached_by_the_files_digest_and_the_options(step, cache, monkeypatch, tmp_path):
    first = cad.cached_mesh(step, 4.0)
    assert first.parent == cache and first.with_suffix(".json").exists()
    copy = tmp_path / "renamed.stp"
    copy.write_bytes(step.read_bytes())
    monkeypatch.setattr(cad, "_mesh", lambda *a: pytest.fail("meshed again"))
    assert cad.cached_mesh(copy, 4.0) == first  # same bytes, same options: no gmsh
    monkeypatch.undo()
    assert cad.cached_mesh(step, 5.0) != first
    assert cad.cached_mesh(step, 4.0, order=2) != first


def test_fingerprint_follows_the_cad_files_contents_and_mesh_options(step, tmp_path):
    config = load_config(plate_config(tmp_path, step))
    assert config.mesh.cad_options == {"size": 4.0, "min_size": 0.0, "order": 1}
    finer = load_config(plate_config(tmp_path, step, size=5.0))
    assert finer.fingerprint != config.fingerprint
    # The same geometry, other bytes: gmsh's header has a timestamp to the second, so a copy
    # written in the same second is identical; another author in the header is not.
    other = tmp_path / "other.step"
    other.write_bytes(step.read_bytes().replace(b"('Author')", b"('Another author')", 1))
    assert other.read_bytes() != step.read_bytes()
    moved = load_config(plate_config(tmp_path, other))
    assert moved.mesh.digest != config.mesh.digest and moved.fingerprint != config.fingerprint


def test_grid_fingerprints_do_not_change():
    """The CAD options stay out of other meshes' fingerprints (their checkpoints still resume)."""
    assert load_config(CONFIGS / "mbb.yaml").mesh.cad == ()
    assert "cad" not in repr(load_config(CONFIGS / "mbb.yaml").mesh)


def test_validate_lists_the_faces_with_kind_area_and_centroid(step, tmp_path):
    result = invoke("validate", plate_config(tmp_path, step))
    assert result.exit_code == 0, result.output
    assert "  face-1: plane, area 200, centroid (0, 10, 5)" in result.output
    assert "  face-7: cylinder, area 251.3, centroid (50, 10, 5)" in result.output


def stl_edges_are_closed(path) -> bool:
    """Every edge of the binary STL ``path`` is shared by exactly two triangles."""
    data = path.read_bytes()
    count = int(np.frombuffer(data, np.uint32, 1, 80)[0])
    records = np.frombuffer(data, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), count, 84)
    _, ids = np.unique(records["v"].reshape(-1, 3), axis=0, return_inverse=True)
    triangles = ids.reshape(-1, 3)
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    return count > 0 and bool(np.all(uses == 2))


@pytest.mark.slow
def test_plate_with_bolt_hole_optimizes_to_a_closed_stl(step, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", plate_config(tmp_path, step), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["volume"] == pytest.approx(0.3, abs=1e-3)
    assert stl_edges_are_closed(out / "density.stl")
    written = read_mesh(out / "mesh.msh")  # gmsh's mesh of the part, with its groups
    assert written.n_elements == len(np.load(out / "result.npz")["rho"])
    again = invoke("run", plate_config(tmp_path, step), "-o", out, "-q", "--max-iterations", "1")
    assert again.exit_code == 0, again.output  # mesh.msh is femopt's: the folder is replaced
    assert "face-7" in written.facet_groups


def test_a_planar_face_set_in_z_0_gives_a_2d_triangle_mesh(tmp_path):
    import gmsh

    gmsh.initialize(["-noenv"], readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.occ.addRectangle(0, 0, 0, 30, 10)
        gmsh.model.occ.synchronize()
        gmsh.write(str(tmp_path / "sheet.brep"))
    finally:
        gmsh.finalize()
    mesh = read_mesh(tmp_path / "sheet.brep", size=2.0)
    assert mesh.dim == 2 and mesh.cell_type.name == "T3"
    assert "face-1" in mesh.cell_groups and sorted(mesh.facet_groups) == [f"curve-{k}" for k in range(1, 5)]
    assert mesh.element_volumes.sum() == pytest.approx(300.0)


def test_gmsh_leaves_femopts_sigint_handler_and_no_session(step):
    import gmsh

    before = signal.getsignal(signal.SIGINT)
    read_mesh(step, size=3.5)  # a new key: gmsh meshes
    assert signal.getsignal(signal.SIGINT) is before and not gmsh.isInitialized()


@pytest.mark.parametrize("case", ["missing", "garbage", "surface", "folder"])
def test_bad_cad_files_are_one_line_exit_2(tmp_path, case):
    if case == "garbage":
        (tmp_path / "part.step").write_text("ISO-10303-21;\nthis is not a STEP file\n")
    elif case == "surface":
        write_step(tmp_path / "part.step", surface_only=True)
    elif case == "folder":
        (tmp_path / "part.step").mkdir()
    config = plate_config(tmp_path, tmp_path / "part.step")
    if case == "garbage":  # OpenCASCADE prints parse errors itself: the process's output shows them
        proc = subprocess.run([sys.executable, "-m", "femopt.cli", "validate", str(config)],
                              capture_output=True, text=True, cwd=ROOT)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    else:
        result = invoke("validate", config)
        code, stdout, stderr = result.exit_code, "", result.output
    assert code == 2, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "part.step" in stderr and stdout == ""
    expected = {"missing": "cannot read the CAD file", "garbage": "cannot read the CAD file",
                "surface": "no solid", "folder": "it is a folder"}[case]
    assert expected in stderr


def test_an_unwritable_cache_is_one_line(step, tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file where the folder should be
    with pytest.raises(MeshError, match="cannot write its mesh into the cache"):
        read_mesh(step, size=4.0)


@pytest.mark.parametrize("mesh, message", [
    ({"size": 4.0, "min_size": 5.0}, "mesh.min_size: 5 is larger than size (4)"),
    ({"size": 4.0, "order": 3}, "mesh.order: must be 1 (linear elements) or 2 (quadratic), got 3"),
    ({"size": -1.0}, "mesh.size: must be > 0"),
])
def test_bad_cad_mesh_options(step, tmp_path, mesh, message):
    path = plate_config(tmp_path, step)
    data = yaml.safe_load(path.read_text())
    data["mesh"] = {"file": str(step), **mesh}
    path.write_text(yaml.safe_dump(data))
    result = invoke("validate", path)
    assert result.exit_code == 2 and message in result.output, result.output


def test_cad_options_on_a_mesh_file_are_refused(tmp_path):
    path = tmp_path / "p.yaml"
    data = yaml.safe_load((CONFIGS / "lbracket.yaml").read_text())
    data["mesh"] = {"file": str(ROOT / "meshes" / "lbracket.msh"), "order": 2}
    path.write_text(yaml.safe_dump(data))
    result = invoke("validate", path)
    assert result.exit_code == 2 and "mesh.order: only applies to a mesh from a CAD file" in result.output


def test_shipped_step_part_validates():
    result = invoke("validate", CONFIGS / "plate_hole_cad.yaml")
    assert result.exit_code == 0, result.output
    assert "face-7: cylinder" in result.output


def printed_config(folder, size: float = 4.0, iterations: int = 2):
    """configs/plate_hole_cad_printed.yaml on a coarse mesh, for few iterations."""
    data = yaml.safe_load((CONFIGS / "plate_hole_cad_printed.yaml").read_text())
    data["mesh"] = {"file": str(ROOT / "meshes" / "plate_hole.step"), "size": size}
    data["optimizer"]["max_iterations"] = iterations
    path = folder / "printed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_printed_part_builds_with_the_mesh_overhang_filter(tmp_path):
    """The STEP part printed flat (+z): the overhang filter on its tetrahedra, and a short run
    whose printed design is what the analysis, result.npz and the closed STL see."""
    from femopt.build import build
    from femopt.design.overhang_mesh import MeshOverhangFilter

    config = load_config(CONFIGS / "plate_hole_cad_printed.yaml")
    assert config.design.overhang.build_direction == "+z" and config.design.overhang.angle == 45
    model = build(load_config(printed_config(tmp_path)))
    assert isinstance(model.overhang, MeshOverhangFilter) and model.overhang.slices.max() >= 1
    assert any(notice.startswith("overhang filter on the mesh") for notice in model.notices)
    out = tmp_path / "out"
    result = invoke("run", printed_config(tmp_path), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    arrays = np.load(out / "result.npz")
    assert "rho_blueprint" in arrays and not np.allclose(arrays["rho"], arrays["rho_blueprint"])
    assert stl_edges_are_closed(out / "density.stl")
