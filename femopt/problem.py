"""From a validated configuration to the finite-element problem: mesh, element matrix,
fixed DOFs and load vectors, and the responses to optimize."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femopt.design.passive import region_mask
from femopt.elements import h8_stiffness, q4_stiffness
from femopt.errors import SingularStiffnessError
from femopt.mesh import AXES, StructuredMesh
from femopt.objectives import CallableLoss, Compliance, Displacement, DisplacementTarget, Volume


@dataclass(frozen=True)
class Problem:
    """A discretized linear-elastic structure.

    element_matrix: stiffness of one element for E = 1 (all elements are equal boxes).
    fixed_dofs: (n_fixed,) sorted DOFs held at zero.
    forces: (n_dofs, n_cases) nodal force vectors, one column per load case.
    E, Emin: Young's modulus of solid and of void (Emin > 0 keeps K nonsingular).
    case_weights: (n_cases,) weights of the load cases in the compliance.
    spring_dofs, spring_stiffness: (n_springs,) grounded springs added to K's diagonal.
    passive: (n_elements,) the fixed density (0 or 1) of each passive element and NaN
    for designable ones; None when every element is designable.
    """

    mesh: StructuredMesh
    element_matrix: np.ndarray
    fixed_dofs: np.ndarray
    forces: np.ndarray
    E: float = 1.0
    Emin: float = 1e-9
    case_weights: np.ndarray | None = None
    spring_dofs: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    spring_stiffness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passive: np.ndarray | None = None

    @property
    def free_dofs(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.mesh.n_dofs), self.fixed_dofs)


def build_problem(config) -> Problem:
    """Resolve the selections of a :class:`femopt.config.ProblemConfig` on its mesh.

    Raises ConfigError for a selection that matches no node and
    SingularStiffnessError for supports that leave a rigid-body motion free.
    """
    mesh = StructuredMesh(tuple(config.mesh.grid), tuple(config.mesh.size))
    material = config.material
    if mesh.dim == 2:
        ke = q4_stiffness(1.0, material.nu, material.thickness, mesh.element_size)
    else:
        ke = h8_stiffness(1.0, material.nu, mesh.element_size)

    fixed = []
    for support in config.supports:
        nodes = _select(config, mesh, support.at, support.path)
        fixed.append((mesh.dim * nodes[:, None] + np.asarray(support.fix)[None, :]).ravel())
    fixed_dofs = np.unique(np.concatenate(fixed))
    check_rigid_body_modes(mesh, fixed_dofs)

    cases = config.cases
    forces = np.zeros((mesh.n_dofs, len(cases)))
    free = np.setdiff1d(np.arange(mesh.n_dofs), fixed_dofs)
    for c, case in enumerate(cases):
        for load in case.loads:
            nodes = _select(config, mesh, load.at, load.path)
            per_node = np.asarray(load.force, float) / (1 if load.per_node else len(nodes))
            np.add.at(forces[:, c], (mesh.dim * nodes[:, None] + np.arange(mesh.dim)).ravel(),
                      np.tile(per_node, len(nodes)))
        if not forces[free, c].any():
            raise config.error(case.path if config.load_cases else "loads",
                               "every load acts on fixed DOFs or is zero; nothing to optimize")

    spring_dofs, spring_stiffness = [], []
    for spring in config.springs:
        dofs = mesh.dim * _select(config, mesh, spring.at, spring.path) + spring.component
        if not np.isin(dofs, free).any():
            raise config.error(f"{spring.path}.at",
                               "every selected DOF is fixed; a spring there does nothing")
        spring_dofs.append(dofs)
        spring_stiffness.append(np.full(len(dofs), spring.stiffness))
    return Problem(mesh, ke, fixed_dofs, forces, material.E, material.Emin,
                   case_weights=np.array([case.weight for case in cases]),
                   spring_dofs=np.concatenate(spring_dofs) if spring_dofs else np.zeros(0, int),
                   spring_stiffness=np.concatenate(spring_stiffness) if spring_stiffness else np.zeros(0),
                   passive=_passive_densities(config, mesh))


def _passive_densities(config, mesh: StructuredMesh) -> np.ndarray | None:
    """(n_elements,) 1 in solid regions, 0 in void ones, NaN elsewhere (later regions win
    where they overlap); None without passive regions."""
    regions = config.design.passive
    if not regions:
        return None
    fixed = np.full(mesh.n_elements, np.nan)
    for region in regions:
        inside = region_mask(mesh, region)
        if not inside.any():
            raise config.error(region.path, f"the {region.shape} contains no element center")
        fixed[inside] = 1.0 if region.type == "solid" else 0.0
    if not np.isnan(fixed).any():
        raise config.error("design.passive", "every element is passive; nothing is left to design")
    return fixed


def _select(config, mesh: StructuredMesh, selection, path: str) -> np.ndarray:
    nodes = mesh.select_nodes(selection.ranges)
    if len(nodes) == 0:
        where = ", ".join(f"{a}={lo:g}" if lo == hi else f"{a} in [{lo:g}, {hi:g}]"
                          for a, lo, hi in selection.ranges)
        spans = ", ".join(f"{a} in [0, {s:g}]" for a, s in zip(AXES, mesh.size))
        raise config.error(f"{path}.at", f"selects no node ({where}; the mesh spans {spans})")
    return nodes


def check_rigid_body_modes(mesh: StructuredMesh, fixed_dofs: np.ndarray) -> None:
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


def build_responses(config, problem: Problem):
    """The objective and the (response, limit) constraints of ``config`` on ``problem``."""
    objective = _response(config, problem, config.objective)
    constraints = [(_response(config, problem, c), c.limit) for c in config.constraint_list]
    return objective, constraints


def _response(config, problem: Problem, spec):
    mesh = problem.mesh
    if spec.type == "compliance":
        return Compliance(problem.case_weights)
    if spec.type == "volume":
        return Volume()
    if spec.type == "python":
        return CallableLoss(_load_callable(config, spec))
    dofs = mesh.dim * _select(config, mesh, spec.at, spec.path) + spec.component
    if spec.type == "displacement":
        return Displacement(dofs, np.full(len(dofs), spec.weight), case=spec.case)
    return DisplacementTarget(dofs, np.full(len(dofs), spec.target), case=spec.case)


def _load_callable(config, spec):
    """Import ``module:name`` or ``file.py:name`` (relative to the problem file)."""
    where, _, name = spec.function.rpartition(":")
    if not where or not name:
        raise config.error(f"{spec.path}.function", f"expected 'module:name' or 'file.py:name', "
                           f"got {spec.function!r}")
    try:
        if where.endswith(".py"):
            path = Path(config.source).parent / where
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        function = getattr(module, name)
    except Exception as exc:  # a user's module can fail in any way; report it in one line
        raise config.error(f"{spec.path}.function",
                           f"cannot load {spec.function!r}: {type(exc).__name__}: {exc}") from None
    if not callable(function):
        raise config.error(f"{spec.path}.function", f"{spec.function!r} is not callable")
    return function
