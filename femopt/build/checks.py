"""Checks of a problem before its run: the memory it will need (from counts alone, before
anything large is allocated) and warnings about a design set-up that is allowed but
probably not meant."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from femopt.build.structure import _count, build_mesh
from femopt.config import ProblemConfig
from femopt.fem.problem import Problem
from femopt.solvers import cholmod_available, memory
from femopt.solvers.memory import MemoryEstimate


def merged_nodes_notice(mesh) -> str | None:
    """The line saying how many coincident nodes the mesh file's reader merged, or None."""
    if not mesh.merged_nodes:
        return None
    return (f"mesh.file: merged {_count(mesh.merged_nodes, 'node')} into the nodes at the same place "
            f"(an unwelded seam?); the mesh has {_count(mesh.n_nodes, 'node')}")


def memory_estimate(config: ProblemConfig, available: float | None = None) -> MemoryEstimate:
    """The estimated peak memory of ``config``'s run, from counts alone (nothing large is
    allocated), with the solver it will use: ``auto``'s choice for ``available`` bytes
    (default: what the machine has available now)."""
    mesh = build_mesh(config)
    counts = (mesh.dim, mesh.n_elements, mesh.n_nodes, mesh.cell_type.n_nodes)
    solver = config.solver.type
    components = 1 if config.physics == "heat" else None
    if solver == "auto":
        solver = memory.choose_solver(*counts, available, len(config.cases), structured=mesh.structured,
                                      components=components) or ("mg" if mesh.structured else "amg")
        solver = "superlu" if solver == "cholmod" and not cholmod_available() else solver
    assembled = config.solver.options.get("operator") == "assembled" if solver == "mg" else None
    return memory.estimate_memory(*counts, solver, n_cases=len(config.cases), assembled=assembled,
                                  components=components)


def check_memory(config: ProblemConfig, available: float | None = None) -> MemoryEstimate:
    """:func:`memory_estimate`, raising MemoryLimitError (one line, both figures) when it
    exceeds ``available`` bytes (default: what is available now)."""
    estimate = memory_estimate(config, available)
    memory.check_fits(estimate, available)
    return estimate


def design_warnings(config: ProblemConfig, problem: Problem) -> list[str]:
    """Warnings about the design set-up: a filter wider than the domain, void regions
    that cut every load off from the supports."""
    warnings = []
    mesh, radius = problem.mesh, config.design.filter.options.get("radius")
    lower, upper = mesh.bounds
    extent = upper - lower
    if config.design.filter.type != "none" and radius is not None and radius > extent.max():
        warnings.append(f"design.filter.radius: {radius:g} is larger than the domain "
                        f"({' × '.join(f'{e:g}' for e in extent)}); the filter averages the "
                        "whole design into a uniform grey")
    if problem.passive is not None and np.any(problem.passive == 0.0):
        load = np.abs(problem.forces).sum(axis=1)
        load[problem.fixed_dofs] = 0.0  # shares on supports act on nothing
        per_node = problem.n_components
        loaded = np.unique(np.flatnonzero(load) // per_node)
        cut = _cut_off(mesh, problem.passive != 0.0, loaded, np.unique(problem.fixed_dofs // per_node))
        if cut:
            warnings.append(f"design.passive: void regions cut {_count(cut, 'loaded node')} off "
                            "from every support; no material can carry those loads")
    return warnings


def _cut_off(mesh, usable: np.ndarray, loaded: np.ndarray, supported: np.ndarray) -> int:
    """How many ``loaded`` nodes no path of ``usable`` elements (n_elements,) joins to a
    ``supported`` node."""
    cells = mesh.element_nodes[usable]
    first = np.repeat(cells[:, :1], cells.shape[1] - 1, axis=1).ravel()
    graph = coo_matrix((np.ones(len(first)), (first, cells[:, 1:].ravel())),
                       shape=(mesh.n_nodes, mesh.n_nodes))
    _, label = connected_components(graph, directed=False)
    in_use = np.zeros(mesh.n_nodes, bool)
    in_use[cells.ravel()] = True
    carried = in_use[loaded] & np.isin(label[loaded], label[supported[in_use[supported]]])
    return int(np.count_nonzero(~carried))
