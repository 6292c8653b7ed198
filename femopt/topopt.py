"""The optimization loop: an objective and constraints of u(ρ(x)), minimized by an optimizer.

One evaluation, top to bottom, with the chain rule written out (:class:`Evaluator`):

    x ─embed (passive elements)→ ─filter→ ρ̃ ─projection→ ─fix passive→ ρ ─SIMP/RAMP→ E
      ─assemble (+ springs)→ K ─factorize, solve→ u ─→ L(u, ρ)
    Kᵀλ = ∂L/∂u  →  dL/dE_e = −λ_eᵀ K_e u_e  →  dL/dρ  →  dL/dρ̃  →  dL/dx  →  optimizer step

:func:`optimize` runs the loop, raising continuation parameters (β, penalty) in stages.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from threadpoolctl import ThreadpoolController

from femopt import adjoint
from femopt.assembly import Assembler, ElementMap
from femopt.design import Continuation, DesignSpace, IdentityFilter, IdentityProjection, SIMP
from femopt.errors import NonFiniteError
from femopt.objectives import Compliance, State, Volume
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
    parameters: dict[str, float] = field(default_factory=dict)  # continuation values used (penalty, beta)


STATUS_MESSAGES = {
    "converged": "converged",
    "iteration_limit": "stopped at the iteration limit",
    "stopped": "stopped by the callback",
}


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`optimize` (like scipy.optimize's OptimizeResult); x, rho and u
    all belong to the last evaluated design.

    x, rho: (n_elements,) design variables (passive elements at their fixed density) and
    physical densities.
    u: (n_dofs, n_cases) displacements.
    status: "converged", "iteration_limit" or "stopped" (a callback raised StopIteration);
    message: the same for people.
    responses: the value of every response by its place in the problem: "objective",
    "constraints[0]", …
    timings: total seconds per phase (see PHASES).
    """

    x: np.ndarray
    rho: np.ndarray
    u: np.ndarray
    objective: float
    volume: float
    iterations: int
    status: str
    history: list[IterationRecord]
    timings: dict[str, float]
    wall_time: float
    solver: str
    factorizations: int = field(default=0)
    parameters: dict[str, float] = field(default_factory=dict)  # continuation values of the last evaluation
    responses: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # things the user should know about the problem or the result
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # more (n_elements,) fields for result.npz

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def message(self) -> str:
        return STATUS_MESSAGES[self.status]


@dataclass
class LoopState:
    """The optimization loop between iterations (what a checkpoint holds): ``iteration``
    iterations are done and ``x`` (n_variables,) is the design the next one evaluates.

    history: the IterationRecords as dicts. optimizer, continuation, solver: the
    :func:`capture` d states of those objects. elapsed: seconds of optimization so far;
    timings: seconds per phase so far.
    """

    iteration: int
    x: np.ndarray
    history: list[dict] = field(default_factory=list)
    optimizer: dict = field(default_factory=dict)
    continuation: dict = field(default_factory=dict)
    solver: dict = field(default_factory=dict)
    elapsed: float = 0.0
    timings: dict = field(default_factory=dict)
    evaluator: dict = field(default_factory=dict)  # the evaluator's STATE, if it has one (robust)


def capture(obj) -> dict:
    """The attributes ``obj`` names in its ``STATE`` tuple: what changes during a run."""
    return {name: getattr(obj, name) for name in getattr(obj, "STATE", ())}


def restore(obj, state: dict) -> None:
    """Set the attributes of :func:`capture` back."""
    for name, value in state.items():
        setattr(obj, name, value)


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
class Constraint:
    """response ≤ limit (limit > 0); label: its place in the problem, e.g. "constraints[0]"."""

    response: object
    limit: float
    label: str = "constraint"


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
    responses: dict[str, float]   # every value by label: "objective", "constraints[0]", …
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # more element fields to save (robust)


class Evaluator:
    """Maps design variables x to objective, constraints and their gradients.

    problem: the discretized structure; solver: a fresh solver of :mod:`femopt.solvers`
    (its symbolic analysis runs here, once); filter, projection, material: the design
    stages of :mod:`femopt.design` (default: none, none, SIMP with the problem's moduli);
    objective: a response of :mod:`femopt.objectives` (default: compliance);
    constraints: :class:`Constraint` s, each response ≤ limit.

    The design variables x are the densities of the designable elements only
    (``n_variables`` of them; passive elements are not variables). :meth:`set_parameters`
    moves the continuation parameters (β, penalty).
    """

    def __init__(self, problem: Problem, solver, *, filter=None, projection=None, material=None,
                 objective=None, constraints=(), timer: PhaseTimer | None = None):
        mesh = problem.mesh
        self.problem = problem
        self.solver = solver
        self.filter = filter or IdentityFilter()
        self.projection = projection or IdentityProjection()
        self.material = material or SIMP(E0=problem.E, Emin=problem.Emin)
        self.objective = objective or Compliance(problem.case_weights)
        self.constraints = list(constraints)
        self.timer = timer or PhaseTimer()
        self.free = problem.free_dofs
        dofmap = problem.dofmap
        self.n_dofs = dofmap.n_dofs
        # A solver that applies K from the element scales itself (mg, matrix-free) needs no
        # assembled K: no pattern, no scatter (gigabytes and a minute at 10⁶ elements).
        self._matrix_free = not getattr(solver, "needs_matrix", True)
        if self._matrix_free:  # with the solver's own sensitivity kernel (mg: no (n_el, 24) gathers)
            self.assembler = ElementMap(dofmap.element_dofs, problem.element_matrix, self.free, self.n_dofs,
                                        energy=getattr(solver, "element_energy", None))
        else:
            self.assembler = Assembler(dofmap.element_dofs, problem.element_matrix, self.free, self.n_dofs)
        self.space = DesignSpace(problem.passive, mesh.n_elements)
        self._volume = Volume(None if mesh.structured else mesh.element_volumes)
        # Springs sit on the diagonal of the reduced K, which is the first stored entry of its
        # column (lower triangle, rows sorted); only the free ones act.
        free_position = np.full(self.n_dofs, -1)
        free_position[self.free] = np.arange(len(self.free))
        springs = free_position[problem.spring_dofs]
        self._spring_stiffness = problem.spring_stiffness[springs >= 0]
        if self._matrix_free:  # the springs as K's diagonal beyond the elements (n_free,)
            self._spring_diagonal = np.zeros(len(self.free))
            np.add.at(self._spring_diagonal, springs[springs >= 0], self._spring_stiffness)
        else:
            self._spring_entries = self.assembler.indptr[springs[springs >= 0]]
            assert np.array_equal(self.assembler.indices[self._spring_entries], springs[springs >= 0])
        self._last = None  # (key, Evaluation) of the latest call: see __call__
        self._renormalize = False  # see start_iteration
        with self.timer("analysis"):  # symbolic factorization of the fixed pattern, once
            solver.analyze(None if self._matrix_free else self.assembler.matrix(np.ones(mesh.n_elements)))

    def volume(self, rho: np.ndarray) -> float:
        """The volume fraction Σ v_e ρ_e / Σ v_e of densities rho (n_elements,)."""
        return self._volume.evaluate(State(rho, None, None))[0]

    @property
    def n_variables(self) -> int:
        """Number of design variables: the designable (non-passive) elements."""
        return self.space.n_variables

    def set_parameters(self, beta: float | None = None, penalty: float | None = None,
                       eta: float | None = None) -> None:
        """Set the projection sharpness β and the interpolation penalty (continuation), or the
        projection threshold η (the robust formulation's realizations, :mod:`femopt.robust`)."""
        if beta is not None:
            self.projection = replace(self.projection, beta=beta)
        if eta is not None:
            self.projection = replace(self.projection, eta=eta)
        if penalty is not None:
            self.material = replace(self.material, penalty=penalty)
        self._last = None

    def start_iteration(self) -> None:
        """Mark the next call as an optimizer iteration's own evaluation: responses with a
        ``renormalize(state)`` method (the stress p-norm's adaptive normalization,
        :mod:`femopt.stress`) update it there from that design's analysis, before they are
        evaluated. Every other call — line searches, finite differences — leaves it fixed, so
        the responses it gives are smooth functions of x with exact gradients. Without such
        responses nothing changes (a line search's last evaluation still serves the next
        iteration)."""
        responses = [self.objective] + [c.response for c in self.constraints]
        if any(hasattr(response, "renormalize") for response in responses):
            self._renormalize = True
            self._last = None

    def stiffness(self, rho: np.ndarray):
        """Lower triangle of the reduced K(ρ) (CSC): Σ_e E_e(ρ_e) K_e plus the springs; None
        when the solver applies K itself (``needs_matrix`` False)."""
        if self._matrix_free:
            return None
        K = self.assembler.matrix(self.material.apply(rho))
        np.add.at(K.data, self._spring_entries, self._spring_stiffness)  # constant: ∂K/∂ρ ignores it
        return K

    def densities(self, x: np.ndarray):
        """(x_full, ρ̃, η, ρ): the element field of x (n_variables,), its filtered and the
        physical densities (n_elements,), and the projection threshold η (None without
        projection). Passive densities are set after filter and projection, exactly."""
        x_full = self.space.embed(x)
        rho_filtered = self.filter.apply(x_full)
        eta = self.projection.threshold(rho_filtered)
        rho = self.space.fix(self.projection.apply(rho_filtered, eta))
        return x_full, rho_filtered, eta, rho

    def __call__(self, x: np.ndarray, smooth: bool = True) -> Evaluation:
        """Evaluate at x (n_variables,). ``smooth=False`` skips Sigmund's sensitivity-filter
        heuristic, giving the exact gradient (for gradient checks)."""
        # A line search (L-BFGS-B) has often just evaluated the design the loop asks for next.
        key = (smooth, np.asarray(x, float).tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        timer, problem = self.timer, self.problem
        with timer("filter"):
            x_full, rho_filtered, eta, rho = self.densities(x)
        with timer("assembly"):
            K = self.stiffness(rho)
        with timer("factorization"):  # mg builds its coarse operators from the element scales
            if self._matrix_free:
                self.solver.factorize(None, element_scales=self.material.apply(rho),
                                      extra_diagonal=self._spring_diagonal)
            elif getattr(self.solver, "uses_element_scales", False):
                self.solver.factorize(K, element_scales=self.material.apply(rho))
            else:
                self.solver.factorize(K)
        with timer("solve"):  # all load cases as one block right-hand side
            u_free = self.solver.solve(problem.forces[self.free]).reshape(len(self.free), -1)
            u = self.assembler.full_vector(u_free, self.n_dofs)
        state = State(rho=rho, u=u, forces=problem.forces)

        responses, values, gradients = {}, [], []
        labelled = [("objective", self.objective)] + [(c.label, c.response) for c in self.constraints]
        if self._renormalize:
            self._renormalize = False
            for _, response in labelled:
                if hasattr(response, "renormalize"):
                    response.renormalize(state)
        for label, response in labelled:
            value, rho_bar = self._value_and_gradient(response, state)
            with timer("filter"):  # back through the same chain, in reverse
                rho_bar = self.space.zero_fixed(rho_bar)  # passive densities are constants
                x_bar = self.filter.vjp(self.projection.vjp(rho_filtered, eta, rho_bar))
                if smooth and response is self.objective:
                    x_bar = self.filter.smooth_gradient(x_full, x_bar)
                x_bar = self.space.restrict(x_bar)
            responses[label] = value
            values.append(value)
            gradients.append(x_bar)
        limits = np.array([c.limit for c in self.constraints])
        evaluation = Evaluation(
            objective=values[0], gradient=gradients[0],
            constraints=np.array(values[1:]) / limits - 1.0,
            constraint_gradients=np.array(gradients[1:]).reshape(len(limits), len(gradients[0])) / limits[:, None],
            rho=rho, u=u, responses=responses)
        self._last = (key, evaluation)
        return evaluation

    def as_tuple(self, x: np.ndarray):
        """(objective, gradient, constraints, constraint_gradients) at x: what
        :meth:`femopt.optimizers.Optimizer.attach` expects."""
        ev = self(x)
        return ev.objective, ev.gradient, ev.constraints, ev.constraint_gradients

    def _value_and_gradient(self, response, state: State):
        """(value, dL/dρ (n,)): the explicit partials plus the adjoint term through K(E(ρ)),
        by :mod:`femopt.adjoint`: Kᵀλ = ∂L/∂u with the factor in hand (no solve for
        self-adjoint responses), then dL/dE_e = −λ_eᵀ K_e u_e."""
        timer = self.timer
        with timer("sensitivity"):
            value, u_bar, rho_bar = response.evaluate(state)
            rho_bar = np.zeros_like(state.rho) if rho_bar is None else rho_bar
        if u_bar is None:
            return value, rho_bar
        if hasattr(response, "adjoint"):
            lam = response.adjoint(state)  # self-adjoint: no extra solve
        else:
            with timer("solve"):
                lam = adjoint.adjoint_solution(self.assembler, self.solver, u_bar)
        with timer("sensitivity"):
            E_bar = adjoint.stiffness_pullback(self.assembler, lam, state.u)
            return value, rho_bar + self.material.vjp(state.rho, E_bar)


def optimize(evaluator: Evaluator, optimizer, x0: np.ndarray, *, max_iterations: int = 1000,
             tolerance: float = 0.01, continuation: Continuation | None = None,
             callback=None, checkpoint=None, resume: LoopState | None = None) -> Result:
    """Minimize the evaluator's objective subject to its constraints, from x0 (n_variables,).

    optimizer: an :class:`femopt.optimizers.Optimizer` on [0, 1]. continuation: the
    schedules of the evaluator's parameters (β, penalty), advanced every iteration.
    ``callback(record)`` runs after each iteration with its :class:`IterationRecord` and
    may raise StopIteration to end the run early (status "stopped").
    checkpoint: an object whose ``after_iteration(iteration, state, final)`` is called after
    each iteration that does not converge or stop, ``state()`` giving the :class:`LoopState`
    and ``final`` saying it is the last (:class:`femopt.output.checkpoint.Checkpointer`
    writes it to disk).
    resume: a LoopState to go on from instead of x0 (from a checkpoint).
    An evaluator with ``after_iteration(iteration, evaluation)`` hears of each iteration's
    evaluation (the robust formulation updates its volume limit there); its ``STATE``
    goes into checkpoints.

    Stops when max |Δx| < tolerance — but only once every continuation parameter has
    reached its end value: before that, convergence ends the current continuation stage
    instead, so a schedule always runs to its end.
    """
    timer = evaluator.timer
    continuation = continuation or Continuation({})
    x, history, elapsed = np.asarray(x0, float), [], 0.0
    if resume is not None:
        x, elapsed = np.asarray(resume.x, float), resume.elapsed
        history = [IterationRecord(**record) for record in resume.history]
        restore(optimizer, resume.optimizer)
        restore(continuation, resume.continuation)
        restore(evaluator.solver, resume.solver)
        restore(evaluator, resume.evaluator)
        timer.totals.update(resume.timings)
    start = time.perf_counter() - elapsed
    evaluator.set_parameters(**continuation.values)
    optimizer.attach(evaluator.as_tuple)  # for optimizers whose line search evaluates (L-BFGS-B)

    def loop_state(x_next):
        return LoopState(len(history), x_next, [asdict(h) for h in history], capture(optimizer),
                         capture(continuation), capture(evaluator.solver),
                         time.perf_counter() - start, dict(timer.totals), capture(evaluator))

    # The optimizers' small products run on numpy's and scipy's own OpenBLAS; for the whole run
    # it gets one thread, as its idle threads would spin and starve CHOLMOD's BLAS of the cores
    # (2 cores, 150×50 MMA: steps 30× and factorizations 3× slower otherwise; limiting it only
    # around each step is not enough, since lifting the limit wakes the threads again).
    bundled_blas = ThreadpoolController().select(prefix="libscipy_openblas")
    status, ev, parameters = "iteration_limit", None, continuation.values
    with bundled_blas.limit(limits=1):
        for iteration in range(len(history) + 1, max_iterations + 1):
            iteration_start = time.perf_counter()
            evaluator.start_iteration()
            ev, parameters = evaluator(x), continuation.values
            _check_finite(ev, iteration)
            with timer("update"):
                x_new = optimizer.step(x, ev.objective, ev.gradient, ev.constraints, ev.constraint_gradients)
            change = float(np.max(np.abs(x_new - x)))
            if hasattr(evaluator, "after_iteration"):  # e.g. the robust volume limit's periodic update
                evaluator.after_iteration(iteration, ev)
            record = IterationRecord(iteration, ev.objective, evaluator.volume(ev.rho), change,
                                     time.perf_counter() - iteration_start, parameters)
            history.append(record)
            settled = change < tolerance
            converged, stopped = settled and continuation.finished, False
            if continuation.advance(settled):  # a stage ends after `every` iterations or when settled
                evaluator.set_parameters(**continuation.values)
            if callback is not None:
                try:
                    callback(record)
                except StopIteration:
                    stopped = True
            if converged or stopped:
                status = "converged" if converged else "stopped"
                break
            x = x_new
            if checkpoint is not None:  # always at the iteration limit: a later run may go on
                checkpoint.after_iteration(iteration, lambda: loop_state(x), final=iteration == max_iterations)
        if ev is None:  # resumed at the iteration limit: evaluate the design it stopped at
            evaluator.start_iteration()
            ev = evaluator(x)

    solver = evaluator.solver
    return Result(x=evaluator.space.embed(x), rho=ev.rho, u=ev.u, objective=ev.objective,
                  volume=evaluator.volume(ev.rho), iterations=len(history), status=status,
                  history=history, timings={phase: timer.totals[phase] for phase in PHASES},
                  wall_time=time.perf_counter() - start, solver=solver.name,
                  factorizations=solver.n_factorizations, parameters=parameters,
                  responses=dict(ev.responses), fields=dict(ev.fields))


def _check_finite(ev: Evaluation, iteration: int) -> None:
    """Stop with a NonFiniteError when a response or its gradient is NaN or infinite: an
    optimizer fed with one would report nonsense as converged."""
    labels = list(ev.responses)
    values = np.concatenate([[ev.objective], ev.constraints])
    for label, value, gradient in zip(labels, values, [ev.gradient, *ev.constraint_gradients]):
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            what = f"is {value}" if not np.isfinite(value) else "has a gradient that is not finite"
            raise NonFiniteError(f"{label} {what} at iteration {iteration}; the run stops (check "
                                 "a python loss, the material and the loads)")
