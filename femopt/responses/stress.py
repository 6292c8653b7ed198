"""Stress: the von Mises stress at element centres, its qp relaxation and a p-norm response.

For element e and load case c (Bruggi 2008; Le, Norato, Bruns, Ha & Tortorelli 2010)::

    σ_vm,ec = √(s_ecᵀ V s_ec),   s_ec = D₀ B_e u_ec          (solid stress at the centre)
    σ_ec    = ρ_e^q σ_vm,ec                                  (relaxed, q ∈ (0, 1])
    σ_PN    = (Σ_{e ∈ I} Σ_c σ_ec^p)^(1/p)                   (p-norm over the included elements)
    L       = c_N σ_PN                                       (the response, stress units)

B_e: the strain-displacement matrix at the reference centroid of the cell (Voigt order,
engineering shears; :mod:`femopt.fem.elasticity`); D₀ the solid's constitutive matrix (plane
stress in 2D); V the von Mises form: in 2D σ_vm² = σx² − σxσy + σy² + 3τxy², in 3D
σ_vm² = ½((σx−σy)² + (σy−σz)² + (σz−σx)²) + 3(τxy² + τyz² + τzx²). ρ is the physical
density (after filter, projection and passive regions). I: every element except passive
ones and those excluded (e.g. a load patch).

c_N is Le et al.'s adaptive normalization: :meth:`Stress.renormalize` sets it to
max σ_ec / σ_PN of a solved design, so that L equals the true maximum there. The
optimization loop calls it once per iteration, at the iteration's own design, before
the response is evaluated (:meth:`femopt.loop.evaluator.Evaluator.start_iteration`); every
other evaluation — line searches, finite differences, ``femopt check-grad`` — holds
c_N fixed, and the gradient is that of L at fixed c_N. (Le et al. take c_N from the
previous iteration, damped; taking it from the current one removes the lag, and since
c_N then depends on the design alone, a resumed run needs no state for it.)

:func:`centre_von_mises` is the one von Mises computation of femopt: the output writer's field
(``density.vtu``, ``result.npz``) calls it too.
"""

from __future__ import annotations

import numpy as np

from femopt.element import CellValues
from femopt.fem.dofs import DofMap
from femopt.fem.elasticity import constitutive_matrix, strain_displacement


def von_mises_form(dim: int) -> np.ndarray:
    """(n_voigt, n_voigt) V with σ_vm² = σᵀ V σ for Voigt stresses (xx, yy, xy) in 2D
    (plane stress), (xx, yy, zz, xy, yz, zx) in 3D."""
    if dim == 2:
        return np.array([[1.0, -0.5, 0.0], [-0.5, 1.0, 0.0], [0.0, 0.0, 3.0]])
    V = np.zeros((6, 6))
    V[:3, :3] = -0.5
    V[np.arange(3), np.arange(3)] = 1.0
    V[np.arange(3, 6), np.arange(3, 6)] = 3.0
    return V


class CentreStress:
    """The linear map from displacements to the solid's stress at each element centre,
    s_e = D₀ B_e u_e.

    mesh: any mesh (a structured grid shares one matrix among its equal boxes).
    E, nu: Young's modulus (stress units) and Poisson's ratio of the solid.
    element_dofs: (n_elements, k) node-major DOFs of each element (:class:`femopt.fem.dofs.DofMap`).
    """

    def __init__(self, mesh, E: float, nu: float, element_dofs: np.ndarray):
        cell, dim = mesh.cell_type, mesh.dim
        self.dim, self.n_elements = dim, mesh.n_elements
        self.element_dofs = element_dofs
        D = constitutive_matrix(dim, E, nu)
        centroid = cell.reference_nodes[:cell.n_corners].mean(axis=0, keepdims=True)
        coords = cell.box(mesh.element_size)[None] if mesh.structured else mesh.node_coords[mesh.cells]
        values = CellValues(cell, coords, (centroid, np.ones(1)))               # one point: the centroid
        S = D @ strain_displacement(values.gradients[0])                        # (n, n_voigt, k)
        self.shared = mesh.structured
        self.matrices = S[0] if self.shared else S
        self.V = von_mises_form(dim)

    def stresses(self, u: np.ndarray) -> np.ndarray:
        """(n_elements, n_voigt, n_cases) Voigt stresses of displacements u (n_dofs, n_cases)."""
        u_e = np.asarray(u, float).reshape(-1, 1 if np.ndim(u) == 1 else np.shape(u)[1])[self.element_dofs]
        if self.shared:
            return np.einsum("vk,ekc->evc", self.matrices, u_e)
        return np.einsum("evk,ekc->evc", self.matrices, u_e)

    def stresses_vjp(self, stress_bar: np.ndarray, n_dofs: int) -> np.ndarray:
        """(n_dofs, n_cases) the cotangent of u for the cotangent of :meth:`stresses`,
        stress_bar (n_elements, n_voigt, n_cases): Σ_e B_eᵀ D₀ s̄_e scattered to the DOFs."""
        if self.shared:
            u_e_bar = np.einsum("vk,evc->ekc", self.matrices, stress_bar)
        else:
            u_e_bar = np.einsum("evk,evc->ekc", self.matrices, stress_bar)
        n_cases = stress_bar.shape[2]
        u_bar = np.empty((n_dofs, n_cases))
        for c in range(n_cases):  # a few load cases at most; bincount sums the shared DOFs
            u_bar[:, c] = np.bincount(self.element_dofs.ravel(), u_e_bar[:, :, c].ravel(), minlength=n_dofs)
        return u_bar

    def von_mises(self, u: np.ndarray) -> np.ndarray:
        """(n_elements, n_cases) the solid's von Mises stress σ_vm at the centres."""
        s = self.stresses(u)
        return np.sqrt(np.maximum(np.einsum("evc,vw,ewc->ec", s, self.V, s), 0.0))


def centre_von_mises(mesh, u: np.ndarray, E: float, nu: float) -> np.ndarray:
    """(n_elements,) or (n_elements, n_cases): the solid's von Mises stress (stress units)
    at each element centre for displacements u (n_dofs,) or (n_dofs, n_cases), node-major
    (:class:`CentreStress`; D₀ plane stress in 2D). Not scaled by the density: this is the
    stress the material would carry were the cell solid — the quantity of stress-based
    topology optimization, and the model's stress in the solid cells (ρ = 1) that matter;
    ρ^q times it is the relaxed stress, E(ρ)/E times it the model's stress in a void cell."""
    field = CentreStress(mesh, E, nu, DofMap(mesh, mesh.dim).element_dofs).von_mises(u)
    return field[:, 0] if np.ndim(u) == 1 else field


class Stress:
    """L = c_N (Σ_{e∈I} Σ_c (ρ_e^q σ_vm,ec)^p)^(1/p): the p-norm of the relaxed von Mises
    stress (module docstring), in stress units.

    operator: a :class:`CentreStress`. p: the aggregation exponent (p·q ≥ 1 keeps the
    gradient finite at ρ = 0); q: the relaxation exponent in (0, 1].
    included: (n_elements,) bool, the elements I the norm runs over (default: all).
    normalization: c_N until :meth:`renormalize` sets it.
    """

    name = "stress"

    def __init__(self, operator: CentreStress, p: float = 8.0, q: float = 0.5, included=None,
                 normalization: float = 1.0):
        if not 0 < q <= 1 or p * q < 1:
            raise ValueError(f"stress: need 0 < q <= 1 and p·q >= 1, got p = {p}, q = {q}")
        self.operator, self.p, self.q = operator, float(p), float(q)
        n = operator.n_elements
        self.included = np.ones(n, bool) if included is None else np.asarray(included, bool)
        if not self.included.any():
            raise ValueError("stress: no element is included")
        self.normalization = float(normalization)

    def relaxed(self, rho: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n_elements, n_cases) σ_ec = ρ_e^q σ_vm,ec, (n_elements, n_cases) σ_vm,ec)."""
        solid = self.operator.von_mises(u)
        return _nonnegative(rho)[:, None] ** self.q * solid, solid

    def maximum(self, rho: np.ndarray, u: np.ndarray) -> tuple[float, int, int]:
        """(max σ_ec over the included elements and the cases, its element, its case)."""
        sigma = np.where(self.included[:, None], self.relaxed(rho, u)[0], -np.inf)
        e, c = np.unravel_index(np.argmax(sigma), sigma.shape)
        return float(sigma[e, c]), int(e), int(c)

    def renormalize(self, state) -> None:
        """c_N = max σ_ec / σ_PN at the solved design ``state`` (Le et al.'s adaptive
        normalization): L then equals the true maximum there. Leaves c_N when every
        stress is zero."""
        sigma = self.relaxed(state.rho, state.u)[0][self.included]
        peak = sigma.max()
        if peak > 0:
            self.normalization = float(peak / _p_norm(sigma, self.p, peak))

    def evaluate(self, state):
        rho = _nonnegative(state.rho)
        p, q, inside = self.p, self.q, self.included
        s = self.operator.stresses(state.u)                                   # (n, n_voigt, n_cases)
        solid = np.sqrt(np.maximum(np.einsum("evc,vw,ewc->ec", s, self.operator.V, s), 0.0))
        sigma = rho[:, None] ** q * solid
        peak = sigma[inside].max()
        if peak == 0:  # no stress anywhere: L = 0, and its gradient vanishes with p > 1
            return 0.0, np.zeros_like(state.u), np.zeros_like(rho)
        norm = _p_norm(sigma[inside], p, peak)
        # dσ_PN/dσ_ec = (σ_ec/σ_PN)^(p-1); written with ρ^(qp-1) rather than ρ^(q-1) so that
        # ρ = 0 gives 0 (qp > 1) instead of 0 · ∞.
        ratio = np.where(inside[:, None], solid / norm, 0.0)
        scale = self.normalization
        rho_bar = scale * q * np.sum(rho[:, None] ** (q * p - 1) * ratio ** (p - 1) * solid, axis=1)
        # dσ_vm/ds = V s / σ_vm (zero where σ_vm = 0: with p > 1 its weight vanishes there)
        weight = scale * (rho[:, None] ** q * ratio) ** (p - 1) * rho[:, None] ** q
        weight = np.divide(weight, solid, out=np.zeros_like(weight), where=solid > 0)
        stress_bar = np.einsum("vw,ewc->evc", self.operator.V, s) * weight[:, None, :]
        u_bar = self.operator.stresses_vjp(stress_bar, state.u.shape[0])
        return scale * norm, u_bar, rho_bar


def _nonnegative(rho) -> np.ndarray:
    """ρ with the round-off below 0 of a convolution filter (−1e-17) set to 0, where ρ^q is real."""
    return np.maximum(np.asarray(rho, float), 0.0)


def _p_norm(values: np.ndarray, p: float, peak: float) -> float:
    """(Σ values^p)^(1/p) of non-negative values with maximum ``peak`` > 0, scaled by the
    peak so that large stresses and exponents do not overflow."""
    return float(peak * np.sum((values / peak) ** p) ** (1 / p))


def included_elements(problem, excluded_nodes=None) -> np.ndarray:
    """(n_elements,) bool: the elements a stress response covers — not passive, and
    touching none of ``excluded_nodes`` (e.g. the nodes of a load patch)."""
    included = np.ones(problem.mesh.n_elements, bool)
    if problem.passive is not None:
        included &= np.isnan(problem.passive)
    if excluded_nodes is not None and len(excluded_nodes):
        touched = np.zeros(problem.mesh.n_nodes, bool)
        touched[excluded_nodes] = True
        included &= ~touched[problem.mesh.element_nodes].any(axis=1)
    return included
