"""The set-up of large grids (issue 21) gives what the plain forms gave: free DOFs by a mask
instead of np.setdiff1d, the rigid-body check on the fixed DOFs only, mg's boundary
corrections without a full gather, and no (n_el, 24) DOF table where nothing reads it."""

import numpy as np
import pytest

import femopt
from femopt.build import build_problem
from femopt.fem.assembly import ElementMap
from femopt.fem.dofs import DofMap, free_dofs
from femopt.fem.elasticity import stiffness_matrices
from femopt.fem.problem import free_rigid_body_modes
from femopt.mesh import AXES, StructuredMesh
from femopt.solvers.mg_hierarchy import array_shape, gather
from femopt.solvers.multigrid import MGSolver, _element_rows, _fixed_elements


def setdiff_free(n_dofs, fixed):
    return np.setdiff1d(np.arange(n_dofs), fixed)


@pytest.mark.parametrize("fixed", [[], [0], [5, 3, 3, 9], list(range(12)), [11, 0, 7, 7, 2]])
def test_free_dofs_are_those_of_setdiff1d(fixed):
    free = free_dofs(12, np.array(fixed, int))
    expected = setdiff_free(12, np.array(fixed, int))
    np.testing.assert_array_equal(free, expected)
    assert free.dtype == expected.dtype


def full_field_rigid_body_modes(node_coords, fixed_dofs):
    """The check as it was: every mode's field on every DOF, then the fixed rows."""
    coords = node_coords - node_coords.mean(axis=0)
    dim = coords.shape[1]
    modes = {f"translation {AXES[a]}": np.eye(dim)[a][None, :].repeat(len(coords), 0) for a in range(dim)}
    for a, b in [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]:
        field = np.zeros_like(coords)
        field[:, a], field[:, b] = -coords[:, b], coords[:, a]
        modes[f"rotation in the {AXES[a]}{AXES[b]} plane"] = field
    R = np.stack([m.ravel()[fixed_dofs] for m in modes.values()], axis=1)
    scale = np.abs(np.stack([m.ravel() for m in modes.values()], axis=1)).max(axis=0)
    singular = np.linalg.svd(R / scale, compute_uv=False)
    rank = np.count_nonzero(singular > 1e-9 * max(singular.max(initial=0.0), 1.0))
    if rank < R.shape[1]:
        return [name for name, column in zip(modes, (R / scale).T) if not np.any(column)]
    return None


@pytest.mark.parametrize("grid", [(6, 2), (5, 3, 4)])
def test_the_rigid_body_check_on_the_fixed_dofs_gives_what_the_full_fields_gave(grid):
    mesh = StructuredMesh(grid, tuple(1.5 * g for g in grid))
    coords, dim = mesh.node_coords + 0.25, mesh.dim   # off-centre coordinates
    rng = np.random.default_rng(0)
    cases = [mesh.select_nodes([("x", 0, 0)]) * dim + c for c in range(dim)]   # one component of a face
    cases.append(np.concatenate(cases))                                          # the face clamped
    cases.append(np.array([0, 1, dim * (mesh.n_nodes - 1)]))                     # a corner and a point
    cases += [np.unique(rng.choice(dim * mesh.n_nodes, size, replace=False)) for size in (1, 2, 5, 40)]
    for fixed in cases:
        assert free_rigid_body_modes(coords, fixed) == full_field_rigid_body_modes(coords, fixed)


def test_build_problem_fixes_loads_and_warns_as_before():
    """A cantilever whose load lies half on the clamped edge and a spring partly on it: the
    fixed DOFs, forces, springs and the dropped share are those of the full-array forms."""
    data = {"mesh": {"grid": [6, 3]},
            "supports": [{"at": {"x": 0}, "fix": "all"}, {"at": {"x": 6, "y": 0}, "fix": ["y"]}],
            "loads": [{"at": {"y": 3, "x": [0, 1]}, "force": [0.0, -1.0]}],
            "springs": [{"at": {"x": [0, 6], "y": 3}, "component": "x", "stiffness": 2.0}],
            "design": {"volume_fraction": 0.4}}
    warnings = []
    problem = build_problem(femopt.load_config(data), warnings)
    mesh = problem.mesh
    left, corner = mesh.select_nodes([("x", 0, 0)]), mesh.select_nodes([("x", 6, 6), ("y", 0, 0)])
    fixed = np.union1d((2 * left[:, None] + np.arange(2)).ravel(), 2 * corner + 1)
    np.testing.assert_array_equal(problem.fixed_dofs, fixed)
    np.testing.assert_array_equal(problem.free_dofs, setdiff_free(2 * mesh.n_nodes, fixed))
    loaded = mesh.select_nodes([("y", 3, 3), ("x", 0, 1)])
    expected = np.zeros(2 * mesh.n_nodes)
    expected[2 * loaded + 1] = -1.0 / len(loaded)
    np.testing.assert_array_equal(problem.forces[:, 0], expected)
    share = np.abs(expected[np.isin(np.arange(len(expected)), fixed)]).sum() / np.abs(expected).sum()
    assert warnings == [f"loads[0]: {share:.1%} of the load acts on fixed DOFs (supported nodes) and is dropped"]
    np.testing.assert_array_equal(problem.spring_dofs, 2 * mesh.select_nodes([("x", 0, 6), ("y", 3, 3)]))


def test_an_element_map_with_its_own_energy_never_builds_the_dof_table():
    mesh = StructuredMesh((3, 2, 2), (3.0, 2.0, 2.0))
    dofmap = DofMap(mesh, 3)
    asked = []

    def table():
        asked.append(True)
        return dofmap.element_dofs

    ke = stiffness_matrices(mesh, 0.3)
    element_map = ElementMap(table, ke, np.arange(dofmap.n_dofs), dofmap.n_dofs,
                             energy=lambda lam, u: np.zeros(mesh.n_elements))
    element_map.element_energy(np.zeros(dofmap.n_dofs), np.zeros(dofmap.n_dofs))
    assert not asked
    plain = ElementMap(table, ke, np.arange(dofmap.n_dofs), dofmap.n_dofs)   # the gathers need it
    u = np.random.default_rng(1).standard_normal(dofmap.n_dofs)
    np.testing.assert_array_equal(plain.element_energy(u, u),
                                  ElementMap(dofmap.element_dofs, ke, np.arange(dofmap.n_dofs),
                                             dofmap.n_dofs).element_energy(u, u))
    assert asked == [True]


@pytest.mark.parametrize("grid", [(5, 4), (5, 3, 4)])
def test_mg_boundary_corrections_gather_only_the_elements_with_fixed_dofs(grid):
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    dim = mesh.dim
    rng = np.random.default_rng(2)
    fixed = np.concatenate([dim * mesh.select_nodes([("x", 0, 0)])[:, None] + np.arange(dim),
                            rng.choice(dim * mesh.n_nodes, 7, replace=False)[:, None]], axis=None)
    free = setdiff_free(dim * mesh.n_nodes, fixed)
    solver = MGSolver(grid, stiffness_matrices(mesh, 0.3), free, levels=2)
    mask = solver.levels[0].free
    z = gather(mask)
    np.testing.assert_array_equal(_element_rows(mask, np.arange(mesh.n_elements)), z)
    np.testing.assert_array_equal(_fixed_elements(mask).ravel(), (z == 0).any(axis=1))
    # the corrections as they were computed from the full gather
    numbers = np.arange(mesh.n_elements).reshape(array_shape(grid))
    parents_all = np.arange(solver.levels[1].n_elements).reshape(solver.levels[1].shape)
    expected = []
    for blocks in solver.levels[0].regions:
        for b in blocks:
            children = numbers[b.fine].ravel()
            parents = np.broadcast_to(parents_all[b.coarse], numbers[b.fine].shape).ravel()
            touched = np.flatnonzero((z[children] == 0).any(axis=1))
            if len(touched):
                zt = z[children[touched]]
                masked = zt[:, :, None] * solver.K0[None] * zt[:, None, :] - solver.K0[None]
                expected.append((children[touched], parents[touched],
                                 np.matmul(np.matmul(b.P.T[None], masked), b.P[None])))
    got = solver._boundary_corrections()
    assert len(got) == len(expected) > 0
    for mine, theirs in zip(got, expected):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


def test_an_mg_run_sets_up_without_the_dof_table():
    """femopt run's set-up with mg on a grid: 1.9 GB of (n_el, 24) DOFs at 10⁷ that nothing reads."""
    model = femopt.prepare({"mesh": {"grid": [8, 4, 4]}, "supports": [{"at": {"x": 0}, "fix": "all"}],
                            "loads": [{"at": {"x": 8, "y": 0}, "force": [0.0, -1.0, 0.0]}],
                            "design": {"volume_fraction": 0.3}, "solver": "mg"})
    model.evaluator()
    assert "element_dofs" not in vars(model.problem.dofmap)
