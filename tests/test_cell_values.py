"""Cell values: shape functions, physical gradients and dV per quadrature point, the one
quadrature loop every element integral goes through."""

import numpy as np
import pytest

from femopt.element import CELL_TYPES, CellValues, InvertedCellError, integrate
from femopt.fem.elasticity import cell_stiffness, solid_matrix

from mesh_helpers import distorted, quadratic

MESHES = {
    "Q4": lambda: distorted((5, 4), (5.0, 4.0)),
    "H8": lambda: distorted((3, 3, 2), (3.0, 3.0, 2.0)),
    "T3": lambda: distorted((5, 4), (5.0, 4.0), cell_type="T3"),
    "T4": lambda: distorted((3, 2, 2), (3.0, 2.0, 2.0), cell_type="T4"),
    "T6": lambda: quadratic(distorted((5, 4), (5.0, 4.0), cell_type="T3")),
    "T10": lambda: quadratic(distorted((3, 2, 2), (3.0, 2.0, 2.0), cell_type="T4")),
}


@pytest.mark.parametrize("name", MESHES)
def test_volumes_fill_the_domain_and_centroids_are_first_moments(name):
    mesh = MESHES[name]()
    values = CellValues(mesh.cell_type, mesh.node_coords[mesh.cells])
    volumes = values.volumes()
    assert volumes.sum() == pytest.approx(np.prod(mesh.bounds[1] - mesh.bounds[0]), rel=1e-12)
    # Σ_e V_e c_e = ∫ x dV over the box = its volume times its centre.
    np.testing.assert_allclose(volumes @ values.centroids(), volumes.sum() * mesh.bounds[1] / 2, rtol=1e-12)
    assert values.dV.shape == (mesh.n_elements, len(mesh.cell_type.quadrature_weights))


@pytest.mark.parametrize("name", MESHES)
def test_gradients_of_a_linear_field_are_exact_and_shape_integrals_partition_the_volume(name):
    mesh = MESHES[name]()
    values = CellValues(mesh.cell_type, mesh.node_coords[mesh.cells])
    slope = np.arange(1.0, mesh.dim + 1)
    nodal = mesh.node_coords @ slope                                      # T(x) = a · x
    gradient = np.einsum("qend,en->qed", values.gradients, nodal[mesh.cells])
    np.testing.assert_allclose(gradient, np.broadcast_to(slope, gradient.shape), atol=1e-12)
    np.testing.assert_allclose(values.shape_integrals().sum(axis=1), values.volumes(), rtol=1e-12)


def test_integrate_in_blocks_is_bitwise_the_whole_mesh_at_once():
    mesh = distorted((6, 5, 4), (6.0, 5.0, 4.0), cell_type="T4")
    coords = mesh.node_coords[mesh.cells]
    D = solid_matrix(1.0, 0.3)
    whole = cell_stiffness(mesh.cell_type, coords, D, chunk_size=len(coords))
    for chunk_size in (1, 7, 100):
        assert np.array_equal(cell_stiffness(mesh.cell_type, coords, D, chunk_size=chunk_size), whole)


def test_integrate_with_another_rule_and_a_shared_integrand():
    """∫ x² dA over the unit square split in Q4 cells, with a 3-point Gauss rule per axis
    (exact for the degree 4 of x² det J on straight cells); a scalar integrand is shared."""
    cell = CELL_TYPES.create("Q4")
    mesh = distorted((4, 4), (1.0, 1.0))
    x, w = np.polynomial.legendre.leggauss(3)
    rule = (np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2), np.outer(w, w).ravel())
    coords = mesh.node_coords[mesh.cells]
    second = integrate(cell, coords, lambda values, q: values.points[:, q, 0] ** 2, (), rule=rule, chunk_size=5)
    assert second.sum() == pytest.approx(1 / 3, rel=1e-12)
    ones = CellValues(cell, coords, rule).integrate(lambda q: 1.0)
    assert ones.sum() == pytest.approx(1.0, rel=1e-12)


def test_an_inverted_cell_is_named_counting_from_the_first_cell_of_all():
    """The error names the cell by its number in the mesh, also when it lies in a later block."""
    mesh = distorted((4, 3), (4.0, 3.0))
    cells = mesh.cells.copy()
    cells[9] = cells[9, [0, 3, 2, 1]]                                     # clockwise: inverted
    with pytest.raises(InvertedCellError, match="cell 9 is inverted"):
        integrate(mesh.cell_type, mesh.node_coords[cells], lambda values, q: 1.0, (), chunk_size=4)
