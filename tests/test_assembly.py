import numpy as np
import scipy.sparse as sp

from femopt.assembly import Assembler, element_energy_pullback
from femopt.elements import q4_stiffness
from femopt.mesh import StructuredMesh


def reference_K(mesh, ke, scales):
    """Plain COO assembly of the full K, for comparison."""
    dofs = mesh.element_dofs
    rows = np.repeat(dofs, dofs.shape[1], axis=1).ravel()
    cols = np.tile(dofs, dofs.shape[1]).ravel()
    vals = (scales[:, None] * ke.ravel()[None, :]).ravel()
    return sp.coo_matrix((vals, (rows, cols)), shape=(mesh.n_dofs, mesh.n_dofs)).toarray()


def make(nx=5, ny=3, fixed=(0, 1, 3)):
    mesh = StructuredMesh((nx, ny), (float(nx), float(ny)))
    ke = q4_stiffness(1.0, 0.3)
    free = np.setdiff1d(np.arange(mesh.n_dofs), fixed)
    return mesh, ke, free, Assembler(mesh.element_dofs, ke, free, mesh.n_dofs)


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
    rng = np.random.default_rng(2)
    lam, u = rng.standard_normal((len(free), 2)), rng.standard_normal((len(free), 2))
    via_pattern = asm.pullback(asm.pattern_cotangent(lam, u))
    via_elements = element_energy_pullback(mesh.element_dofs, ke, asm.full_vector(lam, mesh.n_dofs),
                                           asm.full_vector(u, mesh.n_dofs))
    np.testing.assert_allclose(via_pattern, via_elements, rtol=1e-12, atol=1e-12)
