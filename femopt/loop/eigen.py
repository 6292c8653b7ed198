"""Frequency and buckling responses in the optimization loop (:mod:`femopt.responses.eigen`).

:class:`EigenEvaluator` wraps the plain :class:`femopt.loop.evaluator.Evaluator`, which solves
K u = f and evaluates every other response (compliance, volume, …) as usual; on the factor
(or preconditioner) the solver then holds it adds the eigenpairs and their sensitivities:

    vibration   θ_j = 1/ω_j²,  dω_j²/dρ_e = φ_jᵀ(∂K − ω_j² ∂M)φ_j        (φ_j M-normalized)
    buckling    θ_j = 1/λ_j,   dθ_j/dρ_e = −φ_jᵀ ∂_ρG φ_j − θ_j φ_jᵀ ∂K φ_j + v_jᵀ ∂K u
                               K v_j = ∂(φ_jᵀ G φ_j)/∂u                      (φ_j K-normalized)

Buckling's last term is the adjoint of G's dependence on u: one solve per mode with the
factor in hand (one block solve for all modes). The sensitivities are those of simple
eigenvalues; the bound formulation keeps every mode that may become the lowest bounded.
The values θ_j are the Rayleigh quotients of the modes, summed element by element in
extended precision: products with the assembled K lose ~1e-11 (relative) to cancellation on
a slender beam, enough to spoil finite differences of its small sensitivities. LOBPCG's warm
starts are not part of a checkpoint: a resumed run starts it cold (same modes, to its
tolerance).

With an eigenvalue objective the optimizer sees one more variable (last), the bound's t in
[0, 1], on a logarithmic scale: z = scale · exp(α (t − t₀)), scale the largest θ_j of the
first evaluation, so that z spans BOUND_RANGE × scale and t₀ is z = scale. Objective z,
constraints θ_j / z − 1 ≤ 0. An eigenvalue objective improves by far more than compliance
does (1/ω² falls 10–100× from the uniform grey start), and on a linear scale the bound
would end near t = 0, where one move of MMA spans every value; on the log scale a move of
0.2 is a factor of e^(0.2 α) ≈ 6 at most, anywhere. Constraints with ``min_hz`` /
``min_factor`` are θ_j / θ* − 1 ≤ 0. Every evaluation also carries the
eigenvalues and modes at its design in ``fields`` (``eigenfrequencies_hz``,
``vibration_modes``, ``buckling_load_factors``, ``buckling_modes``), which the output
writes (summary.json, modes.png, density.vtu).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator

from femopt.errors import FemoptError
from femopt.fem.eigen import EigenOperators
from femopt.fem.elasticity import constitutive_matrix
from femopt.loop.evaluator import Evaluation, Evaluator
from femopt.loop.robust import EpigraphSpace
from femopt.responses.eigen import (Buckling, Frequency, geometric_interpolation, mass_interpolation,
                                    mass_interpolation_vjp)
from femopt.solvers import eigen


@dataclass(frozen=True)
class EigenSettings:
    """What the eigen analysis takes besides the plain evaluator (from build): the solid's
    mass per unit volume, the 2D thickness, and point masses (n_dofs,) on the diagonal."""

    density: float = 1.0
    thickness: float = 1.0
    point_masses: np.ndarray | None = None


# z / scale spans [1e-3, 10] as t runs over [0, 1]: the bound may fall 1000-fold from the
# first design's θ (ω rises √1000 ≈ 32-fold) or rise 10-fold.
BOUND_RANGE = (1e-3, 10.0)
ALPHA = float(np.log(BOUND_RANGE[1] / BOUND_RANGE[0]))
T0 = float(np.log(1.0 / BOUND_RANGE[0]) / ALPHA)


def initial_design(x0: np.ndarray) -> np.ndarray:
    """(n + 1,) x0 (n,) with the bound's t at its start t₀ (z = scale)."""
    return np.append(np.asarray(x0, float), T0)


def bound_value(scale: float, t: float) -> float:
    """z = scale · exp(α (t − t₀)): the bound on θ for the variable t."""
    return float(scale * np.exp(ALPHA * (t - T0)))


class EigenEvaluator:
    """An :class:`~femopt.loop.evaluator.Evaluator` with frequency and buckling responses, for
    :func:`femopt.loop.driver.optimize` (module docstring).

    evaluator: the plain evaluator of the other responses (its objective is the problem's,
    or a placeholder when ``objective`` is an eigenvalue response). objective: a
    :class:`Frequency` / :class:`Buckling` objective or None. constraints: (label,
    response) of the eigenvalue constraints. settings: :class:`EigenSettings`.
    labels: names of the plain evaluator's [objective, constraints …] (for messages).
    """

    STATE = ("scale",)

    def __init__(self, evaluator: Evaluator, objective=None, constraints=(), settings=EigenSettings(),
                 labels=None):
        self.inner = evaluator
        self.objective = objective
        self.eigen_constraints = list(constraints)
        self.bound = objective is not None
        self.space = EpigraphSpace(evaluator.space) if self.bound else evaluator.space
        self.timer, self.solver = evaluator.timer, evaluator.solver
        problem = evaluator.problem
        dim = problem.mesh.dim
        D = constitutive_matrix(dim, 1.0, problem.nu)
        self.assembled = getattr(self.solver, "needs_matrix", True)
        self.operators = EigenOperators(problem.mesh, problem.dofmap.element_dofs, problem.free_dofs,
                                        problem.dofmap.n_dofs, D, settings.density, settings.thickness,
                                        settings.point_masses, assembled=self.assembled)
        responses = ([objective] if self.bound else []) + [r for _, r in self.eigen_constraints]
        self.vibration_modes = max([r.modes for r in responses if isinstance(r, Frequency)], default=0)
        self.buckling_cases = {}
        for r in responses:
            if isinstance(r, Buckling):
                self.buckling_cases[r.case] = max(self.buckling_cases.get(r.case, 0), r.modes)
        self.base_labels = labels or (["objective"] + [c.label for c in evaluator.constraints])
        self.scale: float | None = None
        self._warm = {}   # LOBPCG's last blocks, by analysis
        self._last = None

    # ---------------------------------------------------------------- the optimizer's view

    @property
    def n_variables(self) -> int:
        return self.space.n_variables

    @property
    def labels(self) -> list[str]:
        """Names of [objective, constraint 0, …] for gradient checks and messages."""
        labels = ["objective (bound z)"] if self.bound else [self.base_labels[0]]
        labels += self.base_labels[1:]
        if self.bound:
            labels += [f"objective: {self._symbol(self.objective, j)} <= z" for j in range(self.objective.modes)]
        for label, response in self.eigen_constraints:
            labels += [f"{label}: {self._symbol(response, j)} <= limit" for j in range(response.modes)]
        return labels

    def volume(self, rho: np.ndarray) -> float:
        return self.inner.volume(rho)

    def set_parameters(self, **parameters) -> None:
        self.inner.set_parameters(**parameters)
        self._last = None

    def start_iteration(self) -> None:
        self.inner.start_iteration()
        self._last = None

    def as_tuple(self, v: np.ndarray):
        ev = self(v)
        return ev.objective, ev.gradient, ev.constraints, ev.constraint_gradients

    def __call__(self, v: np.ndarray, smooth: bool = True) -> Evaluation:
        """Evaluate at v (n_variables,): the design x, and with an eigenvalue objective the
        bound's t last."""
        v = np.asarray(v, float)
        key = (smooth, v.tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        x, t = (v[:-1], float(v[-1])) if self.bound else (v, None)
        plain = self.inner(x, smooth)
        analyses = self.analyze(plain.rho, plain.u)

        n = len(x)
        values, gradients, responses = [], [], dict(plain.responses)
        if self.bound:
            theta, dtheta = analyses[self._key(self.objective)][:2]
            theta, dtheta = theta[:self.objective.modes], dtheta[:self.objective.modes]
            if self.scale is None:
                self.scale = self._first_scale(theta)
            z = bound_value(self.scale, t)
            values += list(theta / z - 1.0)
            gradients += [np.append(self._pullback(x, row) / z, -ALPHA * theta_j / z)
                          for row, theta_j in zip(dtheta, theta)]
            objective = z
            objective_gradient = np.zeros(n + 1)
            objective_gradient[n] = ALPHA * z
            responses["objective"] = objective
        else:
            objective, objective_gradient = plain.objective, plain.gradient
        for label, response in self.eigen_constraints:
            theta, dtheta = analyses[self._key(response)][:2]
            star = response.bound()
            values += list(theta[:response.modes] / star - 1.0)
            gradients += [self._pad(self._pullback(x, row) / star) for row in dtheta[:response.modes]]
        plain_gradients = [self._pad(g) for g in plain.constraint_gradients]
        constraints = np.concatenate([plain.constraints, values])
        constraint_gradients = np.array(plain_gradients + gradients).reshape(len(constraints), -1)
        fields = dict(plain.fields)
        for key, (theta, _, modes) in analyses.items():
            fields.update(self._fields(key, theta, modes, responses))
        evaluation = Evaluation(objective=float(objective), gradient=objective_gradient, constraints=constraints,
                                constraint_gradients=constraint_gradients, rho=plain.rho, u=plain.u,
                                responses=responses, fields=fields)
        self._last = (key, evaluation)
        return evaluation

    # ---------------------------------------------------------------- analyses

    def analyze(self, rho: np.ndarray, u: np.ndarray) -> dict:
        """{"vibration" or ("buckling", case): (θ (k,), dθ/dρ (k, n_elements), modes (n_dofs, k))}
        at densities rho (n_elements,) with displacements u (n_dofs, n_cases), on the factor
        (or preconditioner) the solver holds for K(rho)."""
        out = {}
        if self.vibration_modes:
            with self.timer("sensitivity"):
                out["vibration"] = self._vibration(rho, self.vibration_modes)
        for case, modes in self.buckling_cases.items():
            with self.timer("sensitivity"):
                out[("buckling", case)] = self._buckling(rho, u[:, case], modes, case)
        return out

    def _vibration(self, rho, k):
        material, ops, solver = self.inner.material, self.operators, self.solver
        K = self._stiffness_operator(rho)
        m = mass_interpolation(rho)
        M = eigen.symmetric_operator(ops.mass_matrix(m)) if self.assembled else self._reduced(
            lambda x: ops.mass_apply(m, x))
        if eigen.has_factor(solver):
            omega2, phi = eigen.vibration_modes(solver, K, M, k)
        else:
            omega2, block = eigen.lobpcg_modes(K, M, self._preconditioner(), k, self._warm.get("vibration"),
                                               largest=False, tol=self._lobpcg_tol())
            self._warm["vibration"], phi = block, block[:, :k]
        full = self._full(phi)
        precise = full.astype(np.longdouble)
        domega2 = np.empty((k, len(rho)))
        theta = np.empty(k)
        for j in range(k):
            stiffness = self._stiffness_energy(precise[:, j])                          # φ_eᵀ K_e φ_e
            mass = ops.mass_energy(precise[:, j])                                      # φ_eᵀ M_e φ_e
            # θ as the Rayleigh quotient of element sums in extended precision: the eigen-
            # solver's value carries the round-off of products with K (~1e-11 relative on a
            # slender beam), which finite differences of small components would see.
            theta[j] = float((m @ mass + self._point_mass_energy(precise[:, j]))
                             / (self.inner.material.apply(rho) @ stiffness + self._spring_energy(precise[:, j])))
            domega2[j] = (material.vjp(rho, stiffness.astype(float))
                          - mass_interpolation_vjp(rho, mass.astype(float)) / theta[j])
        return theta, -(theta ** 2)[:, None] * domega2, full

    def _buckling(self, rho, u, k, case=0):
        material, ops, solver = self.inner.material, self.operators, self.solver
        geometric = geometric_interpolation(material)
        g = geometric.apply(rho)
        stress = ops.solid_stresses(u)
        K = self._stiffness_operator(rho)
        G = eigen.symmetric_operator(ops.geometric_matrix(g, stress)) if self.assembled else self._reduced(
            lambda x: ops.geometric_apply(g, stress, x))
        if eigen.has_factor(solver):
            theta, phi = eigen.buckling_modes(solver, K, G, k)
        else:
            minus_G = LinearOperator(G.shape, matvec=lambda x: -(G @ x), matmat=lambda X: -(G @ X), dtype=float)
            theta, block = eigen.lobpcg_modes(minus_G, K, self._preconditioner(), k,
                                              self._warm.get(("buckling", case)), largest=True,
                                              tol=self._lobpcg_tol())
            self._warm[("buckling", case)], phi = block, block[:, :k]
        full = self._full(phi)
        precise = full.astype(np.longdouble)
        weights = [ops.stress_weights(precise[:, j]) for j in range(k)]      # ∂(φᵀGφ)/∂σ̂_e / g_e
        for j in range(k):  # the Rayleigh quotient in extended precision, as for vibration
            geometric_energy = g @ np.sum(weights[j] * stress, axis=(1, 2))
            theta[j] = float(-geometric_energy / (self.inner.material.apply(rho) @ self._stiffness_energy(
                precise[:, j]) + self._spring_energy(precise[:, j])))
        weights = [q.astype(float) for q in weights]
        W = np.stack([ops.solid_stresses_vjp(q * g[:, None, None]) for q in weights], axis=1)
        free = self.inner.free
        with self.timer("solve"):  # the adjoint of G's dependence on u: one block solve
            V = self._full(solver.solve(W[free]).reshape(len(free), k))
        dtheta = np.empty((k, len(rho)))
        energy = self.inner.assembler.element_energy
        for j in range(k):
            explicit = geometric.vjp(rho, np.sum(weights[j] * stress, axis=(1, 2)))
            E_bar = theta[j] * energy(full[:, j], full[:, j]) - energy(V[:, j], u)
            dtheta[j] = -explicit + material.vjp(rho, E_bar)
        return theta, dtheta, full

    # ---------------------------------------------------------------- helpers

    def _stiffness_energy(self, phi: np.ndarray) -> np.ndarray:
        """(n_elements,) φ_eᵀ K_e φ_e (K_e for a unit modulus) of a full-length phi, in its dtype."""
        K_e = np.asarray(self.inner.assembler.element_matrix).astype(phi.dtype)
        phi_e = phi[self.inner.assembler.element_dofs]
        product = phi_e @ K_e if K_e.ndim == 2 else np.matmul(K_e, phi_e[:, :, None])[:, :, 0]
        return np.einsum("ea,ea->e", phi_e, product)

    def _spring_energy(self, phi: np.ndarray):
        """Σ_s k_s φ_s² of the grounded springs (fixed DOFs have φ = 0)."""
        problem = self.inner.problem
        return np.sum(problem.spring_stiffness * phi[problem.spring_dofs] ** 2)

    def _point_mass_energy(self, phi: np.ndarray):
        masses = self.operators.point_masses
        return 0.0 if masses is None else np.sum(masses * phi ** 2)

    def _stiffness_operator(self, rho) -> LinearOperator:
        """K(ρ) on the free DOFs: from its lower triangle, or the matrix-free solver's product."""
        if self.assembled:
            return eigen.symmetric_operator(self.inner.stiffness(rho))
        return self._reduced(lambda x: self.solver.matvec(x).copy())

    def _reduced(self, apply_full) -> LinearOperator:
        """A LinearOperator on the free DOFs from a product on full-length vectors."""
        free, n_dofs = self.inner.free, self.inner.n_dofs

        def matmat(X):
            X = np.asarray(X, float).reshape(len(free), -1)
            out = np.empty_like(X)
            for c in range(X.shape[1]):
                full = np.zeros(n_dofs)
                full[free] = X[:, c]
                out[:, c] = apply_full(full)[free]
            return out

        return LinearOperator((len(free), len(free)), matvec=lambda x: matmat(x)[:, 0], matmat=matmat, dtype=float)

    def _preconditioner(self):
        """≈ K⁻¹ on the free DOFs: mg's V-cycle, else the solver's own (iterative) solve."""
        solver, free, n_dofs = self.solver, self.inner.free, self.inner.n_dofs
        if hasattr(solver, "precondition"):
            def apply(r):
                full = np.zeros(n_dofs)
                full[free] = r
                return solver.precondition(full)[free]
            return apply
        return lambda r: solver.solve(r).ravel()

    def _lobpcg_tol(self) -> float:
        """LOBPCG's relative residual: 1e-8, or 1e-10 when the solver solves to round-off
        (gradient checks)."""
        return 1e-10 if getattr(self.solver, "rtol", 1.0) < 1e-9 else 1e-8

    def _full(self, reduced: np.ndarray) -> np.ndarray:
        return self.inner.assembler.full_vector(np.asarray(reduced).reshape(len(self.inner.free), -1),
                                                self.inner.n_dofs)

    def _pullback(self, x: np.ndarray, rho_bar: np.ndarray) -> np.ndarray:
        """(n,) dθ/dx from dθ/dρ (n_elements,): back through the plain evaluator's chain
        (passive, AM filter, projection, linking, filter; no sensitivity-filter smoothing:
        these are constraints)."""
        with self.timer("filter"):
            return self.inner.pullback(self.inner.densities(x), rho_bar)

    def _pad(self, gradient: np.ndarray) -> np.ndarray:
        """A gradient with respect to x, with the bound's t (0) appended when there is one."""
        return np.append(gradient, 0.0) if self.bound else gradient

    def _first_scale(self, theta: np.ndarray) -> float:
        scale = float(np.max(theta))
        if not scale > 0:
            raise FemoptError("buckling: no mode buckles under the load (every load factor is negative: "
                              "the load puts nothing in compression); reverse the load or drop the response")
        return scale

    @staticmethod
    def _key(response):
        return "vibration" if isinstance(response, Frequency) else ("buckling", response.case)

    @staticmethod
    def _symbol(response, j: int) -> str:
        return f"1/omega_{j + 1}^2" if isinstance(response, Frequency) else f"1/lambda_{j + 1}"

    def _fields(self, key, theta, modes, responses) -> dict:
        """The eigenvalues and modes of one analysis for result.npz and the output; their
        values into ``responses`` too."""
        if key == "vibration":
            hz = 1.0 / np.sqrt(theta) / (2 * np.pi)
            responses.update({f"frequency {j + 1} (Hz)": float(f) for j, f in enumerate(hz)})
            return {"eigenfrequencies_hz": hz, "vibration_modes": modes}
        factors = np.where(theta > 0, 1.0 / np.where(theta > 0, theta, 1.0), np.inf)
        responses.update({f"buckling factor {j + 1}": float(f) for j, f in enumerate(factors) if np.isfinite(f)})
        return {"buckling_load_factors": factors, "buckling_modes": modes}
