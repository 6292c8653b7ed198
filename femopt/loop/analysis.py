"""One evaluation at a given design, without optimizing (``femopt analyze``,
:func:`femopt.api.analyze`): the design to evaluate, and its :class:`Result`.

The design is the problem's starting design (the uniform ``volume_fraction``, passive
regions fixed) or the ``x`` of an earlier result.npz of the same mesh
(:func:`read_design`). The evaluation runs exactly as an optimization iteration would
(filter, projection, interpolation, solve, responses, eigenvalues); its Result has status
"analyzed" and no iterations.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from femopt.design import DesignSpace
from femopt.errors import FemoptError
from femopt.loop.driver import IterationRecord, Result
from femopt.loop.evaluator import PHASES


def evaluate_once(evaluator, x: np.ndarray, parameters: dict, warnings=()) -> Result:
    """The :class:`Result` of one evaluation of ``evaluator`` (an Evaluator, or one that
    wraps it) at its variables x (n_variables,), with the continuation ``parameters``
    (β, penalty) set first. warnings: the model's, carried into the Result."""
    timer = evaluator.timer
    start = time.perf_counter()
    evaluator.set_parameters(**parameters)
    evaluator.start_iteration()
    ev = evaluator(x)
    seconds = time.perf_counter() - start
    volume = evaluator.volume(ev.rho)
    solver = evaluator.solver
    return Result(x=evaluator.space.embed(x), rho=ev.rho, u=ev.u, objective=ev.objective, volume=volume,
                  iterations=0, status="analyzed", history=[IterationRecord(0, ev.objective, volume, 0.0, seconds)],
                  timings={phase: timer.totals[phase] for phase in PHASES}, wall_time=seconds,
                  solver=solver.name, factorizations=solver.n_factorizations, parameters=dict(parameters),
                  responses=dict(ev.responses), fields=dict(ev.fields), warnings=tuple(warnings))


def read_design(path: str | Path, n_elements: int) -> np.ndarray:
    """(n_elements,) the design ``x`` of a result.npz (passive elements included); a
    FemoptError naming the file when it is unreadable, has no x, or is of another mesh."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise FemoptError(f"--design: {path} holds no design 'x' (a femopt result.npz has one)")
            x = np.asarray(data["x"], float).ravel()
    except FemoptError:
        raise
    except (OSError, ValueError) as exc:
        raise FemoptError(f"--design: cannot read {path}: {exc}") from None
    if len(x) != n_elements:
        raise FemoptError(f"--design: {path} holds a design of {len(x)} elements; this problem's mesh has "
                          f"{n_elements}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise FemoptError(f"--design: {path}: the design must lie in [0, 1]")
    return x


def design_variables(passive: np.ndarray, x0: np.ndarray, x_full: np.ndarray, linking=None) -> np.ndarray:
    """The optimizer's variables of the full design x_full (n_elements,): its designable
    entries (``passive``: the problem's passive densities), their group means with a
    ``linking`` (:class:`femopt.design.linking.Linking`: symmetry, extrusion), and a bound
    formulation's extra variables at their starting values (the tail of x0, the starting
    variables)."""
    x = DesignSpace(passive, len(x_full)).restrict(x_full)
    if linking is not None:
        x = linking.reduce(x)
    return np.concatenate([x, np.asarray(x0)[len(x):]])
