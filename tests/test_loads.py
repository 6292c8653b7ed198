import numpy as np
import pytest
import scipy.linalg

from femopt.errors import MeshError
from femopt.fem.elasticity import stiffness_matrices
from femopt.fem.loads import facet_forces, facet_measure
from femopt.mesh import Mesh, StructuredMesh

from mesh_helpers import boundary_facets, distorted, quadratic
from test_elements import dense_K

GRIDS = {"Q4": ((3, 2), None), "T3": ((3, 2), "T3"), "T6": ((3, 2), "T3"),
         "H8": ((2, 2, 2), None), "T4": ((2, 2, 2), "T4"), "T10": ((2, 2, 2), "T4")}


def mesh_of(name, amount=0.25, seed=0):
    """A distorted unit-cell box mesh of ``name`` cells (interior nodes moved; flat sides)."""
    grid, split = GRIDS[name]
    mesh = distorted(grid, tuple(float(n) for n in grid), amount=amount, seed=seed, cell_type=split)
    return quadratic(mesh) if name in ("T6", "T10") else mesh


def wobbled(name, amount=0.1, seed=4):
    """``mesh_of(name)`` with every node moved, the boundary's too: curved (T6, T10) or
    non-planar (H8) boundary facets."""
    mesh = mesh_of(name)
    shift = amount * np.random.default_rng(seed).uniform(-1, 1, mesh.node_coords.shape)
    return Mesh(mesh.node_coords + shift, mesh.cells, mesh.cell_type)


def right_side(mesh):
    x = mesh.node_coords[:, 0].max()
    return boundary_facets(mesh, lambda c: np.isclose(c[:, 0], x))


@pytest.mark.parametrize("name", list(GRIDS))
def test_forces_sum_to_traction_times_area(name):
    mesh = mesh_of(name)
    facets = right_side(mesh)
    side = np.prod(GRIDS[name][0][1:])           # the side x = max of the unit-cell box
    thickness = 2.5
    traction = np.arange(1.0, mesh.dim + 1)
    assert facet_measure(mesh, facets, thickness) == pytest.approx(side * (thickness if mesh.dim == 2 else 1))
    forces = facet_forces(mesh, facets, traction=traction, thickness=thickness)
    np.testing.assert_allclose(forces.sum(axis=0), traction * facet_measure(mesh, facets, thickness), rtol=1e-13)
    off = np.setdiff1d(np.arange(mesh.n_nodes), facets)
    assert np.all(forces[off] == 0)
    # Pressure p on the side x = max pushes along −x with p × area.
    pushed = facet_forces(mesh, facets, pressure=2.0, thickness=thickness).sum(axis=0)
    np.testing.assert_allclose(pushed, -2.0 * facet_measure(mesh, facets, thickness) * np.eye(mesh.dim)[0],
                               atol=1e-13)


@pytest.mark.parametrize("name", list(GRIDS))
def test_pressure_on_a_closed_boundary_has_no_resultant_nor_moment(name):
    """∮ −p n dS = 0 and ∮ x × (−p n) dS = 0 on any closed surface; the discrete sums are
    exact because pressure is integrated exactly, on curved and non-planar facets too."""
    mesh = wobbled(name)
    facets = boundary_facets(mesh)
    rng = np.random.default_rng(5)
    # Each facet in a random rotation or reflection: its own orientation must not matter.
    n = facets.shape[1] if mesh.cell_type.facet_type.name in ("L2", "T3", "Q4") else None
    if n is not None:
        facets = np.roll(facets, rng.integers(n), axis=1)
        facets[::2] = facets[::2, ::-1]
    forces = facet_forces(mesh, facets, pressure=3.0)
    np.testing.assert_allclose(forces.sum(axis=0), 0, atol=1e-12)
    x = mesh.node_coords
    moment = (np.cross(x, forces) if mesh.dim == 3 else x[:, 0] * forces[:, 1] - x[:, 1] * forces[:, 0]).sum(axis=0)
    np.testing.assert_allclose(moment, 0, atol=1e-12)
    # Outward: pressure on the whole surface compresses, so Σ x · f = −p · dim · V. (Not for
    # curved T10: det J has degree 3 there, beyond its volume rule, so V is not exact.)
    if name == "T10":
        return
    volume = mesh.element_volumes.sum()
    assert np.sum(x * forces) == pytest.approx(-3.0 * mesh.dim * volume, rel=1e-12)


def test_quadratic_facets_split_a_uniform_traction_like_their_shape_functions():
    # T6 edge: 1/6, 1/6 to the ends, 2/3 to the midpoint.
    mesh = quadratic(Mesh([[0, 0], [2, 0], [0, 1]], [[0, 1, 2]], "T3"))
    forces = facet_forces(mesh, [[0, 1, 3]], traction=[0.0, -3.0])   # length 2 → total −6
    np.testing.assert_allclose(forces[[0, 1, 3], 1], [-1, -1, -4], rtol=1e-14)
    # Reflected (1, 0, 3) is the same facet: same forces.
    np.testing.assert_allclose(facet_forces(mesh, [[1, 0, 3]], traction=[0.0, -3.0]), forces, rtol=1e-14)
    # T10 face: nothing to the corners, 1/3 to each midpoint.
    mesh = quadratic(Mesh([[0, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]], "T4"))
    face = mesh.cells[0, list(mesh.cell_type.facets[0])]
    forces = facet_forces(mesh, [face], traction=[0.0, 0.0, 6.0])      # area 1 → total 6
    np.testing.assert_allclose(forces[face[:3], 2], 0, atol=1e-14)
    np.testing.assert_allclose(forces[face[3:], 2], 2, rtol=1e-13)


def test_structured_mesh_and_empty_facets():
    mesh = StructuredMesh((4, 2), (4.0, 1.0))
    facets = right_side(mesh)
    forces = facet_forces(mesh, facets, traction=[0.0, -1.0])
    np.testing.assert_allclose(forces[mesh.select_nodes([("x", 4.0, 4.0)]), 1], [-0.25, -0.5, -0.25])
    assert np.all(facet_forces(mesh, np.zeros((0, 2), int), traction=[1.0, 0.0]) == 0)


def test_facets_that_are_not_boundary_facets_are_named():
    mesh = mesh_of("T4")
    facets = right_side(mesh)
    every = mesh.cells[:, np.array(mesh.cell_type.facets)].reshape(-1, 3)
    _, first, count = np.unique(np.sort(every, axis=1), axis=0, return_index=True, return_counts=True)
    interior = every[first[count == 2][0]]
    with pytest.raises(MeshError, match=r"facet 3 \(nodes .*\) is not a boundary facet .*two cells share it"):
        facet_forces(mesh, np.vstack([facets[:3], interior, facets[3:]]), pressure=1.0)
    nowhere = [0, 1, mesh.n_nodes - 1]   # opposite corners of the box: no cell has them
    with pytest.raises(MeshError, match="facet 0 .* no cell has it"):
        facet_measure(mesh, [nowhere])
    with pytest.raises(MeshError, match="3 nodes each"):
        facet_forces(mesh, facets[:, :2], pressure=1.0)
    with pytest.raises(MeshError, match="outside"):
        facet_forces(mesh, facets + mesh.n_nodes, pressure=1.0)


def skfem_setup(mesh):
    """scikit-fem's vector basis on the same mesh and, per femopt node, its DOFs (n_nodes, dim)
    — found by position, which fits every element (P2's DOFs sit at the edge midpoints)."""
    skfem = pytest.importorskip("skfem")
    from scipy.spatial import cKDTree
    name = mesh.cell_type.name
    mesh_type, element = {"Q4": (skfem.MeshQuad, skfem.ElementQuad1), "T3": (skfem.MeshTri, skfem.ElementTriP1),
                          "T6": (skfem.MeshTri, skfem.ElementTriP2), "H8": (skfem.MeshHex, skfem.ElementHex1),
                          "T4": (skfem.MeshTet, skfem.ElementTetP1), "T10": (skfem.MeshTet, skfem.ElementTetP2)}[name]
    corners = {"T6": 3, "T10": 4}.get(name, mesh.cell_type.n_nodes)
    reference = mesh.cell_type.reference_nodes[:corners]
    reference = (reference + 1) / 2 if name in ("Q4", "H8") else reference
    order = [int(np.flatnonzero(np.all(np.isclose(reference, p), axis=1))[0]) for p in element.doflocs[:corners]]
    used = np.unique(mesh.cells[:, :corners])          # skfem's geometry: the corner nodes only
    renumber = np.full(mesh.n_nodes, -1)
    renumber[used] = np.arange(len(used))
    sk_mesh = mesh_type(mesh.node_coords[used].T, renumber[mesh.cells[:, :corners][:, order]].T)
    # Q4, H8: 2-point Gauss per axis, as femopt (K of a distorted quad is not polynomial).
    basis = skfem.Basis(sk_mesh, skfem.ElementVector(element()), intorder=3 if name in ("Q4", "H8") else 4)
    # The x DOFs at vertices and (P2) edge midpoints; femopt's node at each one's position.
    midside = {"T6": basis.facet_dofs, "T10": basis.edge_dofs}.get(name, np.zeros((1, 0), int))
    component_dofs = np.concatenate([basis.nodal_dofs[0], midside[0]])
    _, node = cKDTree(mesh.node_coords).query(basis.doflocs[:, component_dofs].T)
    dofs = np.empty((mesh.n_nodes, mesh.dim), int)
    for c in range(mesh.dim):
        dofs[node, c] = component_dofs + c  # ElementVector interleaves the components
    return skfem, sk_mesh, basis, dofs, element


@pytest.mark.parametrize("name", list(GRIDS))
def test_compliance_of_tractions_and_pressure_matches_scikit_fem(name):
    """f from femopt and from scikit-fem's FacetBasis on the same facets; the compliance
    fᵀ K⁻¹ f of each (own K, own f) agrees to 1e-8 (acceptance criterion)."""
    mesh = mesh_of(name)
    skfem, sk_mesh, basis, dofs, element = skfem_setup(mesh)
    from skfem.helpers import dot
    from skfem.models.elasticity import lame_parameters, linear_elasticity
    top = mesh.node_coords[:, 1].max()
    right = right_side(mesh)
    upper = boundary_facets(mesh, lambda c: np.isclose(c[:, 1], top))
    traction, pressure, nu = np.linspace(0.5, -1.0, mesh.dim), 0.7, 0.3

    f = facet_forces(mesh, right, traction=traction) + facet_forces(mesh, upper, pressure=pressure)
    free = np.setdiff1d(np.arange(mesh.n_nodes), mesh.select_nodes([("x", 0.0, 0.0)]))
    K = dense_K(mesh, stiffness_matrices(mesh, nu))
    node_major = (mesh.dim * free[:, None] + np.arange(mesh.dim)).ravel()
    f_free = f.ravel()[node_major]
    compliance = f_free @ scipy.linalg.solve(K[np.ix_(node_major, node_major)], f_free, assume_a="pos")

    @skfem.LinearForm
    def traction_form(v, w):
        return dot(traction[:, None, None], v)

    @skfem.LinearForm
    def pressure_form(v, w):
        return -pressure * dot(w.n, v)

    x_max = mesh.node_coords[:, 0].max()
    on_right = sk_mesh.facets_satisfying(lambda x: np.isclose(x[0], x_max))
    on_top = sk_mesh.facets_satisfying(lambda x: np.isclose(x[1], top))
    assert (len(on_right), len(on_top)) == (len(right), len(upper))
    f_sk = (skfem.asm(traction_form, skfem.FacetBasis(sk_mesh, basis.elem, facets=on_right, intorder=4))
            + skfem.asm(pressure_form, skfem.FacetBasis(sk_mesh, basis.elem, facets=on_top, intorder=4)))
    np.testing.assert_allclose(f_sk[dofs], f, atol=1e-13 * np.abs(f).max())
    lam, mu = lame_parameters(1.0, nu)
    if mesh.dim == 2:
        lam = 2 * lam * mu / (lam + 2 * mu)  # plane stress: λ* = Eν / (1 − ν²)
    K_sk = skfem.asm(linear_elasticity(lam, mu), basis)
    sk_free = dofs[free].ravel()
    u = skfem.solve(*skfem.condense(K_sk, f_sk, I=sk_free))
    assert compliance == pytest.approx(f_sk @ u, rel=1e-8)
