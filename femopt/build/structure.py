"""The structure of a problem file: its mesh, and on it the supports, loads, springs and
passive elements as a :class:`femopt.fem.problem.Problem` (numbers and arrays).

The selections are resolved first, all in one pass (:mod:`femopt.build.selections`);
here each support becomes fixed DOFs, each load consistent nodal forces (or heat inputs),
each spring diagonal stiffness, each passive region a mask. Structures that can still
move and loads that act on nothing are reported here, as one-line errors naming the key.
"""

from __future__ import annotations

import numpy as np

from femopt.build.selections import Selections, on_facets, structure_selections
from femopt.config import ProblemConfig, Selection
from femopt.design import region_mask
from femopt.errors import MeshError
from femopt.fem.dofs import DofMap, free_dofs
from femopt.fem.elasticity import stiffness_matrices
from femopt.fem.heat import conduction_matrices
from femopt.fem.loads import facet_flux, facet_forces, facet_measure, source_heat
from femopt.fem.problem import Problem, check_fixed_temperature, check_parts, check_rigid_body_modes
from femopt.mesh import AXES, Mesh, StructuredMesh, read_mesh


def build_mesh(config: ProblemConfig) -> Mesh:
    """The mesh of ``config``: its file's (read once, see :func:`femopt.mesh.read_mesh`),
    or a generated grid (its arrays are computed when first asked for)."""
    if config.mesh.file is not None:
        try:
            return read_mesh(config.mesh.file, config.mesh.scale, **config.mesh.cad_options)
        except MeshError as e:  # changed since the problem file was read
            raise config.error("mesh.file", str(e)) from None
    return StructuredMesh(tuple(config.mesh.grid), tuple(config.mesh.size))


def build_problem(config: ProblemConfig, warnings: list | None = None,
                  selections: list | None = None, mesh: Mesh | None = None,
                  resolved: Selections | None = None) -> Problem:
    """The :class:`Problem` of ``config``: supports, loads and springs on its mesh.

    Raises ConfigError for a selection that matches no node, passive solids larger than
    a volume limit, and SingularStiffnessError for supports that leave a rigid-body
    motion free. warnings: a list to append warning lines to (loads dropped on fixed
    DOFs). selections: a list to append (path, description) of each support's and
    load's nodes to, for ``femopt validate``. mesh, resolved: the mesh and the resolved
    selections (:func:`femopt.build.selections.resolve_selections`) when already at hand.
    """
    warnings = [] if warnings is None else warnings
    selections = [] if selections is None else selections
    mesh = build_mesh(config) if mesh is None else mesh
    resolved = Selections(structure_selections(config, mesh)) if resolved is None else resolved
    material = config.material
    heat = config.physics == "heat"  # one DOF per node, the temperature (docs/physics.md)
    dofmap = DofMap(mesh, 1 if heat else mesh.dim)
    ke = (conduction_matrices(mesh, material.thickness) if heat
          else stiffness_matrices(mesh, material.nu, material.thickness))

    fixed = []
    for support in config.supports:
        nodes = resolved[f"{support.path}.at"]
        fixed.append(dofmap.dofs(nodes, support.fix))
        components = "t" if heat else ", ".join(AXES[c] for c in support.fix)
        selections.append((support.path, f"{_count(len(nodes), 'node')}, fixed in {components}"))
    fixed_dofs = np.unique(np.concatenate(fixed))
    if heat:
        check_fixed_temperature(fixed_dofs)
    else:
        check_rigid_body_modes(mesh, fixed_dofs)

    cases = config.cases
    forces = np.zeros((dofmap.n_dofs, len(cases)))
    free = free_dofs(dofmap.n_dofs, fixed_dofs)
    for c, case in enumerate(cases):
        for load in case.loads:
            nodal, description = load_forces(config, mesh, load, resolved[f"{load.path}.at"])
            forces[:, c] += nodal.ravel()  # node-major, as DofMap numbers them
            selections.append((load.path, description))
            dropped = _dropped_share(nodal.ravel(), fixed_dofs)
            if dropped:
                warnings.append(f"{load.path}: {dropped:.1%} of the load acts on fixed DOFs "
                                "(supported nodes) and is dropped")
        if case.loads and not forces[free, c].any():  # no loads at all: a frequency problem
            raise config.error(case.path if config.load_cases else "loads",
                               "every load acts on fixed DOFs or is zero; nothing to optimize")

    spring_dofs, spring_stiffness = [], []
    for spring in config.springs:
        dofs = dofmap.dofs(resolved[f"{spring.path}.at"], spring.component)
        if np.isin(dofs, fixed_dofs).all():
            raise config.error(f"{spring.path}.at",
                               "every selected DOF is fixed; a spring there does nothing")
        spring_dofs.append(dofs)
        spring_stiffness.append(np.full(len(dofs), spring.stiffness))
    if not mesh.structured:  # a grid is one part; a file may hold floating islands
        check_parts(mesh, np.concatenate([fixed_dofs, *spring_dofs]), dofmap.n_dofs // mesh.n_nodes,
                    where=f"{config.source}: mesh.file")
    return Problem(mesh, ke, fixed_dofs, forces, material.k if heat else material.E,
                   material.kmin if heat else material.Emin,
                   case_weights=np.array([case.weight for case in cases]),
                   spring_dofs=np.concatenate(spring_dofs) if spring_dofs else np.zeros(0, int),
                   spring_stiffness=np.concatenate(spring_stiffness) if spring_stiffness else np.zeros(0),
                   passive=_passive_densities(config, mesh), components=1 if heat else None,
                   nu=material.nu)


def load_forces(config: ProblemConfig, mesh, load, where: np.ndarray) -> tuple[np.ndarray, str]:
    """((n_nodes, dim) the nodal forces of ``load``, where and how they act in words).

    where: what the load's selection resolved to: (n,) nodes, or (n, nodes per facet)
    facets for a traction, a pressure or a total force on a facet group, which act on
    the facets (consistent nodal forces, :func:`femopt.fem.loads.facet_forces`; the force
    as a uniform traction); other forces act on the nodes, in equal shares or per node.
    physics: heat gives (n_nodes, 1) heat inputs (:func:`heat_loads`).
    """
    if config.physics == "heat":
        return heat_loads(config, mesh, load, where)
    path = f"{load.path}.at"
    if not on_facets(config, mesh, load):
        nodes = where
        per_node = np.asarray(load.force, float) / (1 if load.per_node else len(nodes))
        nodal = np.zeros((mesh.n_nodes, mesh.dim))
        nodal[nodes] = per_node
        return nodal, f"{_count(len(nodes), 'node')}, force per node [{_numbers(per_node)}]"
    facets = where
    thickness = config.material.thickness
    try:
        if load.pressure is not None:
            what = f"pressure {load.pressure:g}"
            nodal = facet_forces(mesh, facets, pressure=load.pressure, thickness=thickness)
        else:
            traction = (np.asarray(load.traction, float) if load.traction else
                        np.asarray(load.force, float) / facet_measure(mesh, facets, thickness))
            what = (f"traction [{_numbers(traction)}]" if load.traction else
                    f"force [{_numbers(load.force)}] as the traction [{_numbers(traction)}]")
            nodal = facet_forces(mesh, facets, traction=traction, thickness=thickness)
    except MeshError as e:  # e.g. an interior facet in the group
        raise config.error(f"{path}.group", str(e)) from None
    return nodal, f"{_count(len(facets), 'facet')}, {_count(len(np.unique(facets)), 'node')}, {what}"


def heat_loads(config: ProblemConfig, mesh, load, where: np.ndarray) -> tuple[np.ndarray, str]:
    """((n_nodes, 1) the nodal heat inputs (power units) of a physics: heat ``load``, and
    where and how it acts in words): heat on the selected nodes (a total in equal shares,
    or per node), a flux on the facets of a group, or a heat source in the cells whose
    centers lie in ``at`` (all cells without it), both integrated consistently with the
    shape functions (:func:`femopt.fem.loads.facet_flux`, :func:`femopt.fem.loads.source_heat`).
    where: the nodes, facets or cells the load's selection resolved to."""
    path, thickness = f"{load.path}.at", config.material.thickness
    if load.source is not None:
        cells = where
        nodal = source_heat(mesh, cells, load.source, thickness)
        return nodal[:, None], f"{_count(len(cells), 'cell')}, heat source {load.source:g} per unit volume"
    if load.traction:
        facets = where
        try:
            nodal = facet_flux(mesh, facets, load.traction[0], thickness)
        except MeshError as e:  # e.g. an interior facet in the group
            raise config.error(f"{path}.group", str(e)) from None
        return nodal[:, None], (f"{_count(len(facets), 'facet')}, {_count(len(np.unique(facets)), 'node')}, "
                                f"flux {load.traction[0]:g} per unit area")
    nodes = where
    per_node = load.force[0] / (1 if load.per_node else len(nodes))
    nodal = np.zeros((mesh.n_nodes, 1))
    nodal[nodes] = per_node
    return nodal, f"{_count(len(nodes), 'node')}, heat per node {per_node:g}"


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _dropped_share(values: np.ndarray, fixed_dofs: np.ndarray) -> float:
    """The share of |force| (summed over components) that lands on fixed DOFs. values:
    (n_dofs,) by DOF; fixed_dofs: sorted and unique (so the sum runs in the same order
    as over a mask of all DOFs)."""
    total = np.abs(values).sum()
    return float(np.abs(values[fixed_dofs]).sum() / total) if total else 0.0


def _passive_densities(config: ProblemConfig, mesh) -> np.ndarray | None:
    """(n_elements,) 1 in solid regions, 0 in void ones, NaN elsewhere (later regions win
    where they overlap); None without passive regions. Group names are checked with the
    other selections (:func:`femopt.build.selections.structure_selections`)."""
    regions = config.design.passive
    if not regions:
        return None
    fixed = np.full(mesh.n_elements, np.nan)
    for region in regions:
        options = {key: value.ranges if isinstance(value, Selection) else value
                   for key, value in region.options.items()}
        inside = region_mask(mesh, region.shape, **options)
        if not inside.any():
            raise config.error(region.path, f"the {region.shape} contains no element center")
        fixed[inside] = 1.0 if region.type == "solid" else 0.0
    if not np.isnan(fixed).any():
        raise config.error("design.passive", "every element is passive; nothing is left to design")
    volumes = mesh.element_volumes
    solid = float(volumes[fixed == 1.0].sum() / volumes.sum())
    for constraint in config.constraint_list:
        if constraint.type == "volume" and solid > constraint.limit:
            limit = ("design.volume_fraction" if not config.constraints
                     else f"the volume limit of {constraint.path}")
            raise config.error("design.passive", f"the passive solids alone fill {solid:.4g} of the "
                               f"volume, more than {limit} ({constraint.limit:g}); no design can "
                               "satisfy it")
    return fixed
