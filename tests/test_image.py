"""density.vti (femopt.output.image): a large 3D grid's result as VTK ImageData."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from femopt.cli import main
from femopt.mesh import StructuredMesh
from femopt.output import files
from femopt.output.image import write_vti
from femopt.output.volume import write_vtu
from femopt.responses.stress import centre_von_mises

from test_3d import small_3d_yaml


def read_vti(path):
    """(attributes of ImageData, {name: float32 array (n, components)}) of a raw appended file."""
    data = path.read_bytes()
    head, _, raw = data.partition(b'<AppendedData encoding="raw">\n_')
    text = head.decode()
    image = dict(re.findall(r'(\w+)="([^"]*)"', re.search(r"<ImageData [^>]*>", text).group(0)))
    arrays = {}
    for name, components, offset in re.findall(
            r'Name="(\w+)" NumberOfComponents="(\d+)" format="appended" offset="(\d+)"', text):
        offset = int(offset)
        size = int(np.frombuffer(raw[offset:offset + 8], "<u8")[0])
        arrays[name] = np.frombuffer(raw[offset + 8:offset + 8 + size], "<f4").reshape(-1, int(components))
    return image, arrays


def test_vti_holds_the_vtu_fields_at_the_same_places(tmp_path):
    """Cell and point data of density.vti, placed by ImageData's order (x fastest), equal
    density.vtu's (femopt's order, y fastest) to float32 round-off, and its von Mises
    stress (computed a layer at a time) is centre_von_mises."""
    meshio = pytest.importorskip("meshio")
    mesh = StructuredMesh((4, 3, 2), (2.0, 1.5, 3.0))
    rng = np.random.default_rng(0)
    rho, x = rng.random(mesh.n_elements), rng.random(mesh.n_elements)
    u = rng.standard_normal((3 * mesh.n_nodes, 2))
    extra = {"von_mises_relaxed": rng.random(mesh.n_elements)}
    write_vtu(tmp_path / "d.vtu", mesh, rho, x, u, (2.0, 0.3), cells=extra)
    write_vti(tmp_path / "d.vti", mesh, rho, x, u, (2.0, 0.3), cells=extra)
    vtu = meshio.read(tmp_path / "d.vtu")
    image, arrays = read_vti(tmp_path / "d.vti")
    assert image["WholeExtent"] == "0 4 0 3 0 2"
    origin, spacing = (np.array(image[k].split(), float) for k in ("Origin", "Spacing"))
    np.testing.assert_allclose(spacing, [0.5, 0.5, 1.5])
    # ImageData cell c = i + nx (j + ny k) has its centre at origin + (i, j, k + 0.5) · spacing.
    i, j, k = np.unravel_index(np.arange(mesh.n_elements), (2, 3, 4))[::-1]
    centres = origin + (np.column_stack([i, j, k]) + 0.5) * spacing
    order = [int(np.argmin(np.abs(mesh.element_centers - c).sum(axis=1))) for c in centres]
    for name in ("rho", "x", "von_mises", "von_mises_relaxed"):
        np.testing.assert_allclose(arrays[name][:, 0], vtu.cell_data[name][0][order], rtol=1e-6)
    np.testing.assert_allclose(vtu.cell_data["von_mises"][0], centre_von_mises(mesh, u[:, 0], 2.0, 0.3))
    i, j, k = np.unravel_index(np.arange(mesh.n_nodes), (3, 4, 5))[::-1]
    points = origin + np.column_stack([i, j, k]) * spacing
    node = [int(np.argmin(np.abs(vtu.points - p).sum(axis=1))) for p in points]
    np.testing.assert_allclose(arrays["u"], vtu.point_data["u"][node], rtol=1e-6, atol=1e-7)


def test_vti_holds_the_temperature_of_a_heat_run(tmp_path):
    mesh = StructuredMesh((2, 2, 3), (1.0, 1.0, 1.0))
    t = np.arange(mesh.n_nodes, dtype=float)
    write_vti(tmp_path / "t.vti", mesh, np.ones(12), np.ones(12), t, point_field="temperature")
    _, arrays = read_vti(tmp_path / "t.vti")
    # ImageData point (i, j, k) = femopt node (k (nx + 1) + i) (ny + 1) + j.
    i, j, k = np.unravel_index(np.arange(mesh.n_nodes), (4, 3, 3))[::-1]
    np.testing.assert_array_equal(arrays["temperature"][:, 0], ((k * 3 + i) * 3 + j).astype(float))


def test_a_large_grid_writes_density_vti_instead_of_the_vtu(tmp_path, monkeypatch):
    """The rule: a 3D grid of more than MAX_VTU_ELEMENTS elements (0 here) writes density.vti."""
    monkeypatch.setattr(files, "MAX_VTU_ELEMENTS", 0)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(small_3d_yaml(tmp_path)), "-o", str(out),
                                       "--max-iterations", "2", "-q"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert "density.vti" in names and "density.vtu" not in names
    assert files.femopt_file("density.vti")
    _, arrays = read_vti(out / "density.vti")
    assert {"rho", "x", "u", "von_mises"} <= set(arrays)


def test_a_large_grid_with_mode_shapes_keeps_the_vtu(monkeypatch):
    """Mode shapes are point data, which only the VTU holds: then no density.vti."""
    monkeypatch.setattr(files, "MAX_VTU_ELEMENTS", 0)
    mesh = StructuredMesh((4, 3, 2), (4.0, 3.0, 2.0))
    assert "density.vti" in files.files_for(mesh) and "density.vtu" not in files.files_for(mesh)
    with_modes = files.files_for(mesh, modes=True)
    assert "density.vtu" in with_modes and "density.vti" not in with_modes and "modes.png" in with_modes
