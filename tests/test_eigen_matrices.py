"""Mass and geometric stiffness matrices (femopt.fem.mass, femopt.fem.geometric, femopt.fem.eigen):
quadrature exactness, scikit-fem's matrices on the same meshes, rigid-body modes, and the
derivatives the buckling sensitivities use."""

import math
from itertools import product

import numpy as np
import pytest

from femopt.element import cell_type
from femopt.element.quadrature import mass_quadrature
from femopt.fem.dofs import DofMap
from femopt.fem.eigen import EigenOperators
from femopt.fem.elasticity import plane_stress_matrix, solid_matrix
from femopt.fem.mass import expand_components
from femopt.mesh import StructuredMesh

from test_loads import GRIDS, mesh_of, skfem_setup


def operators(mesh, density=1.0, thickness=1.0, point_masses=None):
    dofmap = DofMap(mesh, mesh.dim)
    D = plane_stress_matrix(1.0, 0.3) if mesh.dim == 2 else solid_matrix(1.0, 0.3)
    return EigenOperators(mesh, dofmap.element_dofs, np.arange(dofmap.n_dofs), dofmap.n_dofs, D,
                          density=density, thickness=thickness, point_masses=point_masses)


def full(lower):
    A = lower.toarray()
    return A + A.T - np.diag(np.diag(A))


@pytest.mark.parametrize("name, degree", [("T3", 2), ("T4", 2), ("T6", 4), ("T10", 4)])
def test_mass_rules_are_exact_to_their_degree(name, degree):
    """∫ x^a y^b (z^c) over the reference simplex = a! b! c! / (a + b + c + dim)!: the mass
    rule (femopt.element.quadrature.mass_quadrature) integrates N_a N_b exactly."""
    points, weights = mass_quadrature(cell_type(name))
    dim = points.shape[1]
    for powers in product(range(degree + 1), repeat=dim):
        if sum(powers) > degree:
            continue
        exact = math.prod(math.factorial(p) for p in powers) / math.factorial(sum(powers) + dim)
        numeric = np.sum(weights * np.prod(points ** np.array(powers), axis=1))
        assert numeric == pytest.approx(exact, rel=1e-12), powers


@pytest.mark.parametrize("name", list(GRIDS))
def test_mass_matrix_matches_scikit_fem(name):
    """The consistent mass matrix ∫ ρ N Nᵀ dV (⊗ I) equals scikit-fem's on a distorted mesh."""
    mesh = mesh_of(name)
    skfem, sk_mesh, basis, dofs, _ = skfem_setup(mesh)
    from skfem.helpers import dot

    M_sk = skfem.asm(skfem.BilinearForm(lambda u, v, w: 2.5 * dot(u, v)), basis).toarray()
    order = dofs.ravel()  # femopt's node-major DOF → scikit-fem's DOF
    M = full(operators(mesh, density=2.5).mass_matrix(np.ones(mesh.n_elements)))
    np.testing.assert_allclose(M, M_sk[np.ix_(order, order)], atol=1e-13 * np.abs(M).max())


@pytest.mark.parametrize("name", list(GRIDS))
def test_geometric_stiffness_matches_scikit_fem(name):
    """For a constant stress σ, G = Σ_i ∫ ∇v_i · σ ∇u_i dV equals scikit-fem's form."""
    mesh = mesh_of(name)
    skfem, sk_mesh, basis, dofs, _ = skfem_setup(mesh)
    dim = mesh.dim
    voigt = np.array([1.0, -0.7, 0.4]) if dim == 2 else np.array([1.0, -0.7, 0.3, 0.4, -0.2, 0.5])
    pairs = [(0, 0), (1, 1), (0, 1)] if dim == 2 else [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0)]
    sigma = np.zeros((dim, dim))
    for value, (k, l) in zip(voigt, pairs):
        sigma[k, l] = sigma[l, k] = value

    def form(u, v, w):
        return sum(sum(sigma[k, l] * u.grad[i][k] * v.grad[i][l] for k in range(dim) for l in range(dim))
                   for i in range(dim))

    G_sk = skfem.asm(skfem.BilinearForm(form), basis).toarray()
    order = dofs.ravel()
    op = operators(mesh)
    stress = np.broadcast_to(voigt, (mesh.n_elements, op.stress_gradients.shape[0], len(voigt)))
    G = full(op.geometric_matrix(np.ones(mesh.n_elements), stress))
    np.testing.assert_allclose(G, G_sk[np.ix_(order, order)], atol=1e-12 * np.abs(G).max())


@pytest.mark.parametrize("mesh", [StructuredMesh((4, 3), (2.0, 1.5)), StructuredMesh((2, 3, 2), (1.0, 1.5, 0.5)),
                                  mesh_of("T6"), mesh_of("T10"), mesh_of("H8")], ids=str)
def test_rigid_body_modes(mesh):
    """A translation t: tᵀ M t = the mass times |t|²; G t = 0 (no gradient); a rotation
    carries no strain, so the stresses of a rotation vanish (to round-off)."""
    op = operators(mesh, density=3.0, point_masses=None)
    scales = np.random.default_rng(0).uniform(0.2, 1.0, mesh.n_elements)
    M = full(op.mass_matrix(scales))
    x = mesh.node_coords
    for axis in range(mesh.dim):
        t = np.zeros_like(x)
        t[:, axis] = 1.0
        assert t.ravel() @ M @ t.ravel() == pytest.approx(3.0 * scales @ mesh.element_volumes, rel=1e-12)
    assert op.total_structural_mass == pytest.approx(3.0 * mesh.element_volumes.sum(), rel=1e-12)
    u = np.random.default_rng(1).standard_normal(x.size)
    G = full(op.geometric_matrix(scales, op.solid_stresses(u)))
    np.testing.assert_allclose(G @ t.ravel(), 0.0, atol=1e-12 * np.abs(G).max())
    rotation = np.zeros_like(x)
    rotation[:, 0], rotation[:, 1] = -x[:, 1], x[:, 0]
    assert np.abs(op.solid_stresses(rotation.ravel())).max() < 1e-12


def test_point_masses_and_thickness():
    mesh = StructuredMesh((3, 2), (3.0, 2.0))
    n = 2 * mesh.n_nodes
    point = np.zeros(n)
    point[[0, 1]] = 0.5                     # node 0 carries 0.5 in x and y
    op = operators(mesh, density=2.0, thickness=0.1, point_masses=point)
    M = full(op.mass_matrix(np.ones(mesh.n_elements)))
    t = np.zeros(n)
    t[0::2] = 1.0
    assert t @ M @ t == pytest.approx(2.0 * 0.1 * 6.0 + 0.5)
    np.testing.assert_allclose(op.mass_apply(np.ones(mesh.n_elements), t), M @ t, atol=1e-14)


@pytest.mark.parametrize("mesh", [StructuredMesh((3, 2), (3.0, 1.0)), mesh_of("T6"), mesh_of("T10")], ids=str)
def test_geometric_quadratic_form_and_its_derivatives(mesh):
    """φᵀ G(σ̂(u)) φ = Σ q · σ̂ (stress_weights) is linear in u; its u-gradient by
    solid_stresses_vjp matches a directional difference, and the element masses
    (mass_energy) sum to φᵀ M φ."""
    op = operators(mesh)
    rng = np.random.default_rng(3)
    n = mesh.dim * mesh.n_nodes
    scales = rng.uniform(0.2, 1.0, mesh.n_elements)
    u, phi, du = rng.standard_normal((3, n))

    def quadratic(u):
        return phi @ full(op.geometric_matrix(scales, op.solid_stresses(u))) @ phi

    q = op.stress_weights(phi)
    assert quadratic(u) == pytest.approx(np.sum(q * op.solid_stresses(u) * scales[:, None, None]), rel=1e-12)
    w = op.solid_stresses_vjp(q * scales[:, None, None])
    assert w @ du == pytest.approx(quadratic(u + du) - quadratic(u), rel=1e-10)   # exactly linear
    M = full(op.mass_matrix(scales))
    assert op.mass_energy(phi) @ scales == pytest.approx(phi @ M @ phi, rel=1e-12)


def test_expand_components():
    scalar = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(expand_components(scalar, 2), np.kron(scalar, np.eye(2)))
