import numpy as np
import pytest

from femopt.mesh import StructuredMesh


def test_counts_and_coordinates_2d():
    mesh = StructuredMesh((3, 2), (6.0, 2.0))
    assert (mesh.n_elements, mesh.n_nodes, mesh.n_dofs) == (6, 12, 24)
    np.testing.assert_allclose(mesh.element_size, [2.0, 1.0])
    # y runs fastest: node 1 is (0, 1), node 3 is (2, 0)
    np.testing.assert_allclose(mesh.node_coords[[0, 1, 3, 11]], [[0, 0], [0, 1], [2, 0], [6, 2]])
    np.testing.assert_allclose(mesh.element_centers[[0, 1, 2]], [[1, 0.5], [1, 1.5], [3, 0.5]])


@pytest.mark.parametrize("grid,size", [((3, 2), (6.0, 2.0)), ((2, 3, 2), (2.0, 3.0, 1.0))])
def test_element_nodes_are_the_element_corners_in_local_order(grid, size):
    mesh = StructuredMesh(grid, size)
    corners = mesh.node_coords[mesh.element_nodes] - mesh.element_centers[:, None, :]
    signs = np.sign(corners)
    expected = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])  # counter-clockwise from lower left
    if mesh.dim == 3:
        expected = np.vstack([np.c_[expected, -np.ones(4)], np.c_[expected, np.ones(4)]])
    assert np.all(signs == expected[None])
    np.testing.assert_allclose(np.abs(corners), np.broadcast_to(mesh.element_size / 2, corners.shape))


def test_element_dofs_are_node_major():
    mesh = StructuredMesh((2, 2), (2.0, 2.0))
    nodes = mesh.element_nodes[3]
    assert list(mesh.element_dofs[3]) == [d for n in nodes for d in (2 * n, 2 * n + 1)]


def test_select_nodes_by_value_range_and_tolerance():
    mesh = StructuredMesh((60, 20), (60.0, 20.0))
    left = mesh.select_nodes([("x", 0.0, 0.0)])
    assert len(left) == 21 and np.all(mesh.node_coords[left, 0] == 0)
    corner = mesh.select_nodes([("x", 60.0, 60.0), ("y", 0.0, 0.0)])
    np.testing.assert_allclose(mesh.node_coords[corner], [[60.0, 0.0]])
    band = mesh.select_nodes([("x", 10.0, 12.0), ("y", 20.0, 20.0)])
    assert len(band) == 3
    # Round-off in the input still finds the line; a value between nodes finds nothing.
    assert len(mesh.select_nodes([("x", 60.0 + 1e-9, 60.0 + 1e-9)])) == 21
    assert len(mesh.select_nodes([("x", 0.5, 0.5)])) == 0
