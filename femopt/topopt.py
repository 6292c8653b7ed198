"""The optimization loop: minimum compliance subject to a volume fraction.

One iteration, top to bottom, with the chain rule written out:

    x ─filter→ ρ ─SIMP→ E ─assemble→ K ─factorize, solve→ u ─→ C = fᵀu
    dC/dE = −u_eᵀ K_e u_e  →  dC/dρ  →  dC/dx  →  optimizer step
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from femopt.adjoint import compliance_gradient
from femopt.assembly import Assembler
from femopt.design import SIMP, make_filter
from femopt.optimizers import OPTIMIZERS
from femopt.problem import Problem

PHASES = ("analysis", "filter", "assembly", "factorization", "solve", "sensitivity", "update")


@dataclass(frozen=True)
class IterationRecord:
    """What one iteration reports to callbacks and to the history file."""

    iteration: int
    objective: float
    volume: float
    change: float
    seconds: float


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`optimize`; x, rho and u all belong to the last evaluated design.

    x, rho: (n_elements,) design variables and physical densities.
    u: (n_dofs, n_cases) displacements.
    timings: total seconds per phase (see PHASES).
    """

    x: np.ndarray
    rho: np.ndarray
    u: np.ndarray
    objective: float
    volume: float
    iterations: int
    converged: bool
    history: list[IterationRecord]
    timings: dict[str, float]
    wall_time: float
    solver: str
    factorizations: int = field(default=0)


class PhaseTimer:
    """Accumulates wall-clock seconds per named phase."""

    def __init__(self):
        self.totals = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[phase] += time.perf_counter() - start


def optimize(problem: Problem, design, optimizer_config, solver, callback=None) -> Result:
    """Minimize compliance of ``problem`` with the volume fraction of ``design``.

    design: :class:`femopt.config.DesignConfig`; optimizer_config:
    :class:`femopt.config.OptimizerConfig`; solver: a fresh solver from
    :func:`femopt.solvers.make_solver`. ``callback(record)`` runs after each
    iteration and may raise StopIteration to end the run early.
    """
    mesh = problem.mesh
    n = mesh.n_elements
    free = problem.free_dofs
    assembler = Assembler(mesh.element_dofs, problem.element_matrix, free, mesh.n_dofs)
    density_filter = make_filter(design.filter.type, mesh, design.filter.radius)
    material = SIMP(E0=problem.E, Emin=problem.Emin, penalty=design.penalty)
    optimizer = OPTIMIZERS[optimizer_config.type](0.0, 1.0, move=optimizer_config.move)
    forces = problem.forces[free]
    volume_gradient_rho = np.full(n, 1.0 / n)

    timer = PhaseTimer()
    start = time.perf_counter()
    with timer("analysis"):  # symbolic factorization of the fixed pattern, once
        solver.analyze(assembler.matrix(np.ones(n)))
    x = np.full(n, design.volume_fraction)
    history, converged = [], False
    for iteration in range(1, optimizer_config.max_iterations + 1):
        iteration_start = time.perf_counter()
        with timer("filter"):
            rho = density_filter.apply(x)
        with timer("assembly"):
            K = assembler.matrix(material.apply(rho))
        with timer("factorization"):
            solver.factorize(K)
        with timer("solve"):
            u = assembler.full_vector(solver.solve(forces).reshape(len(free), -1), mesh.n_dofs)
        with timer("sensitivity"):
            compliance = float(np.sum(problem.forces * u))
            compliance_rho = material.vjp(rho, compliance_gradient(
                mesh.element_dofs, problem.element_matrix, u))
            volume = float(rho.mean())
        with timer("filter"):
            compliance_x = density_filter.smooth_gradient(x, density_filter.vjp(compliance_rho))
            volume_x = density_filter.vjp(volume_gradient_rho)
        with timer("update"):
            x_new = optimizer.step(x, compliance, compliance_x,
                                   np.array([volume - design.volume_fraction]), volume_x[None, :])
        change = float(np.max(np.abs(x_new - x)))
        record = IterationRecord(iteration, compliance, volume, change,
                                 time.perf_counter() - iteration_start)
        history.append(record)
        stop = change < optimizer_config.tolerance
        if callback is not None:
            try:
                callback(record)
            except StopIteration:
                stop = True
        if stop:
            converged = change < optimizer_config.tolerance
            break
        x = x_new

    return Result(x=x, rho=rho, u=u, objective=compliance, volume=volume,
                  iterations=len(history), converged=converged, history=history,
                  timings={phase: timer.totals[phase] for phase in PHASES},
                  wall_time=time.perf_counter() - start, solver=solver.name,
                  factorizations=solver.n_factorizations)
