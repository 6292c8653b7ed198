import numpy as np
import pytest

from femopt.errors import MeshError
from femopt.element import CELL_TYPES
from femopt.fem.dofs import DofMap
from femopt.fem.elasticity import stiffness_matrices
from femopt.mesh import Mesh, StructuredMesh

from mesh_helpers import as_general, distorted


def test_counts_and_coordinates_2d():
    mesh = StructuredMesh((3, 2), (6.0, 2.0))
    dofmap = DofMap(mesh, mesh.dim)
    assert (mesh.n_elements, mesh.n_nodes, dofmap.n_dofs) == (6, 12, 24)
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
    dofmap = DofMap(mesh, mesh.dim)
    nodes = mesh.element_nodes[3]
    assert list(dofmap.element_dofs[3]) == [d for n in nodes for d in (2 * n, 2 * n + 1)]


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


@pytest.mark.parametrize("name", ["Q4", "H8", "T3", "T4"])
def test_shape_functions_interpolate_nodes_and_gradients_match_differences(name):
    cell = CELL_TYPES.create(name)
    assert cell.name == name and cell.reference_nodes.shape == (cell.n_nodes, cell.dim)
    np.testing.assert_allclose(cell.shape_functions(cell.reference_nodes), np.eye(cell.n_nodes), atol=1e-15)
    points = np.random.default_rng(0).uniform(0, 0.3, (5, cell.dim))
    np.testing.assert_allclose(cell.shape_functions(points).sum(axis=1), 1.0)
    h = 1e-6
    for a in range(cell.dim):
        step = h * np.eye(cell.dim)[a]
        fd = (cell.shape_functions(points + step) - cell.shape_functions(points - step)) / (2 * h)
        np.testing.assert_allclose(cell.shape_gradients(points)[:, :, a], fd, atol=1e-9)
    # The rule integrates 1 to the reference volume.
    points, weights = cell.quadrature
    assert weights.sum() == pytest.approx({"Q4": 4, "H8": 8, "T3": 1 / 2, "T4": 1 / 6}[name])


@pytest.mark.parametrize("name", ["Q4", "H8", "T3", "T4"])
def test_facets_are_outward_and_cover_the_boundary(name):
    cell = CELL_TYPES.create(name)
    nodes = cell.reference_nodes
    center = nodes.mean(axis=0)
    for facet in cell.facets:
        p = nodes[list(facet)]
        if cell.dim == 2:
            edge = p[1] - p[0]
            normal = np.array([edge[1], -edge[0]])  # right of a → b: outside when the cell is on the left
        else:
            normal = np.cross(p[1] - p[0], p[2] - p[0])
        assert normal @ (p.mean(axis=0) - center) > 0
    n_facet_nodes = sum(len(f) for f in cell.facets)
    assert n_facet_nodes == {"Q4": 8, "H8": 24, "T3": 6, "T4": 12}[name]


@pytest.mark.parametrize("grid,size", [((3, 2), (6.0, 2.0)), ((2, 3, 2), (2.0, 3.0, 1.0))])
def test_structured_mesh_implements_the_mesh_interface(grid, size):
    mesh = StructuredMesh(grid, size)
    general = as_general(mesh)
    assert mesh.structured and not general.structured and isinstance(mesh, Mesh)
    assert mesh.cell_type.name == ("Q4" if len(grid) == 2 else "H8")
    assert mesh.node_groups == mesh.facet_groups == mesh.cell_groups == {}
    np.testing.assert_array_equal(mesh.cells, mesh.element_nodes)
    np.testing.assert_allclose(general.element_volumes, mesh.element_volumes, rtol=1e-14)
    np.testing.assert_allclose(general.element_centers, mesh.element_centers, atol=1e-14)
    for a, b in zip(general.bounds, mesh.bounds):
        np.testing.assert_allclose(a, b)
    assert mesh.element_volumes.sum() == pytest.approx(np.prod(size))
    assert stiffness_matrices(mesh, 0.3).shape == (mesh.dim * 2**mesh.dim,) * 2
    per_element = stiffness_matrices(general, 0.3)
    assert per_element.shape == (mesh.n_elements,) + stiffness_matrices(mesh, 0.3).shape
    np.testing.assert_allclose(per_element, np.broadcast_to(stiffness_matrices(mesh, 0.3), per_element.shape),
                               rtol=0, atol=1e-15)
    for ranges in ([("x", 0.0, 0.0)], [("x", 2.0, 2.0), ("y", 0.0, 3.0)]):
        np.testing.assert_array_equal(general.select_nodes(ranges), mesh.select_nodes(ranges))


@pytest.mark.parametrize("grid,cell_type", [((4, 3), None), ((4, 3), "T3"), ((3, 2, 2), None),
                                            ((3, 2, 2), "T4")])
def test_general_mesh_volumes_centroids_and_size(grid, cell_type):
    size = tuple(float(n) for n in grid)
    mesh = distorted(grid, size, cell_type=cell_type)
    assert mesh.element_volumes.sum() == pytest.approx(np.prod(size), rel=1e-12)
    # Σ V_e c_e = ∫ x dV = the box's first moment: centroids are exact, not vertex means.
    np.testing.assert_allclose(mesh.element_volumes @ mesh.element_centers,
                               np.prod(size) * np.asarray(size) / 2, rtol=1e-12)
    assert 0.5 < mesh.characteristic_size < 1.2  # unit cells, distorted or split
    lower, upper = mesh.bounds
    np.testing.assert_allclose(lower, 0) and np.testing.assert_allclose(upper, size)
    assert len(mesh.select_nodes([("x", 0.0, 0.0)])) == np.prod(np.asarray(grid[1:]) + 1)


def test_mesh_keeps_named_groups_and_checks_its_arrays():
    coords = [[0, 0], [1, 0], [0, 1], [1, 1]]
    mesh = Mesh(coords, [[0, 1, 2], [1, 3, 2]], "T3", node_groups={"left": [0, 2]},
                facet_groups={"bottom": [[0, 1]]}, cell_groups={"first": [0]})
    assert mesh.cell_type.meshio_name == "triangle" and mesh.n_elements == 2 and mesh.dim == 2
    np.testing.assert_array_equal(mesh.facet_groups["bottom"], [[0, 1]])
    assert not mesh.node_coords.flags.writeable
    with pytest.raises(MeshError, match="3 nodes each"):
        Mesh(coords, [[0, 1, 2, 3]], "T3")
    with pytest.raises(MeshError, match="outside"):
        Mesh(coords, [[0, 1, 4]], "T3")
    with pytest.raises(MeshError, match="shape"):
        Mesh(coords, [[0, 1, 2, 3]], "H8")


def test_dofmap_numbers_node_major():
    mesh = distorted((2, 2), (2.0, 2.0), cell_type="T3")
    vector, scalar = DofMap(mesh, 2), DofMap(mesh, 1)
    assert (vector.n_dofs, scalar.n_dofs) == (2 * mesh.n_nodes, mesh.n_nodes)
    nodes = mesh.cells[3]
    assert list(vector.element_dofs[3]) == [d for n in nodes for d in (2 * n, 2 * n + 1)]
    np.testing.assert_array_equal(scalar.element_dofs, mesh.cells)
    np.testing.assert_array_equal(vector.dofs([4, 7]), [8, 9, 14, 15])
    np.testing.assert_array_equal(vector.dofs([4, 7], components=1), [9, 15])
    box = StructuredMesh((3, 2), (3.0, 2.0))
    np.testing.assert_array_equal(DofMap(box, 2).element_dofs[0], [0, 1, 6, 7, 8, 9, 2, 3])  # nodes 0, 3, 4, 1
