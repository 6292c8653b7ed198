"""Eigenvalue responses: ``frequency`` (free vibration) and ``buckling`` (linear buckling),
and their interpolations (registered in :mod:`femopt.responses`).

    frequency   K φ = ω² M φ            the lowest ``modes`` ω, in Hz as ω / 2π
    buckling    (K + λ G(u)) φ = 0      the lowest ``modes`` load factors λ of load case ``case``

Each works with the reciprocals θ_j = 1/ω_j² or θ_j = 1/λ_j, which fall as the design
improves and stay finite:

* objective: the **bound formulation** over the lowest ``modes``: minimize z subject to
  θ_j ≤ z for every j, i.e. maximize β = 1/z subject to ω_j² ≥ β (or λ_j ≥ β), with z as
  one more design variable (:class:`femopt.loop.eigen.EigenEvaluator`). Repeated and
  switching eigenvalues are handled: every mode that may become the lowest is bounded.
* constraint: ``min_hz`` f* (or ``min_factor`` λ*): θ_j/θ* − 1 ≤ 0 for every j < modes,
  θ* = 1/(2π f*)² (1/λ*).

Interpolations (Du & Olhoff 2007; Ferrari, Sigmund & Guest 2021 after Gao & Ma 2015):

* mass m(ρ) = ρ for ρ > 0.1 and 10⁵ ρ⁶ below (continuous at 0.1): with SIMP's ρ³
  stiffness, void elements would otherwise have stiffness/mass → 0 and show as local modes
  of nearly zero frequency; ρ⁶ makes their ratio grow instead.
* stiffness E(ρ): the configured SIMP or RAMP (with E_min), as for every response.
* geometric stiffness: G = Σ_e E_G(ρ_e) G_e(σ̂_e), σ̂_e the stress of the *solid* (unit
  modulus) under the SIMP displacements u, and E_G(ρ) the stiffness interpolation without
  E_min (SIMP: E₀ ρᵖ). Void keeps K ≈ E_min but loses its stress stiffness entirely,
  so the pseudo-buckling modes of soft, highly strained void cannot appear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


MASS_THRESHOLD = 0.1   # below it m(ρ) = c ρ⁶, c = 10⁵ so that both sides give 0.1 there
MASS_EXPONENT = 6
# The option of each eigenvalue response that makes it a constraint (a lower bound).
LOWER_BOUNDS = {"frequency": "min_hz", "buckling": "min_factor"}


def mass_interpolation(rho: np.ndarray) -> np.ndarray:
    """(n,) m(ρ): ρ above 0.1, 10⁵ ρ⁶ at or below (module docstring)."""
    rho = np.asarray(rho, float)
    c = MASS_THRESHOLD ** (1 - MASS_EXPONENT)
    return np.where(rho > MASS_THRESHOLD, rho, c * np.maximum(rho, 0.0) ** MASS_EXPONENT)


def mass_interpolation_vjp(rho: np.ndarray, m_bar: np.ndarray) -> np.ndarray:
    """(n,) ρ̄ = m̄ ⊙ dm/dρ."""
    rho = np.asarray(rho, float)
    c = MASS_THRESHOLD ** (1 - MASS_EXPONENT)
    slope = np.where(rho > MASS_THRESHOLD, 1.0, c * MASS_EXPONENT * np.maximum(rho, 0.0) ** (MASS_EXPONENT - 1))
    return m_bar * slope


def geometric_interpolation(material):
    """E_G: the stiffness interpolation ``material`` (SIMP, RAMP) without E_min."""
    return replace(material, Emin=0.0)


@dataclass(frozen=True)
class Frequency:
    """The lowest ``modes`` natural frequencies; a constraint when ``min_hz`` is given."""

    modes: int = 3
    min_hz: float | None = None
    name = "frequency"

    @property
    def kind(self) -> str:
        return "vibration"

    def bound(self) -> float | None:
        """θ* = 1/ω*² of the constraint (None for an objective)."""
        return None if self.min_hz is None else 1.0 / (2 * np.pi * self.min_hz) ** 2

    def evaluate(self, state):
        raise TypeError("frequency is evaluated by femopt.loop.eigen.EigenEvaluator")


@dataclass(frozen=True)
class Buckling:
    """The lowest ``modes`` load factors of load case ``case``; a constraint with ``min_factor``."""

    modes: int = 6
    min_factor: float | None = None
    case: int = 0
    name = "buckling"

    @property
    def kind(self) -> str:
        return "buckling"

    def bound(self) -> float | None:
        """θ* = 1/λ* of the constraint (None for an objective)."""
        return None if self.min_factor is None else 1.0 / self.min_factor

    def evaluate(self, state):
        raise TypeError("buckling is evaluated by femopt.loop.eigen.EigenEvaluator")


def is_eigen(response) -> bool:
    return isinstance(response, (Frequency, Buckling))
