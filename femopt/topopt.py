"""The optimization loop: an objective and constraints of u(ρ(x)), minimized by an optimizer.

One evaluation, top to bottom, with the chain rule written out (:class:`Evaluator`):

    x ─filter→ ρ ─SIMP→ E ─assemble→ K ─factorize, solve→ u ─→ L(u, ρ)
    Kᵀλ = ∂L/∂u  →  dL/dE_e = −λ_eᵀ K_e u_e  →  dL/dρ  →  dL/dx  →  optimizer step
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from femopt.assembly import element_energy_pullback
from femopt.assembly import Assembler
from femopt.design import SIMP, make_filter
from femopt.objectives import Compliance, State, Volume
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


@dataclass(frozen=True)
class Evaluation:
    """Responses at one design and their gradients with respect to the design variables x.

    constraints: (m,) values g_i = L_i / limit_i − 1, feasible when ≤ 0;
    constraint_gradients: (m, n). rho: (n,), u: (n_dofs, n_cases) at this design.
    """

    objective: float
    gradient: np.ndarray
    constraints: np.ndarray
    constraint_gradients: np.ndarray
    rho: np.ndarray
    u: np.ndarray
    responses: dict[str, float]


class Evaluator:
    """Maps design variables x to objective, constraints and their gradients.

    problem: the discretized structure; design: :class:`femopt.config.DesignConfig`
    (filter, penalty); solver: a fresh solver from :func:`femopt.solvers.make_solver`;
    objective: a response of :mod:`femopt.objectives`; constraints: list of
    (response, limit) pairs meaning response ≤ limit (limit > 0).
    """

    def __init__(self, problem: Problem, design, solver, objective=None, constraints=None,
                 timer: PhaseTimer | None = None):
        mesh = problem.mesh
        self.problem = problem
        self.solver = solver
        self.objective = objective or Compliance()
        self.constraints = constraints if constraints is not None else [(Volume(), design.volume_fraction)]
        self.timer = timer or PhaseTimer()
        self.free = problem.free_dofs
        self.assembler = Assembler(mesh.element_dofs, problem.element_matrix, self.free, mesh.n_dofs)
        self.filter = make_filter(design.filter.type, mesh, design.filter.radius)
        self.material = SIMP(E0=problem.E, Emin=problem.Emin, penalty=design.penalty)
        with self.timer("analysis"):  # symbolic factorization of the fixed pattern, once
            solver.analyze(self.assembler.matrix(np.ones(mesh.n_elements)))

    def __call__(self, x: np.ndarray, smooth: bool = True) -> Evaluation:
        """Evaluate at x (n,). ``smooth=False`` skips Sigmund's sensitivity-filter heuristic,
        giving the exact gradient (for gradient checks)."""
        timer, mesh, problem = self.timer, self.problem.mesh, self.problem
        with timer("filter"):
            rho = self.filter.apply(x)
        with timer("assembly"):
            K = self.assembler.matrix(self.material.apply(rho))
        with timer("factorization"):
            self.solver.factorize(K)
        with timer("solve"):  # all load cases as one block right-hand side
            u_free = self.solver.solve(problem.forces[self.free]).reshape(len(self.free), -1)
            u = self.assembler.full_vector(u_free, mesh.n_dofs)
        state = State(rho=rho, u=u, forces=problem.forces)

        responses, values, gradients = {}, [], []
        for response in [self.objective] + [r for r, _ in self.constraints]:
            value, rho_bar = self._value_and_gradient(response, state)
            with timer("filter"):
                x_bar = self.filter.vjp(rho_bar)
                if smooth and response is self.objective:
                    x_bar = self.filter.smooth_gradient(x, x_bar)
            responses[response.name] = value
            values.append(value)
            gradients.append(x_bar)
        limits = np.array([limit for _, limit in self.constraints])
        return Evaluation(
            objective=values[0], gradient=gradients[0],
            constraints=np.array(values[1:]) / limits - 1.0,
            constraint_gradients=np.array(gradients[1:]).reshape(len(limits), -1) / limits[:, None],
            rho=rho, u=u, responses=responses)

    def _value_and_gradient(self, response, state: State):
        """(value, dL/dρ (n,)): partials plus the adjoint term through K(E(ρ))."""
        timer = self.timer
        with timer("sensitivity"):
            value, u_bar, rho_bar = response.evaluate(state)
            rho_bar = np.zeros_like(state.rho) if rho_bar is None else rho_bar
        if u_bar is None:
            return value, rho_bar
        if hasattr(response, "adjoint"):
            lam = response.adjoint(state)  # self-adjoint: no extra solve
        else:
            with timer("solve"):  # Kᵀλ = ∂L/∂u with the factor in hand
                lam_free = self.solver.solve_transpose(u_bar[self.free]).reshape(len(self.free), -1)
                lam = self.assembler.full_vector(lam_free, self.problem.mesh.n_dofs)
        with timer("sensitivity"):
            E_bar = element_energy_pullback(self.problem.mesh.element_dofs,
                                            self.problem.element_matrix, lam, state.u)
            return value, rho_bar + self.material.vjp(state.rho, E_bar)


def optimize(problem: Problem, design, optimizer_config, solver, callback=None,
             objective=None, constraints=None) -> Result:
    """Minimize ``objective`` (default: compliance) subject to ``constraints`` (default:
    the volume fraction of ``design``) from the uniform design x = volume fraction.

    optimizer_config: :class:`femopt.config.OptimizerConfig`. ``callback(record)``
    runs after each iteration and may raise StopIteration to end the run early.
    Stops when max |Δx| < optimizer_config.tolerance.
    """
    timer = PhaseTimer()
    start = time.perf_counter()
    evaluate = Evaluator(problem, design, solver, objective, constraints, timer)
    optimizer = OPTIMIZERS[optimizer_config.type](0.0, 1.0, move=optimizer_config.move)
    x = np.full(problem.mesh.n_elements, design.volume_fraction)
    history, converged = [], False
    for iteration in range(1, optimizer_config.max_iterations + 1):
        iteration_start = time.perf_counter()
        ev = evaluate(x)
        with timer("update"):
            x_new = optimizer.step(x, ev.objective, ev.gradient, ev.constraints, ev.constraint_gradients)
        change = float(np.max(np.abs(x_new - x)))
        record = IterationRecord(iteration, ev.objective, float(ev.rho.mean()), change,
                                 time.perf_counter() - iteration_start)
        history.append(record)
        stop = converged = change < optimizer_config.tolerance
        if callback is not None:
            try:
                callback(record)
            except StopIteration:
                stop = True
        if stop:
            break
        x = x_new

    return Result(x=x, rho=ev.rho, u=ev.u, objective=ev.objective, volume=float(ev.rho.mean()),
                  iterations=len(history), converged=converged, history=history,
                  timings={phase: timer.totals[phase] for phase in PHASES},
                  wall_time=time.perf_counter() - start, solver=solver.name,
                  factorizations=solver.n_factorizations)
