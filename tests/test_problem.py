"""femopt.fem.problem: the discretized structure and the rigid-body check of its supports."""

import numpy as np
import pytest

from femopt.fem.elasticity import q4_stiffness
from femopt.errors import SingularStiffnessError
from femopt.mesh import StructuredMesh
from femopt.fem.problem import Problem, check_rigid_body_modes
from femopt.fem.dofs import DofMap


def dofs(mesh, nodes, components):
    return (mesh.dim * np.asarray(nodes)[:, None] + np.asarray(components)[None, :]).ravel()


def test_free_dofs_and_component_dofs():
    mesh = StructuredMesh((2, 1), (2.0, 1.0))
    dofmap = DofMap(mesh, mesh.dim)
    fixed = np.array([0, 1, 5])
    problem = Problem(mesh, q4_stiffness(1.0, 0.3), fixed, np.zeros((dofmap.n_dofs, 1)))
    np.testing.assert_array_equal(problem.free_dofs, np.setdiff1d(np.arange(12), fixed))
    np.testing.assert_array_equal(problem.dofs([0, 3], 1), [1, 7])
    assert problem.passive is None and len(problem.spring_dofs) == 0


def test_mbb_supports_stop_every_rigid_body_motion():
    mesh = StructuredMesh((6, 2), (6.0, 2.0))
    left, corner = mesh.select_nodes([("x", 0, 0)]), mesh.select_nodes([("x", 6, 6), ("y", 0, 0)])
    check_rigid_body_modes(mesh, np.union1d(dofs(mesh, left, [0]), dofs(mesh, corner, [1])))


@pytest.mark.parametrize("grid, fixed, free_mode", [
    ((6, 2), lambda m: dofs(m, m.select_nodes([("x", 0, 0)]), [0]), "translation y"),
    ((6, 2), lambda m: dofs(m, m.select_nodes([("x", 0, 0), ("y", 0, 0)]), [0, 1]), "rotation in the xy plane"),
    ((3, 2, 2), lambda m: dofs(m, m.select_nodes([("x", 0, 0)]), [0, 1]), "translation z"),
])
def test_supports_that_leave_a_motion_free_are_singular(grid, fixed, free_mode):
    mesh = StructuredMesh(grid, tuple(float(g) for g in grid))
    with pytest.raises(SingularStiffnessError, match="can still move as a rigid body") as info:
        check_rigid_body_modes(mesh, fixed(mesh))
    if free_mode.startswith("translation"):  # a translation no fixed DOF touches is named
        assert f"({free_mode} is free)" in str(info.value)


def test_3d_clamped_face_is_enough():
    mesh = StructuredMesh((3, 2, 2), (3.0, 2.0, 2.0))
    check_rigid_body_modes(mesh, dofs(mesh, mesh.select_nodes([("x", 0, 0)]), [0, 1, 2]))
