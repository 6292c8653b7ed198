import numpy as np
import scipy.sparse as sp

from femopt.fem.assembly import Assembler, element_energy_pullback
from femopt.fem.elasticity import q4_stiffness, stiffness_matrices
from femopt.fem.dofs import DofMap
from femopt.mesh import StructuredMesh

from mesh_helpers import distorted


def reference_K(mesh, ke, scales):
    """Plain COO assembly of the full K, for comparison."""
    dofmap = DofMap(mesh, mesh.dim)
    dofs = dofmap.element_dofs
    rows = np.repeat(dofs, dofs.shape[1], axis=1).ravel()
    cols = np.tile(dofs, dofs.shape[1]).ravel()
    vals = (scales[:, None] * ke.ravel()[None, :]).ravel()
    return sp.coo_matrix((vals, (rows, cols)), shape=(dofmap.n_dofs, dofmap.n_dofs)).toarray()


def make(nx=5, ny=3, fixed=(0, 1, 3)):
    mesh = StructuredMesh((nx, ny), (float(nx), float(ny)))
    dofmap = DofMap(mesh, mesh.dim)
    ke = q4_stiffness(1.0, 0.3)
    free = np.setdiff1d(np.arange(dofmap.n_dofs), fixed)
    return mesh, ke, free, Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs)


def test_lower_triangle_of_reduced_matrix_matches_coo_assembly():
    mesh, ke, free, asm = make()
    scales = np.random.default_rng(0).uniform(0.1, 1.0, mesh.n_elements)
    K = asm.matrix(scales)
    full = reference_K(mesh, ke, scales)[np.ix_(free, free)]
    np.testing.assert_allclose(K.toarray(), np.tril(full), atol=1e-14)
    assert K.has_sorted_indices and K.nnz == asm.nnz
    assert np.all(K.indices >= np.repeat(np.arange(K.shape[0]), np.diff(K.indptr)))


def test_scatter_stores_36_of_64_entries_per_interior_element():
    mesh, ke, free, asm = make(fixed=())
    assert asm.scatter.nnz == 36 * mesh.n_elements


def test_pullback_is_the_transpose_of_values():
    mesh, ke, free, asm = make()
    rng = np.random.default_rng(1)
    s, v_bar = rng.standard_normal(mesh.n_elements), rng.standard_normal(asm.nnz)
    assert np.dot(asm.values(s), v_bar) == np.dot(s, asm.pullback(v_bar))


def test_pattern_cotangent_pullback_equals_element_contraction():
    """Architecture: contracting K̄ with the scatter map equals −λ_eᵀ K_e u_e."""
    mesh, ke, free, asm = make()
    dofmap = DofMap(mesh, mesh.dim)
    rng = np.random.default_rng(2)
    lam, u = rng.standard_normal((len(free), 2)), rng.standard_normal((len(free), 2))
    via_pattern = asm.pullback(asm.pattern_cotangent(lam, u))
    via_elements = element_energy_pullback(dofmap.element_dofs, ke, asm.full_vector(lam, dofmap.n_dofs),
                                           asm.full_vector(u, dofmap.n_dofs))
    np.testing.assert_allclose(via_pattern, via_elements, rtol=1e-12, atol=1e-12)


def _per_element_case(seed=3):
    mesh = distorted((4, 3), (4.0, 3.0), seed=seed)
    dofmap = DofMap(mesh, 2)
    free = np.setdiff1d(np.arange(dofmap.n_dofs), [0, 1, 5])
    ke = stiffness_matrices(mesh, 0.3)
    return mesh, dofmap, ke, free, Assembler(dofmap.element_dofs, ke, free, dofmap.n_dofs)


def test_per_element_matrices_equal_to_the_shared_one_give_identical_results():
    mesh, ke, free, shared = make()
    dofmap = DofMap(mesh, mesh.dim)
    copies = np.repeat(ke[None], mesh.n_elements, axis=0)
    per_element = Assembler(dofmap.element_dofs, copies, free, dofmap.n_dofs)
    rng = np.random.default_rng(4)
    s, v_bar = rng.uniform(0.1, 1, mesh.n_elements), rng.standard_normal(shared.nnz)
    assert np.array_equal(per_element.values(s), shared.values(s))
    assert np.array_equal(per_element.pullback(v_bar), shared.pullback(v_bar))
    lam, u = rng.standard_normal((dofmap.n_dofs, 2)), rng.standard_normal((dofmap.n_dofs, 2))
    np.testing.assert_allclose(per_element.element_energy(lam, u), shared.element_energy(lam, u),
                               rtol=1e-13, atol=1e-13)


def test_per_element_assembly_matches_dense_reference():
    mesh, dofmap, ke, free, asm = _per_element_case()
    scales = np.random.default_rng(5).uniform(0.1, 1.0, mesh.n_elements)
    dofs = dofmap.element_dofs
    rows, cols = np.repeat(dofs, dofs.shape[1], axis=1).ravel(), np.tile(dofs, dofs.shape[1]).ravel()
    full = sp.coo_matrix(((scales[:, None, None] * ke).ravel(), (rows, cols)),
                         shape=(dofmap.n_dofs,) * 2).toarray()[np.ix_(free, free)]
    assert not np.allclose(ke[0], ke[1])  # the cells really differ
    np.testing.assert_allclose(asm.matrix(scales).toarray(), np.tril(full), atol=1e-14)


def test_per_element_pattern_cotangent_pullback_equals_element_energy():
    mesh, dofmap, ke, free, asm = _per_element_case(seed=6)
    rng = np.random.default_rng(7)
    lam, u = rng.standard_normal((len(free), 3)), rng.standard_normal((len(free), 3))
    lam_full, u_full = asm.full_vector(lam, dofmap.n_dofs), asm.full_vector(u, dofmap.n_dofs)
    np.testing.assert_allclose(asm.pullback(asm.pattern_cotangent(lam, u)),
                               asm.element_energy(lam_full, u_full), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(element_energy_pullback(dofmap.element_dofs, ke, lam_full[:, 0], u_full[:, 0]),
                               asm.element_energy(lam_full[:, 0], u_full[:, 0]), rtol=1e-14)
