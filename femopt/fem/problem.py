"""The discretized structure: mesh, element stiffness, supports, loads, springs and
passive elements, as numbers and arrays (built from a problem file by :mod:`femopt.build`).

The same container holds a heat-conduction problem (``components=1``): the element
matrices are conduction matrices, the DOFs temperatures, the "forces" heat inputs and
E, Emin the conductivities of solid and void."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from femopt.errors import SingularStiffnessError
from femopt.fem.dofs import DofMap
from femopt.mesh import AXES, Mesh


@dataclass(frozen=True)
class Problem:
    """A discretized linear problem: a linear-elastic structure (displacements), or with
    ``components=1`` heat conduction (temperatures).

    element_matrix: element stiffness for E = 1: one shared (k, k) matrix (a structured
    grid's equal boxes) or (n_elements, k, k), as :func:`femopt.fem.elasticity.stiffness_matrices`
    gives (:func:`femopt.fem.heat.conduction_matrices` for heat).
    The DOFs are :attr:`dofmap`'s: :attr:`n_components` per node, node-major.
    fixed_dofs: (n_fixed,) sorted DOFs held at zero.
    forces: (n_dofs, n_cases) nodal force vectors, one column per load case.
    E, Emin: Young's modulus of solid and of void (Emin > 0 keeps K nonsingular).
    case_weights: (n_cases,) weights of the load cases in the compliance.
    spring_dofs, spring_stiffness: (n_springs,) grounded springs added to K's diagonal.
    passive: (n_elements,) the fixed density (0 or 1) of each passive element and NaN
    for designable ones; None when every element is designable.
    components: DOFs per node; None means dim (displacements). 1 is a scalar field: heat
    conduction, where element_matrix holds conduction matrices for a unit conductivity, the
    DOFs are temperatures, forces are heat inputs (power units) per node and E, Emin are the
    conductivities k, kmin of solid and void.
    nu: Poisson's ratio of the solid, with which element_matrix was computed.
    """

    mesh: Mesh
    element_matrix: np.ndarray
    fixed_dofs: np.ndarray
    forces: np.ndarray
    E: float = 1.0
    Emin: float = 1e-9
    case_weights: np.ndarray | None = None
    spring_dofs: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    spring_stiffness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passive: np.ndarray | None = None
    components: int | None = None
    nu: float = 0.3           # Poisson's ratio of the solid (the stress response's D₀)

    @cached_property
    def dofmap(self) -> DofMap:
        """The DOFs: :attr:`n_components` per node, node-major."""
        return DofMap(self.mesh, self.n_components)

    @property
    def n_components(self) -> int:
        """DOFs per node: dim for displacements, 1 for temperature."""
        return self.mesh.dim if self.components is None else self.components

    @property
    def free_dofs(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.dofmap.n_dofs), self.fixed_dofs)

    def dofs(self, nodes: np.ndarray, component: int) -> np.ndarray:
        """(len(nodes),) the DOFs of one component (0 for temperature) at ``nodes``."""
        return self.dofmap.dofs(nodes, component)


def check_rigid_body_modes(mesh: Mesh, fixed_dofs: np.ndarray) -> None:
    """Raise SingularStiffnessError unless the fixed DOFs stop every rigid-body motion.

    With Emin > 0 the mesh is one connected elastic body, so K is singular exactly
    when a rigid-body mode (translations and rotations) vanishes on all fixed DOFs.
    """
    coords = mesh.node_coords - mesh.node_coords.mean(axis=0)
    dim = mesh.dim
    modes = {f"translation {AXES[a]}": np.eye(dim)[a][None, :].repeat(len(coords), 0)
             for a in range(dim)}
    rotation_planes = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    for a, b in rotation_planes:
        field = np.zeros_like(coords)
        field[:, a], field[:, b] = -coords[:, b], coords[:, a]
        modes[f"rotation in the {AXES[a]}{AXES[b]} plane"] = field
    R = np.stack([m.ravel()[fixed_dofs] for m in modes.values()], axis=1)  # (n_fixed, n_modes)
    scale = np.abs(np.stack([m.ravel() for m in modes.values()], axis=1)).max(axis=0)
    singular = np.linalg.svd(R / scale, compute_uv=False)
    rank = np.count_nonzero(singular > 1e-9 * max(singular.max(initial=0.0), 1.0))
    if rank < R.shape[1]:
        free = [name for name, column in zip(modes, (R / scale).T) if not np.any(column)]
        detail = f" ({', '.join(free)} is free)" if free else ""
        raise SingularStiffnessError(
            f"supports: the structure can still move as a rigid body{detail}; "
            "the stiffness matrix is singular — fix more components")


def check_fixed_temperature(fixed_dofs: np.ndarray) -> None:
    """Raise SingularStiffnessError unless some temperature is fixed: with kmin > 0 the
    mesh is one connected conductor, whose conduction matrix has the constant temperature
    as its only null vector, so one fixed node is enough."""
    if len(fixed_dofs) == 0:
        raise SingularStiffnessError(
            "supports: no temperature is fixed, so the temperature is determined only up to a "
            "constant and the conduction matrix is singular — fix it somewhere (fix: [t])")
