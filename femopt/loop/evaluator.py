"""One evaluation of an objective and constraints of u(ρ(x)), with their gradients.

Top to bottom, with the chain rule written out (:class:`Evaluator`):

    x ─link (P x: a variable per symmetry/extrusion group; optional)→ ─embed (passive)→ ─filter→
      ─average over the linked groups→ ρ̃ ─projection→ ─fix passive→ blueprint
      ─AM overhang filter (optional), fix passive→ ρ ─SIMP/RAMP→ E
      ─assemble (+ springs)→ K ─factorize, solve→ u ─→ L(u, ρ)
    Kᵀλ = ∂L/∂u  →  dL/dE_e = −λ_eᵀ K_e u_e  →  dL/dρ  →  dL/dρ̃  →  dL/dx  →  optimizer step

:func:`femopt.loop.driver.optimize` runs the loop over such evaluations.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from femopt import adjoint
from femopt.design import DesignSpace, IdentityFilter, IdentityProjection, SIMP
from femopt.design.linking import LinkedSpace
from femopt.design.overhang import IdentityOverhang
from femopt.fem.assembly import Assembler, ElementMap
from femopt.responses import Compliance, State, Volume
from femopt.fem.problem import Problem

PHASES = ("analysis", "filter", "assembly", "factorization", "solve", "sensitivity", "update")


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
    overhang: the AM filter (:mod:`femopt.design.overhang`; default none), between the
    projection and the passive elements: the analysis sees the printed design;
    linking: a :class:`femopt.design.linking.Linking` (symmetry, extrusion; default none):
    the variables are its reduced z, and the filtered densities are averaged over its groups;
    objective: a response of :mod:`femopt.responses.basic` (default: compliance);
    constraints: :class:`Constraint` s, each response ≤ limit.

    The design variables x are the densities of the designable elements only
    (``n_variables`` of them; passive elements are not variables). :meth:`set_parameters`
    moves the continuation parameters (β, penalty).
    """

    def __init__(self, problem: Problem, solver, *, filter=None, projection=None, material=None,
                 objective=None, constraints=(), timer: PhaseTimer | None = None, overhang=None,
                 linking=None):
        mesh = problem.mesh
        self.problem = problem
        self.solver = solver
        self.filter = filter or IdentityFilter()
        self.projection = projection or IdentityProjection()
        self.overhang = overhang or IdentityOverhang()
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
            self.assembler = ElementMap(lambda: dofmap.element_dofs, problem.element_matrix, self.free, self.n_dofs,
                                        energy=getattr(solver, "element_energy", None))
        else:
            self.assembler = Assembler(dofmap.element_dofs, problem.element_matrix, self.free, self.n_dofs)
        self.space = DesignSpace(problem.passive, mesh.n_elements)
        self.linking = linking
        if linking is not None:
            self.space = LinkedSpace(self.space, linking)
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
        projection threshold η (the robust formulation's realizations, :mod:`femopt.loop.robust`)."""
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
        :mod:`femopt.responses.stress`) update it there from that design's analysis, before they are
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
        """(x_full, ρ̃, η, blueprint, printed, ρ): the element field of x (n_variables,), its
        filtered densities, the projection threshold η (None without projection), the
        blueprint and printed densities (the AM filter's input and output; the same array
        without it) and the physical densities (n_elements,). Passive densities are set
        exactly after filter and projection (the AM filter prints a passive solid as a solid
        part of the blueprint) and again after the AM filter (ρ holds them exactly)."""
        x_full = self.space.embed(x)
        rho_filtered = self.filter.apply(x_full)
        if self.linking is not None:  # a filter near the boundary may break the linking: restore it
            rho_filtered = self.linking.average(rho_filtered)
        eta = self.projection.threshold(rho_filtered)
        blueprint = self.space.fix(self.projection.apply(rho_filtered, eta))
        if not self.overhang.active:
            return x_full, rho_filtered, eta, blueprint, blueprint, blueprint
        printed = self.overhang.apply(blueprint)
        return x_full, rho_filtered, eta, blueprint, printed, self.space.fix(printed)

    def __call__(self, x: np.ndarray, smooth: bool = True) -> Evaluation:
        """Evaluate at x (n_variables,). ``smooth=False`` skips Sigmund's sensitivity-filter
        heuristic, giving the exact gradient (for gradient checks)."""
        # A line search (L-BFGS-B) has often just evaluated the design the loop asks for next.
        key = (smooth, np.asarray(x, float).tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        timer, problem = self.timer, self.problem
        with timer("filter"):
            densities = self.densities(x)
        blueprint, rho = densities[3], densities[5]
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
            with timer("filter"):
                x_bar = self.pullback(densities, rho_bar, smooth and response is self.objective)
            responses[label] = value
            values.append(value)
            gradients.append(x_bar)
        limits = np.array([c.limit for c in self.constraints])
        evaluation = Evaluation(
            objective=values[0], gradient=gradients[0],
            constraints=np.array(values[1:]) / limits - 1.0,
            constraint_gradients=np.array(gradients[1:]).reshape(len(limits), len(gradients[0])) / limits[:, None],
            rho=rho, u=u, responses=responses,
            fields={"rho_blueprint": blueprint} if self.overhang.active else {})
        self._last = (key, evaluation)
        return evaluation

    def pullback(self, densities, rho_bar: np.ndarray, smooth: bool = False) -> np.ndarray:
        """(n_variables,) dL/dx of dL/dρ rho_bar (n_elements,): back through the chain of
        :meth:`densities` (its tuple ``densities`` at x), in reverse. smooth: apply the
        sensitivity filter's heuristic (the objective's gradient only)."""
        x_full, rho_filtered, eta, blueprint, printed, _ = densities
        rho_bar = self.space.zero_fixed(rho_bar)  # passive densities are constants
        if self.overhang.active:  # … before and after the AM filter
            rho_bar = self.space.zero_fixed(self.overhang.vjp(blueprint, printed, rho_bar))
        rho_bar = self.projection.vjp(rho_filtered, eta, rho_bar)
        if self.linking is not None:
            rho_bar = self.linking.average_vjp(rho_bar)
        x_bar = self.filter.vjp(rho_bar)
        if smooth:
            x_bar = self.filter.smooth_gradient(x_full, x_bar)
        return self.space.restrict(x_bar)

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
