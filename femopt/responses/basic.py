"""The basic responses: compliance, volume, displacements, a user's Python loss.

Each response's ``evaluate(state)`` returns ``(value, u_bar, rho_bar)``:
``u_bar`` (n_dofs, n_cases) is ∂L/∂u (None when L does not depend on u) and
``rho_bar`` (n_elements,) the explicit ∂L/∂ρ (None when zero). The Evaluator turns
``u_bar`` into dL/dρ with one adjoint solve (:func:`femopt.adjoint.adjoint_solution`,
then :func:`femopt.adjoint.stiffness_pullback`), or none for self-adjoint responses,
which give λ directly through ``adjoint(state)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femopt.errors import FemoptError


@dataclass(frozen=True)
class State:
    """A solved design. rho: (n_elements,); u, forces: (n_dofs, n_cases)."""

    rho: np.ndarray
    u: np.ndarray
    forces: np.ndarray


class Compliance:
    """C = Σ_c w_c f_cᵀ u_c, the weighted compliance of the load cases (self-adjoint: λ_c = w_c u_c)."""

    name = "compliance"

    def __init__(self, weights=None):
        self.weights = None if weights is None else np.asarray(weights, float)

    def _weights(self, state: State) -> np.ndarray:
        return np.ones(state.u.shape[1]) if self.weights is None else self.weights

    def evaluate(self, state: State):
        w = self._weights(state)
        return float(np.einsum("nc,nc,c->", state.forces, state.u, w)), state.forces * w, None

    def adjoint(self, state: State) -> np.ndarray:
        return state.u * self._weights(state)


class Volume:
    """V = Σ ρ_e v_e / Σ v_e: the volume fraction of the physical density.

    volumes: (n_elements,) element volumes; None for equal elements (a structured grid),
    where V = mean(ρ).
    """

    name = "volume"

    def __init__(self, volumes=None):
        self.weights = None if volumes is None else np.asarray(volumes, float) / np.sum(volumes)

    def evaluate(self, state: State):
        if self.weights is None:
            n = len(state.rho)
            return float(state.rho.mean()), None, np.full(n, 1.0 / n)
        return float(self.weights @ state.rho), None, self.weights.copy()


class Displacement:
    """L = Σ_i w_i u[dof_i, case]: a weighted sum of displacements of one load case.

    dofs, weights: (m,) global DOFs and their weights.
    """

    name = "displacement"

    def __init__(self, dofs, weights, case: int = 0):
        self.dofs = np.asarray(dofs)
        self.weights = np.asarray(weights, float)
        self.case = case

    def evaluate(self, state: State):
        u_bar = np.zeros_like(state.u)
        np.add.at(u_bar[:, self.case], self.dofs, self.weights)
        return float(self.weights @ state.u[self.dofs, self.case]), u_bar, None


class DisplacementTarget:
    """L = Σ_i (u[dof_i, case] − target_i)²: least-squares match of prescribed displacements."""

    name = "displacement_target"

    def __init__(self, dofs, target, case: int = 0):
        self.dofs = np.asarray(dofs)
        self.target = np.asarray(target, float)
        self.case = case

    def evaluate(self, state: State):
        residual = state.u[self.dofs, self.case] - self.target
        u_bar = np.zeros_like(state.u)
        np.add.at(u_bar[:, self.case], self.dofs, 2 * residual)
        return float(residual @ residual), u_bar, None


class UserFunctionError(FemoptError):
    """A user's loss function failed or returned something of the wrong shape."""


class CallableLoss:
    """A user loss ``function(u) -> (value, dL/du)`` with u and dL/du shaped (n_dofs, n_cases).

    label: how messages name the function (e.g. "myloss.py:loss"). Whatever goes wrong
    inside it, or a result of the wrong shape, becomes one UserFunctionError line.
    """

    name = "callable"

    def __init__(self, function, label: str = ""):
        self.function = function
        self.label = label or getattr(function, "__name__", "user function")

    def evaluate(self, state: State):
        try:
            value, u_bar = self.function(state.u)
        except Exception as exc:  # the user's code can fail in any way; say where, in one line
            raise UserFunctionError(f"python loss {self.label!r} raised {type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())}") from None
        shape = state.u.shape
        try:
            value = float(value)
            u_bar = np.asarray(u_bar, float)
        except (TypeError, ValueError):
            raise UserFunctionError(f"python loss {self.label!r} must return (value, dL/du) with a "
                                    f"number and an array of shape {shape}") from None
        if u_bar.size != state.u.size:
            raise UserFunctionError(f"python loss {self.label!r} returned dL/du of shape {u_bar.shape}; "
                                    f"expected {shape} (n_dofs, n_cases), like u")
        return value, u_bar.reshape(shape), None
