"""Robust design (Wang, Lazarov & Sigmund 2011): the worst of three projected realizations.

The filtered densities are projected with three thresholds (eroded η + Δη, blueprint η,
dilated η − Δη; :mod:`femopt.design.robust`), and the bound formulation

    minimize z  over (x, z)
    subject to  c_e(x) ≤ z,  c_b(x) ≤ z,  c_d(x) ≤ z,  V_d(x) ≤ V_d*

makes the worst compliance as small as it can be. :class:`RobustEvaluator` presents it
to the optimizer (MMA) with n + 1 variables: the design x and t in [0, 1], where
z = scale · SPAN · t. ``scale`` is the worst compliance of the first evaluated design,
so the constraints c_i / scale − SPAN · t are of order one; SPAN = 10 lets z grow to ten
times that (compliance falls from the uniform start in every example; were the bound to
need more, the constraints would show as violated in the responses).

Volume: constraining the dilated design (the one with the most material) with a limit
V_d* rescaled so that the blueprint keeps the requested volume V*: V_d* = V* · V_d / V_b
at the current design, set at the first evaluation and updated every ``update_every``
iterations (default 20; Wang et al. update it periodically), between iterations, never
within one, so that each evaluation is a smooth function of x (gradient checks pass).
The blueprint's volume therefore tracks V* with a lag; its final value is in the responses.

Each evaluation runs the plain :class:`femopt.loop.evaluator.Evaluator` three times with its
threshold moved (one factorization each: the same solver, whose symbolic analysis is
shared, and all load cases in one block solve); compliance is self-adjoint, so no
adjoint solves are needed. Every output describes the blueprint; the eroded and dilated
densities come along as ``fields`` (result.npz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femopt.design.robust import RobustThresholds, length_scales
from femopt.loop.evaluator import Evaluation, Evaluator

SPAN = 10.0       # z / scale = SPAN · t with t in [0, 1]
REALIZATIONS = ("eroded", "blueprint", "dilated")


@dataclass(frozen=True)
class RobustSettings:
    """What :class:`RobustEvaluator` takes besides the plain evaluator (from build)."""

    thresholds: RobustThresholds
    update_every: int = 20


def initial_design(x0: np.ndarray) -> np.ndarray:
    """(n + 1,) the design x0 (n,) with the bound's t at its start: z = scale, the worst
    compliance of the first evaluation."""
    return np.append(np.asarray(x0, float), 1.0 / SPAN)


def length_scale_notice(filter_type: str, radius: float | None, thresholds: RobustThresholds,
                        dim: int) -> str:
    """One line for the user: the minimum solid and void member widths the formulation
    imposes (:func:`femopt.design.robust.length_scales`; the density filter's hat weights)."""
    eroded, eta, dilated = thresholds.all
    head = f"robust: thresholds {eroded:g} (eroded), {eta:g} (blueprint), {dilated:g} (dilated)"
    if filter_type != "density":
        return f"{head}; the minimum length scale is derived for the density filter only"
    solid, void = length_scales(radius, thresholds, dim)
    return (f"{head}; minimum member width {solid:.4g} (solid) and {void:.4g} (void) "
            f"for filter radius {radius:g}, when every blueprint member survives in the eroded "
            "and dilated designs")


class EpigraphSpace:
    """The design space of the n + 1 variables (x, t): ``embed`` drops t and embeds x."""

    def __init__(self, space):
        self.inner = space

    @property
    def n_variables(self) -> int:
        return self.inner.n_variables + 1

    def embed(self, v: np.ndarray) -> np.ndarray:
        return self.inner.embed(np.asarray(v)[:-1])


class RobustEvaluator:
    """The bound formulation over three realizations, for :func:`femopt.loop.driver.optimize`.

    evaluator: an :class:`~femopt.loop.evaluator.Evaluator` with a Heaviside projection
    (``preserve_volume`` off), compliance as its objective and one constraint, the volume
    response with limit 1 (so that its value is V − 1). thresholds: the three η.
    volume_fraction: V*, the blueprint's volume. update_every: iterations between updates
    of the dilated volume limit.

    Variables v (n_variables + 1,): the design x and the bound's t (last). Functions:
    objective z = scale·SPAN·t; constraints c_i/scale − SPAN·t (eroded, blueprint,
    dilated) and V_d/V_d* − 1.
    ``STATE``: what changes during a run (checkpoints keep it).
    """

    STATE = ("scale", "volume_limit")

    def __init__(self, evaluator: Evaluator, thresholds: RobustThresholds, volume_fraction: float,
                 update_every: int = 20):
        self.inner = evaluator
        self.thresholds = thresholds
        self.volume_fraction = float(volume_fraction)
        self.update_every = int(update_every)
        self.space = EpigraphSpace(evaluator.space)
        self.timer, self.solver = evaluator.timer, evaluator.solver
        self.scale: float | None = None          # the worst compliance at the first evaluation
        self.volume_limit: float | None = None   # V_d*
        self._last = None

    @property
    def n_variables(self) -> int:
        return self.space.n_variables

    @property
    def labels(self) -> list[str]:
        """Names of [objective, constraint 0, …] for gradient checks and messages."""
        return (["objective (bound z)"] + [f"compliance {name} <= z" for name in REALIZATIONS]
                + ["volume dilated <= limit"])

    def volume(self, rho: np.ndarray) -> float:
        return self.inner.volume(rho)

    def set_parameters(self, beta: float | None = None, penalty: float | None = None) -> None:
        self.inner.set_parameters(beta=beta, penalty=penalty)
        self._last = None

    def realizations(self, x: np.ndarray, smooth: bool = True) -> list[Evaluation]:
        """The plain evaluations (eroded, blueprint, dilated) of x (n_variables,)."""
        evaluations = []
        for eta in self.thresholds.all:
            self.inner.set_parameters(eta=eta)
            evaluations.append(self.inner(x, smooth))
        return evaluations

    def __call__(self, v: np.ndarray, smooth: bool = True) -> Evaluation:
        """Evaluate at v = (x, t) (n_variables + 1,); see the class docstring."""
        v = np.asarray(v, float)
        key = (smooth, v.tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        x, t = v[:-1], float(v[-1])
        evaluations = self.realizations(x, smooth)
        eroded, blueprint, dilated = evaluations
        compliances = np.array([e.objective for e in evaluations])
        volumes = np.array([e.constraints[0] + 1.0 for e in evaluations])
        if self.scale is None:
            self.scale = float(compliances.max())
        if self.volume_limit is None:
            self.volume_limit = self._rescaled_limit(volumes)
        n = len(x)
        gradients = np.zeros((4, n + 1))
        gradients[:3, :n] = [e.gradient / self.scale for e in evaluations]
        gradients[:3, n] = -SPAN
        gradients[3, :n] = dilated.constraint_gradients[0] / self.volume_limit
        objective_gradient = np.zeros(n + 1)
        objective_gradient[n] = self.scale * SPAN
        responses = {"objective": self.scale * SPAN * t}
        responses.update({f"compliance {name}": float(c) for name, c in zip(REALIZATIONS, compliances)})
        responses["volume dilated"] = float(volumes[2])
        responses.update({f"volume {name}": float(V) for name, V in zip(REALIZATIONS[:2], volumes[:2])})
        responses["volume limit dilated"] = self.volume_limit
        evaluation = Evaluation(
            objective=self.scale * SPAN * t, gradient=objective_gradient,
            constraints=np.append(compliances / self.scale - SPAN * t, volumes[2] / self.volume_limit - 1.0),
            constraint_gradients=gradients, rho=blueprint.rho, u=blueprint.u, responses=responses,
            fields={**blueprint.fields, "rho_eroded": eroded.rho, "rho_dilated": dilated.rho})
        self._last = (key, evaluation)
        return evaluation

    def as_tuple(self, v: np.ndarray):
        ev = self(v)
        return ev.objective, ev.gradient, ev.constraints, ev.constraint_gradients

    def start_iteration(self) -> None:
        """The loop's mark before an iteration's own evaluation (:meth:`Evaluator.start_iteration`);
        the robust responses are compliances and volumes, which never renormalize."""
        self.inner.start_iteration()

    def after_iteration(self, iteration: int, evaluation: Evaluation) -> None:
        """Called by the loop after each iteration: every ``update_every`` iterations the
        dilated volume limit moves to V* · V_d / V_b of ``evaluation``'s design."""
        if iteration % self.update_every == 0:
            responses = evaluation.responses
            self.volume_limit = self._rescaled_limit(
                [responses["volume eroded"], responses["volume blueprint"], responses["volume dilated"]])
            self._last = None

    def _rescaled_limit(self, volumes) -> float:
        """V* · V_d / V_b for the volumes (eroded, blueprint, dilated)."""
        return float(self.volume_fraction * volumes[2] / volumes[1])
