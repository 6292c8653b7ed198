from itertools import product
from math import factorial

import numpy as np
import pytest

from femopt.element import CELL_TYPES, InvertedCellError
from femopt.errors import FemoptError
from femopt.fem.elasticity import h8_stiffness, plane_stress_matrix, q4_stiffness, solid_matrix, stiffness_matrices
from femopt.mesh import Mesh

import mesh_helpers
from mesh_helpers import dense_global


def top88_ke(nu):
    """KE of the 88-line code (Andreassen et al. 2011), typed from the paper."""
    A11 = np.array([[12, 3, -6, -3], [3, 12, 3, 0], [-6, 3, 12, -3], [-3, 0, -3, 12]])
    A12 = np.array([[-6, -3, 0, 3], [-3, -6, -3, -6], [0, -3, -6, 3], [3, -6, 3, -6]])
    B11 = np.array([[-4, 3, -2, 9], [3, -4, -9, 4], [-2, -9, -4, -3], [9, 4, -3, -4]])
    B12 = np.array([[2, -3, 4, -9], [-3, 2, 9, -2], [4, 9, 2, 3], [-9, -2, 3, 2]])
    return 1 / (1 - nu**2) / 24 * (np.block([[A11, A12], [A12.T, A11]])
                                   + nu * np.block([[B11, B12], [B12.T, B11]]))


def test_q4_unit_square_matches_88_line_code():
    np.testing.assert_allclose(q4_stiffness(1.0, 0.3), top88_ke(0.3), atol=1e-14)


def test_q4_scales_with_modulus_and_thickness():
    np.testing.assert_allclose(q4_stiffness(210.0, 0.3, 2.5), 210.0 * 2.5 * top88_ke(0.3), rtol=1e-13)


@pytest.mark.parametrize("make,size", [(q4_stiffness, (2.0, 0.5)), (h8_stiffness, (1.0, 2.0, 0.5))])
def test_rigid_body_modes_are_in_the_null_space(make, size):
    K = make(1.0, 0.3, size=size) if make is h8_stiffness else make(1.0, 0.3, 1.0, size)
    dim = len(size)
    np.testing.assert_allclose(K, K.T, atol=1e-14)
    eigenvalues = np.linalg.eigvalsh(K)
    n_rigid = 3 if dim == 2 else 6
    assert np.all(np.abs(eigenvalues[:n_rigid]) < 1e-12)
    assert np.all(eigenvalues[n_rigid:] > 1e-3)


def test_q4_stretched_element_energy():
    # Uniform strain ε_xx = 1 on an hx × hy element: energy = ½ · E/(1−ν²) · hx · hy (plane stress, ε_yy = 0).
    hx, hy, nu = 2.0, 0.5, 0.3
    K = q4_stiffness(1.0, nu, 1.0, (hx, hy))
    x = np.array([0, hx, hx, 0])
    u = np.zeros(8)
    u[0::2] = x  # u_x = x
    assert 0.5 * u @ K @ u == pytest.approx(0.5 / (1 - nu**2) * hx * hy)


# --- cell types on general (distorted, simplex) meshes --------------------------------------

CASES = {"Q4": (3, 2), "T3": (3, 2), "H8": (2, 2, 2), "T4": (2, 2, 2), "T6": (3, 2), "T10": (2, 2, 2)}


def general_mesh(name, amount=0.25, seed=0):
    return mesh_helpers.general_mesh(name, CASES[name], amount, seed)


def dense_K(mesh, ke):
    return dense_global(mesh, ke, mesh.dim)


@pytest.mark.parametrize("name", ["Q4", "T3", "H8", "T4"])
def test_global_stiffness_matches_scikit_fem(name):
    skfem = pytest.importorskip("skfem")
    from skfem.models.elasticity import lame_parameters, linear_elasticity
    mesh, nu = general_mesh(name), 0.3
    lam, mu = lame_parameters(1.0, nu)
    if mesh.dim == 2:
        lam = 2 * lam * mu / (lam + 2 * mu)  # plane stress: λ* = Eν / (1 − ν²)
    element, mesh_type = {"Q4": (skfem.ElementQuad1, skfem.MeshQuad), "T3": (skfem.ElementTriP1, skfem.MeshTri),
                          "H8": (skfem.ElementHex1, skfem.MeshHex), "T4": (skfem.ElementTetP1, skfem.MeshTet)}[name]
    # scikit-fem orders a cell's nodes by its element's reference positions (doflocs).
    reference = (mesh.cell_type.reference_nodes + 1) / 2 if name in ("Q4", "H8") else mesh.cell_type.reference_nodes
    order = [int(np.flatnonzero(np.all(reference == p, axis=1))[0]) for p in element.doflocs]
    basis = skfem.Basis(mesh_type(mesh.node_coords.T, mesh.cells[:, order].T), skfem.ElementVector(element()),
                        intorder=3 if name in ("Q4", "H8") else 2)  # 2-point Gauss per axis, as femopt
    K_skfem = skfem.asm(linear_elasticity(lam, mu), basis).toarray()
    node_major = basis.nodal_dofs.T.ravel()  # scikit-fem's DOF of (node, component), node-major
    K = dense_K(mesh, stiffness_matrices(mesh, nu))
    np.testing.assert_allclose(K, K_skfem[np.ix_(node_major, node_major)], atol=1e-12 * np.abs(K).max())


@pytest.mark.parametrize("name", list(CASES))
def test_element_null_space_is_the_rigid_body_modes(name):
    mesh = general_mesh(name, amount=0.3, seed=1)
    ke = stiffness_matrices(mesh, 0.3)
    n_rigid = 3 if mesh.dim == 2 else 6
    np.testing.assert_allclose(ke, ke.transpose(0, 2, 1), atol=1e-14)
    eigenvalues = np.linalg.eigvalsh(ke)                       # (n_el, k), ascending
    assert np.all(np.abs(eigenvalues[:, :n_rigid]) < 1e-12)
    assert np.all(eigenvalues[:, n_rigid:] > 1e-3)
    # and the rigid motions are those: translations and an infinitesimal rotation.
    coords = mesh.node_coords[mesh.cells]                       # (n_el, n, dim)
    rotation = np.zeros_like(coords)
    rotation[..., 0], rotation[..., 1] = -coords[..., 1], coords[..., 0]
    for mode in [np.broadcast_to(np.eye(mesh.dim)[0], coords.shape), rotation]:
        force = np.einsum("eab,eb->ea", ke, mode.reshape(len(ke), -1))
        np.testing.assert_allclose(force, 0, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_patch_test_linear_field_is_reproduced(name):
    """A linear displacement u = A x (constant strain) leaves no force on interior nodes and
    stores the energy ½ εᵀ D ε · V exactly, on distorted cells."""
    mesh, nu = general_mesh(name, amount=0.3, seed=2), 0.3
    dim = mesh.dim
    A = np.random.default_rng(3).standard_normal((dim, dim))
    u = (mesh.node_coords @ A.T).ravel()
    K = dense_K(mesh, stiffness_matrices(mesh, nu))
    lower, upper = mesh.bounds
    interior = np.flatnonzero(np.all((mesh.node_coords > lower + 1e-9) & (mesh.node_coords < upper - 1e-9), axis=1))
    assert len(interior)
    np.testing.assert_allclose((K @ u).reshape(-1, dim)[interior], 0, atol=1e-12)
    pairs = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    strain = np.r_[np.diag(A), [A[a, b] + A[b, a] for a, b in pairs]]
    D = plane_stress_matrix(1.0, nu) if dim == 2 else solid_matrix(1.0, nu)
    assert 0.5 * u @ K @ u == pytest.approx(0.5 * strain @ D @ strain * mesh.element_volumes.sum(), rel=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_inverted_cell_is_named(name):
    mesh = general_mesh(name)
    # Mirror cell 2 (clockwise in 2D, left-handed in 3D) by swapping two of its nodes (simplices)
    # or its two halves along x (Q4, H8).
    mirror = {"T3": [0, 2, 1], "T4": [0, 2, 1, 3], "Q4": [1, 0, 3, 2], "H8": [1, 0, 3, 2, 5, 4, 7, 6],
              "T6": [0, 2, 1, 5, 4, 3], "T10": [0, 2, 1, 3, 6, 5, 4, 7, 9, 8]}[name]
    cells = mesh.cells.copy()
    cells[2] = mesh.cells[2][mirror]
    inverted = Mesh(mesh.node_coords, cells, mesh.cell_type)
    with pytest.raises(InvertedCellError, match="cell 2 is inverted"):
        stiffness_matrices(inverted, 0.3)
    with pytest.raises(FemoptError):
        inverted.element_volumes


@pytest.mark.parametrize("name", ["T6", "T10"])
def test_quadratic_global_stiffness_matches_scikit_fem_p2(name):
    pytest.importorskip("skfem")
    from skfem import asm
    from skfem.models.elasticity import lame_parameters, linear_elasticity
    from test_loads import skfem_setup
    mesh, nu = general_mesh(name), 0.3
    _, _, basis, dofs, _ = skfem_setup(mesh)
    lam, mu = lame_parameters(1.0, nu)
    if mesh.dim == 2:
        lam = 2 * lam * mu / (lam + 2 * mu)
    K_skfem = asm(linear_elasticity(lam, mu), basis).toarray()
    node_major = dofs.ravel()
    K = dense_K(mesh, stiffness_matrices(mesh, nu))
    np.testing.assert_allclose(K, K_skfem[np.ix_(node_major, node_major)], atol=1e-12 * np.abs(K).max())


@pytest.mark.parametrize("name", list(CASES))
def test_flat_cell_is_degenerate(name):
    cell = CELL_TYPES.create(name)
    flat = cell.reference_nodes.copy()
    flat[:, -1] = 0.0                                # every node on one line (2D) or plane (3D)
    with pytest.raises(InvertedCellError, match="cell 0 is inverted or degenerate"):
        stiffness_matrices(Mesh(flat, [np.arange(cell.n_nodes)], cell), 0.3)


# Degree of each rule: exact for every monomial of total degree ≤ it (per axis on boxes).
DEGREES = {"Q4": 3, "H8": 3, "T3": 1, "T4": 1, "T6": 2, "T10": 2, "L2": 3, "L3": 5, "T10 facet": 4}


def _rules():
    cells = {name: CELL_TYPES.create(name) for name in ("Q4", "H8", "T3", "T4", "T6", "T10")}
    cells.update({"L2": cells["Q4"].facet_type, "L3": cells["T6"].facet_type,
                  "T10 facet": cells["T10"].facet_type})
    return cells


@pytest.mark.parametrize("name", list(DEGREES))
def test_quadrature_degree(name):
    cell = _rules()[name]
    points, weights = cell.quadrature
    box = cell.name in ("Q4", "H8", "L2", "L3")
    degree = DEGREES[name]

    def exact(powers):
        if box:  # ∫_{-1}^{1} x^k dx
            return np.prod([0.0 if k % 2 else 2 / (k + 1) for k in powers])
        return np.prod([factorial(k) for k in powers]) / factorial(sum(powers) + cell.dim)

    def error(powers):
        return abs(weights @ np.prod(points ** np.array(powers), axis=1) - exact(powers))

    for powers in product(range(degree + 2), repeat=cell.dim):
        if (max(powers) if box else sum(powers)) <= degree:
            assert error(powers) < 1e-14, powers
    # and not one degree more (the claimed degree is the rule's own)
    assert error((degree + 1,) + (0,) * (cell.dim - 1)) > 1e-6


@pytest.mark.parametrize("name", ["T6", "T10", "L3"])
def test_quadratic_shape_functions(name):
    cell = _rules()[name]
    np.testing.assert_allclose(cell.shape_functions(cell.reference_nodes), np.eye(cell.n_nodes), atol=1e-15)
    points = np.random.default_rng(0).uniform(0, 0.3, (5, cell.dim))
    N = cell.shape_functions(points)
    # Quadratic completeness: Σ N_a p(x_a) = p(x) for p = 1, x_i, x_i x_j.
    x = cell.reference_nodes
    for p in [lambda y: np.ones(len(y)), lambda y: y[:, 0], lambda y: y[:, 0] * y[:, -1], lambda y: y[:, -1] ** 2]:
        np.testing.assert_allclose(N @ p(x), p(points), atol=1e-14)
    h = 1e-6
    for a in range(cell.dim):
        step = h * np.eye(cell.dim)[a]
        fd = (cell.shape_functions(points + step) - cell.shape_functions(points - step)) / (2 * h)
        np.testing.assert_allclose(cell.shape_gradients(points)[:, :, a], fd, atol=1e-8)


@pytest.mark.parametrize("name", list(CASES))
def test_facets_follow_the_facet_type_and_point_outwards(name):
    """On each facet the cell's shape functions are the facet type's on the facet's nodes
    (so the node order is the facet type's) and vanish for the other nodes; the facet's
    normal (right-hand rule, 2D: tangent turned clockwise) points away from the cell."""
    cell = CELL_TYPES.create(name)
    facet_type = cell.facet_type
    assert facet_type.dim == cell.dim - 1
    points = facet_type.quadrature_points
    center = cell.reference_nodes.mean(axis=0)
    for facet in cell.facets:
        nodes = cell.reference_nodes[list(facet)]
        x = facet_type.shape_functions(points) @ nodes                   # facet points in the cell
        N = cell.shape_functions(x)
        np.testing.assert_allclose(N[:, list(facet)], facet_type.shape_functions(points), atol=1e-14)
        assert np.allclose(np.delete(N, list(facet), axis=1), 0, atol=1e-14)
        tangents = np.einsum("nd,qnk->qdk", nodes, facet_type.shape_gradients(points))
        normal = (np.c_[tangents[:, 1, 0], -tangents[:, 0, 0]] if cell.dim == 2
                  else np.cross(tangents[..., 0], tangents[..., 1]))
        assert np.all((x - center) @ normal.T > 0)
