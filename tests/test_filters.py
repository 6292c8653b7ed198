import numpy as np
import pytest

from femopt.design import SIMP, DensityFilter, SensitivityFilter
from femopt.design import FILTERS, make_filter
from femopt.design.filters import ConvolutionFilter, IdentityFilter, NeighborWeights
from femopt.mesh import StructuredMesh

from mesh_helpers import as_general, distorted


def explicit_H(mesh, radius):
    """Dense H_ij = max(0, r − |c_i − c_j|), the 88-line code's definition."""
    c = mesh.element_centers
    distance = np.linalg.norm(c[:, None, :] - c[None, :, :], axis=2)
    return np.maximum(0.0, radius - distance)


@pytest.mark.parametrize("grid,size,radius", [
    ((6, 4), (6.0, 4.0), 1.5), ((7, 3), (14.0, 3.0), 2.4), ((4, 3, 2), (4.0, 6.0, 2.0), 2.2)])
def test_convolution_equals_explicit_weights(grid, size, radius):
    mesh = StructuredMesh(grid, size)
    H = explicit_H(mesh, radius)
    v = np.random.default_rng(0).standard_normal(mesh.n_elements)
    conv = ConvolutionFilter(mesh, radius)
    np.testing.assert_allclose(conv(v), H @ v, atol=1e-12)
    np.testing.assert_allclose(conv.row_sums, H.sum(axis=1), atol=1e-12)


def test_density_filter_vjp_is_its_transpose():
    mesh = StructuredMesh((9, 5), (9.0, 5.0))
    f = DensityFilter(mesh, 2.0)
    rng = np.random.default_rng(1)
    x, y = rng.random(mesh.n_elements), rng.standard_normal(mesh.n_elements)
    assert np.dot(f.apply(x), y) == pytest.approx(np.dot(x, f.vjp(y)), rel=1e-12)
    np.testing.assert_allclose(f.apply(np.full(mesh.n_elements, 0.3)), 0.3)


def test_sensitivity_filter_is_sigmunds_formula():
    mesh = StructuredMesh((6, 4), (6.0, 4.0))
    H = explicit_H(mesh, 1.5)
    rng = np.random.default_rng(2)
    x, dc = rng.random(mesh.n_elements), -rng.random(mesh.n_elements)
    expected = H @ (x * dc) / H.sum(axis=1) / np.maximum(1e-3, x)
    f = SensitivityFilter(mesh, 1.5)
    np.testing.assert_allclose(f.smooth_gradient(x, dc), expected, rtol=1e-12)
    assert f.apply(x) is x


def test_simp_vjp_matches_finite_differences():
    simp = SIMP(E0=2.0, Emin=1e-3, penalty=3.0)
    rho, h = np.array([0.1, 0.5, 0.9]), 1e-6
    fd = (simp.apply(rho + h) - simp.apply(rho - h)) / (2 * h)
    np.testing.assert_allclose(simp.vjp(rho, np.ones(3)), fd, rtol=1e-8)


@pytest.mark.parametrize("grid,size,radius", [((9, 5), (9.0, 5.0), 2.0), ((7, 3), (14.0, 3.0), 2.4),
                                              ((4, 3, 3), (4.0, 6.0, 3.0), 2.2)])
def test_sparse_filters_on_a_general_mesh_equal_the_convolution(grid, size, radius):
    box = StructuredMesh(grid, size)
    general = as_general(box)
    rng = np.random.default_rng(3)
    x, g = rng.random(box.n_elements), -rng.random(box.n_elements)
    for name in ("density", "sensitivity"):
        conv, sparse = FILTERS.create(name, box, radius=radius), FILTERS.create(name, general, radius=radius)
        assert isinstance(conv.H, ConvolutionFilter) and isinstance(sparse.H, NeighborWeights)
        np.testing.assert_allclose(sparse.apply(x), conv.apply(x), rtol=1e-12)
        np.testing.assert_allclose(sparse.vjp(g), conv.vjp(g), rtol=1e-12)
        np.testing.assert_allclose(sparse.smooth_gradient(x, g), conv.smooth_gradient(x, g), rtol=1e-12)


@pytest.mark.parametrize("cell_type", [None, "T3"])
def test_sparse_density_filter_on_an_irregular_mesh(cell_type):
    mesh = distorted((8, 5), (8.0, 5.0), amount=0.3, cell_type=cell_type)
    f = FILTERS.create("density", mesh, radius=1.7)
    rng = np.random.default_rng(4)
    x, y = rng.random(mesh.n_elements), rng.standard_normal(mesh.n_elements)
    assert np.dot(f.apply(x), y) == pytest.approx(np.dot(x, f.vjp(y)), rel=1e-12)
    np.testing.assert_allclose(f.apply(np.full(mesh.n_elements, 0.3)), 0.3)
    # Volume weights against the definition, densely.
    c, v = mesh.element_centers, mesh.element_volumes
    H = np.maximum(0.0, 1.7 - np.linalg.norm(c[:, None] - c[None], axis=2)) * v[None, :]
    np.testing.assert_allclose(f.apply(x), H @ x / H.sum(axis=1), rtol=1e-12)
    s = FILTERS.create("sensitivity", mesh, radius=1.7)
    np.testing.assert_allclose(s.smooth_gradient(x, y), v * (H @ (x * y / v)) / H.sum(axis=1) / np.maximum(1e-3, x),
                               rtol=1e-12)


def test_filter_registry():
    mesh = StructuredMesh((4, 3), (4.0, 3.0))
    assert FILTERS.names == ("sensitivity", "density", "none", "helmholtz")
    assert FILTERS["density"].defaults == {"radius": 1.5}
    assert isinstance(FILTERS.create("none", mesh), IdentityFilter)
    assert isinstance(make_filter("density", mesh, 2.0), DensityFilter)


def _reference_weights(mesh, radius):
    """The filter matrix and its transpose as NeighborWeights built them before the pairs
    (the tree's full distance matrix, a CSR copy of the transpose): the bits to keep."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree
    tree = cKDTree(mesh.element_centers)
    distance = tree.sparse_distance_matrix(tree, radius, output_type="coo_matrix")
    weight = radius - distance.data
    keep = weight > 0
    volumes = np.asarray(mesh.element_volumes, float)
    n = mesh.n_elements
    H = sp.csr_matrix((weight[keep] * volumes[distance.col[keep]], (distance.row[keep], distance.col[keep])),
                      shape=(n, n))
    return H, H.T.tocsr()


@pytest.mark.parametrize("name,radius", [
    ("crank", 5.0),                      # the shipped T4 part, 39,935 cells
    ("lbracket", 3.0),                   # T3
    ("plate_bolts", 4.0),                # Q4
    ("grid", 1.0),                       # centres one apart: pairs at exactly r weigh nothing
    ("grid3d", 1.5)])
def test_neighbor_weights_keep_the_bits_of_the_full_distance_matrix(name, radius):
    """From the tree's pairs i < j (half the work, a quarter of the memory) and with Hᵀ
    applied through H's transposed view: the same matrix, the same H v and Hᵀ v, bit for bit."""
    from pathlib import Path
    from femopt.mesh.io import read_mesh
    if name.startswith("grid"):
        mesh = as_general(StructuredMesh((7, 5) if name == "grid" else (5, 4, 3),
                                         (7.0, 5.0) if name == "grid" else (5.0, 4.0, 3.0)))
    else:
        mesh = read_mesh(Path(__file__).resolve().parents[1] / "meshes" / f"{name}.msh")
    H, H_transposed = _reference_weights(mesh, radius)
    weights = NeighborWeights(mesh, radius)
    for attribute in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(weights.matrix, attribute), getattr(H, attribute))
        assert getattr(weights.matrix, attribute).dtype == getattr(H, attribute).dtype
    v = np.random.default_rng(5).standard_normal(mesh.n_elements)
    np.testing.assert_array_equal(weights(v), H @ v)
    np.testing.assert_array_equal(weights.transpose(v), H_transposed @ v)
    np.testing.assert_array_equal(weights.row_sums, H @ np.ones(mesh.n_elements))
