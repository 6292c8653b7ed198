"""The Helmholtz (PDE) filter: element matrices, its transpose, constants, the PDE's
damping, gradients through femopt, and designs like the density filter's."""

import numpy as np
import pytest
from click.testing import CliRunner

from femopt.cli import main
from femopt.design import FILTERS, HelmholtzFilter
from femopt.design.helmholtz import R_PDE_PER_RADIUS, element_matrices
from femopt.element import H8, Q4, T3, T4, CellValues
from femopt.element.quadrature import mass_quadrature
from femopt.mesh import StructuredMesh

from helpers import central_difference, mbb_data, mbb_evaluator, run_oc, write_yaml
from mesh_helpers import as_general, distorted

MESHES = {
    "grid Q4": lambda: StructuredMesh((9, 5), (9.0, 5.0)),
    "grid H8": lambda: StructuredMesh((4, 3, 3), (4.0, 3.0, 3.0)),
    "distorted Q4": lambda: distorted((8, 5), (8.0, 5.0), amount=0.3),
    "distorted T3": lambda: distorted((8, 5), (8.0, 5.0), amount=0.3, cell_type="T3"),
    "distorted H8": lambda: distorted((4, 3, 3), (4.0, 3.0, 3.0), amount=0.3),
    "distorted T4": lambda: distorted((4, 3, 3), (4.0, 3.0, 3.0), amount=0.3, cell_type="T4"),
}


@pytest.mark.parametrize("cell", [Q4, H8, T3, T4], ids=lambda c: c.name)
def test_element_matrices_of_a_scaled_reference_cell(cell):
    """Mass entries against the closed forms, the mass summing to the volume, the Laplacian
    annihilating constants and its value on a linear function (∫ ∇x·∇x = V)."""
    scale = np.array([2.0, 0.5, 3.0][:cell.dim])
    coords = cell.reference_nodes * scale
    laplacian, mass, load = (a[0] for a in element_matrices(cell, coords[None]))
    volume = CellValues(cell, coords[None]).volumes()[0]
    assert mass.sum() == pytest.approx(volume, rel=1e-13)
    np.testing.assert_allclose(load, mass.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(laplacian @ np.ones(cell.n_nodes), 0, atol=1e-13)
    x = coords[:, 0]
    assert x @ laplacian @ x == pytest.approx(volume, rel=1e-13)
    if cell in (T3, T4):   # simplex: V (1 + δ_ab) / ((d + 1)(d + 2))
        d = cell.dim
        expected = volume * (1 + np.eye(d + 1)) / ((d + 1) * (d + 2))
        np.testing.assert_allclose(mass, expected, rtol=1e-13)
    else:                  # box: V Π_axes (3 + s_a s_b) / 12, s = ±1 the corner signs
        s = cell.reference_nodes
        np.testing.assert_allclose(mass, volume * np.prod((3 + s[:, None] * s[None]) / 12, axis=2), rtol=1e-13)


@pytest.mark.parametrize("cell", [T3, T4, Q4, H8], ids=lambda c: c.name)
def test_mass_quadrature_integrates_quadratics(cell):
    points, weights = mass_quadrature(cell)
    volume = 0.5 if cell is T3 else 1 / 6 if cell is T4 else 2.0**cell.dim
    assert weights.sum() == pytest.approx(volume, rel=1e-14)
    # ∫ ξ₀² over the reference cell: 1/12 (triangle), 1/60 (tetrahedron), 2^dim / 3 (box).
    expected = {T3: 1 / 12, T4: 1 / 60}.get(cell, 2.0**cell.dim / 3)
    assert weights @ points[:, 0] ** 2 == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", MESHES)
def test_vjp_is_the_transpose_and_constants_stay(name):
    mesh = MESHES[name]()
    f = FILTERS.create("helmholtz", mesh, radius=1.7)
    assert isinstance(f, HelmholtzFilter)
    rng = np.random.default_rng(0)
    x, y = rng.random(mesh.n_elements), rng.standard_normal(mesh.n_elements)
    assert np.dot(f.apply(x), y) == pytest.approx(np.dot(x, f.vjp(y)), rel=1e-12)
    np.testing.assert_allclose(f.apply(np.full(mesh.n_elements, 0.3)), 0.3, rtol=1e-12)
    np.testing.assert_array_equal(f.smooth_gradient(x, y), y)   # no heuristic: the exact gradient
    filtered = f.apply(x)
    # A smoothing: the range shrinks and the (volume-weighted) mean stays.
    assert x.min() < filtered.min() and filtered.max() < x.max()
    V = mesh.element_volumes
    assert filtered @ V == pytest.approx(x @ V, rel=1e-12)


@pytest.mark.parametrize("grid", [(7, 4), (3, 4, 2)])
def test_structured_fast_path_equals_the_general_mesh(grid):
    box = StructuredMesh(grid, tuple(2.0 * n for n in grid))
    x = np.random.default_rng(1).random(box.n_elements)
    filtered = HelmholtzFilter(box, 3.0).apply(x)
    np.testing.assert_allclose(HelmholtzFilter(as_general(box), 3.0).apply(x), filtered, rtol=1e-12)
    # SuperLU, the fallback without scikit-sparse, reads the same lower triangle.
    np.testing.assert_allclose(HelmholtzFilter(box, 3.0, solver="superlu").apply(x), filtered, rtol=1e-12)


def test_a_cosine_is_damped_as_the_pde_says():
    """ρ = cos(kx) solves (−r_pde² ∇² + 1) ρ̃ = ρ with ρ̃ = ρ / (1 + r_pde² k²): on a fine strip
    the filter reproduces that factor (r_pde = r/(2√3): r/√12 here, not r/2 or r)."""
    length, radius = 40.0, 6.0
    mesh = StructuredMesh((320, 2), (length, 1.0))
    k = 2 * np.pi / 10.0    # a whole number of periods: the natural boundary condition holds
    x = np.cos(k * mesh.element_centers[:, 0])
    damping = 1 / (1 + (radius * R_PDE_PER_RADIUS * k) ** 2)       # 0.5169
    filtered = HelmholtzFilter(mesh, radius).apply(x)
    ratio = (filtered @ x) / (x @ x)
    assert ratio == pytest.approx(damping, rel=2e-3)


def test_gradient_through_the_evaluator_matches_central_differences():
    evaluator = mbb_evaluator(12, 5, filter_type="helmholtz", radius=2.4)
    rng = np.random.default_rng(2)
    x = rng.uniform(0.2, 0.9, evaluator.n_variables)
    gradient = evaluator(x, smooth=False).gradient
    for _ in range(3):
        direction = rng.standard_normal(evaluator.n_variables)
        fd = central_difference(lambda z: evaluator(z, smooth=False).objective, x, direction)
        assert gradient @ direction == pytest.approx(fd, rel=1e-7)


@pytest.mark.parametrize("data", [
    mbb_data(12, 5, filter_type="helmholtz", radius=2.4),
    {"mesh": {"grid": [6, 3, 2]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
     "loads": [{"at": {"x": 6, "y": 0}, "nodal_force": [0.0, -1.0, 0.0]}],
     "design": {"volume_fraction": 0.3, "filter": {"type": "helmholtz", "radius": 1.5}}},
], ids=["mbb 2D", "cantilever 3D"])
def test_check_grad_passes_with_the_helmholtz_filter(tmp_path, data):
    path = write_yaml(tmp_path, data)
    result = CliRunner().invoke(main, ["check-grad", str(path), "--samples", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("Taylor test ok")


def test_designs_are_like_the_density_filters():
    """60×20 half MBB beam, OC, r = 2.4: the two filters give nearly the same beam.
    Measured: density 233.71 (144 iterations), Helmholtz 237.60 (140), mean |ρ_H − ρ_D| = 0.009."""
    results = {name: run_oc(mbb_evaluator(60, 20, filter_type=name, radius=2.4))
               for name in ("density", "helmholtz")}
    density, helmholtz = results["density"], results["helmholtz"]
    assert density.converged and helmholtz.converged
    assert helmholtz.objective == pytest.approx(density.objective, rel=0.05)
    assert np.mean(np.abs(helmholtz.rho - density.rho)) < 0.05
