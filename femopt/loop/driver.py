"""The optimization loop: minimize an :class:`~femopt.loop.evaluator.Evaluator`'s objective
subject to its constraints with an optimizer, raising continuation parameters (β, penalty)
in stages; results, per-iteration records, and the state a checkpoint holds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from femopt.design import Continuation
from femopt.errors import NonFiniteError
from femopt.loop.evaluator import PHASES, Evaluation, Evaluator


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
    "analyzed": "analyzed, not optimized",   # femopt.analyze: one evaluation at a given design
}


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`optimize` (like scipy.optimize's OptimizeResult); x, rho and u
    all belong to the last evaluated design.

    x, rho: (n_elements,) design variables (passive elements at their fixed density) and
    physical densities.
    u: (n_dofs, n_cases) the solution: displacements, or temperatures with physics: heat.
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
    # The run's Result once it has ended (converged or at its iteration limit): resuming with
    # nothing left to do gives it back as it was, not a new evaluation.
    result: Result | None = None


def capture(obj) -> dict:
    """The attributes ``obj`` names in its ``STATE`` tuple: what changes during a run."""
    return {name: getattr(obj, name) for name in getattr(obj, "STATE", ())}


def restore(obj, state: dict) -> None:
    """Set the attributes of :func:`capture` back."""
    for name, value in state.items():
        setattr(obj, name, value)


def optimize(evaluator: Evaluator, optimizer, x0: np.ndarray, *, max_iterations: int = 1000,
             tolerance: float = 0.01, continuation: Continuation | None = None,
             callback=None, checkpoint=None, resume: LoopState | None = None) -> Result:
    """Minimize the evaluator's objective subject to its constraints, from x0 (n_variables,).

    optimizer: an :class:`femopt.optimizers.Optimizer` on [0, 1]. continuation: the
    schedules of the evaluator's parameters (β, penalty), advanced every iteration.
    ``callback(record)`` runs after each iteration with its :class:`IterationRecord` and
    may raise StopIteration to end the run early (status "stopped").
    checkpoint: an object whose ``after_iteration(iteration, state, final)`` is called after
    each iteration but the last, ``state()`` giving the :class:`LoopState`, and once more with
    ``final`` True when the run has converged or reached the limit, the state then holding
    the Result (:class:`femopt.output.checkpoint.Checkpointer` writes it to disk).
    resume: a LoopState to go on from instead of x0 (from a checkpoint); one that holds the
    result of an ended run gives that result back when nothing is left to do
    (:func:`resumed_result`).
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
    if resume is not None and (finished := resumed_result(resume, max_iterations)) is not None:
        return finished
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

    def loop_state(x_next, result=None):
        return LoopState(len(history), x_next, [asdict(h) for h in history], capture(optimizer),
                         capture(continuation), capture(evaluator.solver),
                         time.perf_counter() - start, dict(timer.totals), capture(evaluator), result)

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
            ev, parameters, x_evaluated = evaluator(x), continuation.values, x
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
            x = x_new  # the design the next iteration would evaluate
            if converged or stopped:
                status = "converged" if converged else "stopped"
                break
            if checkpoint is not None and iteration < max_iterations:  # the last one: below
                checkpoint.after_iteration(iteration, lambda: loop_state(x))

    # x, rho and u of the result are those of the design last evaluated (x_evaluated), also
    # at the iteration limit, where x is already the next one.
    solver = evaluator.solver
    result = Result(x=evaluator.space.embed(x_evaluated), rho=ev.rho, u=ev.u, objective=ev.objective,
                    volume=evaluator.volume(ev.rho), iterations=len(history), status=status,
                    history=history, timings={phase: timer.totals[phase] for phase in PHASES},
                    wall_time=time.perf_counter() - start, solver=solver.name,
                    factorizations=solver.n_factorizations, parameters=parameters,
                    responses=dict(ev.responses), fields=dict(ev.fields))
    if checkpoint is not None and status != "stopped":
        # With the result: resuming a run that has ended republishes it, and a larger
        # iteration limit goes on from x (Ctrl-C while the files are written loses nothing).
        checkpoint.after_iteration(len(history), lambda: loop_state(x, result), final=True)
    return result


def resumed_result(resume: LoopState, max_iterations: int) -> Result | None:
    """The result of a run resumed from ``resume`` when it has nothing left to do with
    ``max_iterations`` (the run had converged, or stopped at exactly this limit), else None
    (go on iterating). ValueError when it has gone past the limit, or is at it without the
    result: an uninterrupted run would have ended earlier, at a design it no longer has."""
    done = resume.result
    if done is not None and resume.iteration <= max_iterations and (
            done.status == "converged" or resume.iteration == max_iterations):
        return done
    if resume.iteration >= max_iterations:
        raise ValueError(f"resume: the state is after iteration {resume.iteration}, at or past the "
                         f"iteration limit {max_iterations}, and holds no result for that limit")
    return None


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
