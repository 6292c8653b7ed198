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
from femopt.fem.dofs import DofMap, free_dofs
from femopt.mesh import AXES, Mesh
from femopt.mesh.checks import parts


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
        """(n_free,) the sorted DOFs not in :attr:`fixed_dofs`."""
        return free_dofs(self.dofmap.n_dofs, self.fixed_dofs)

    def dofs(self, nodes: np.ndarray, component: int) -> np.ndarray:
        """(len(nodes),) the DOFs of one component (0 for temperature) at ``nodes``."""
        return self.dofmap.dofs(nodes, component)


def check_rigid_body_modes(mesh: Mesh, fixed_dofs: np.ndarray) -> None:
    """Raise SingularStiffnessError unless the fixed DOFs stop every rigid-body motion.

    With Emin > 0 the mesh is one connected elastic body, so K is singular exactly
    when a rigid-body mode (translations and rotations) vanishes on all fixed DOFs.
    (A mesh of several parts: :func:`check_parts`.)
    """
    free = free_rigid_body_modes(mesh.node_coords, fixed_dofs)
    if free is not None:
        detail = f" ({', '.join(free)} is free)" if free else ""
        raise SingularStiffnessError(
            f"supports: the structure can still move as a rigid body{detail}; "
            "the stiffness matrix is singular — fix more components")


def free_rigid_body_modes(node_coords: np.ndarray, fixed_dofs: np.ndarray) -> list[str] | None:
    """None when the fixed DOFs (node-major, dim per node of (n_nodes, dim) ``node_coords``)
    stop every rigid-body motion of those nodes; else the names of the modes that no fixed
    DOF touches (possibly none: then a combination of modes is free)."""
    # Each mode's field only at the fixed DOFs (n_fixed, not n_dofs, rows), and its scale:
    # the largest |value| over all nodes (1 for a translation, the largest |centred
    # coordinate| of the two axes for a rotation), as the full fields would give.
    coords = node_coords - node_coords.mean(axis=0)
    dim = coords.shape[1]
    fixed_dofs = np.asarray(fixed_dofs, np.intp)
    node, component = fixed_dofs // dim, fixed_dofs % dim
    modes, scales = {}, []
    for a in range(dim):
        modes[f"translation {AXES[a]}"] = (component == a).astype(float)
        scales.append(1.0)
    extent = np.abs(coords).max(axis=0) if len(coords) else np.zeros(dim)
    rotation_planes = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    for a, b in rotation_planes:  # the field (…, −x_b at a, x_a at b, …)
        column = np.zeros(len(fixed_dofs))
        at_a, at_b = component == a, component == b
        column[at_a] = -coords[node[at_a], b]
        column[at_b] = coords[node[at_b], a]
        modes[f"rotation in the {AXES[a]}{AXES[b]} plane"] = column
        scales.append(max(extent[a], extent[b]))
    R = np.stack(list(modes.values()), axis=1)  # (n_fixed, n_modes)
    scale = np.array(scales)
    singular = np.linalg.svd(R / scale, compute_uv=False)
    rank = np.count_nonzero(singular > 1e-9 * max(singular.max(initial=0.0), 1.0))
    if rank < R.shape[1]:
        return [name for name, column in zip(modes, (R / scale).T) if not np.any(column)]
    return None


def check_parts(mesh: Mesh, held_dofs: np.ndarray, components: int, where: str = "mesh") -> None:
    """Raise SingularStiffnessError when the cells form several parts (cells sharing no node)
    and one of them is held by no fixed DOF or spring (a floating island: K is singular
    whatever the solver), or, with displacements (components = dim), can still move as a
    rigid body. held_dofs: fixed and spring DOFs, node-major with ``components`` per node;
    where: the start of the message (the key it is about)."""
    n_parts, cell_part, node_part = parts(mesh.cells, mesh.n_nodes)
    if n_parts < 2:
        return  # one part: check_rigid_body_modes or check_fixed_temperature has its say
    held_dofs = np.unique(np.asarray(held_dofs, np.int64))
    sizes = np.bincount(cell_part, minlength=n_parts)
    held_parts = node_part[held_dofs // components]
    held = np.bincount(held_parts[held_parts >= 0], minlength=n_parts) > 0
    listed = _listed(np.sort(sizes)[::-1])
    if not held.all():
        loose = np.sort(sizes[~held])[::-1]
        whose = (f"the part of {loose[0]} elements has" if len(loose) == 1 else
                 f"{len(loose)} of them ({_listed(loose)} elements) have")
        raise SingularStiffnessError(
            f"{where}: the mesh has {n_parts} disconnected parts ({listed} elements); {whose} no "
            "support or spring, so the stiffness matrix is singular — remove them from the mesh, "
            "connect them to the rest, or support them")
    if components != mesh.dim:
        return  # a temperature: one held node per part is enough
    by_part = np.argsort(node_part, kind="stable")       # the nodes, part after part
    bounds = np.searchsorted(node_part[by_part], np.arange(n_parts + 1))
    dof_part = node_part[held_dofs // components]
    for p in np.argsort(-sizes, kind="stable"):           # the largest first
        nodes = by_part[bounds[p]:bounds[p + 1]]
        dofs = held_dofs[dof_part == p]
        local = np.searchsorted(nodes, dofs // components) * components + dofs % components
        free = free_rigid_body_modes(mesh.node_coords[nodes], local)
        if free is not None:
            detail = f" ({', '.join(free)} is free)" if free else ""
            raise SingularStiffnessError(
                f"{where}: the mesh has {n_parts} disconnected parts ({listed} elements); the one of "
                f"{sizes[p]} elements can still move as a rigid body{detail}, so the stiffness matrix "
                "is singular — fix more components of it, or connect it to the rest")


def _listed(values, shown: int = 5) -> str:
    """'9800, 120 and 4'; beyond ``shown`` values, '9800, 120, 4, 4, 3 and 17 more'."""
    values = [str(v) for v in values]
    if len(values) > shown:
        return ", ".join(values[:shown]) + f" and {len(values) - shown} more"
    return " and ".join([", ".join(values[:-1]), values[-1]]) if len(values) > 1 else values[0]


def check_fixed_temperature(fixed_dofs: np.ndarray) -> None:
    """Raise SingularStiffnessError unless some temperature is fixed: with kmin > 0 the
    mesh is one connected conductor, whose conduction matrix has the constant temperature
    as its only null vector, so one fixed node is enough."""
    if len(fixed_dofs) == 0:
        raise SingularStiffnessError(
            "supports: no temperature is fixed, so the temperature is determined only up to a "
            "constant and the conduction matrix is singular — fix it somewhere (fix: [t])")
