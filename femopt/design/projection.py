"""Smoothed Heaviside projection of filtered densities (Wang, Lazarov & Sigmund 2011).

    ρ̄ = (tanh(βη) + tanh(β(ρ̃ − η))) / (tanh(βη) + tanh(β(1 − η)))

pushes filtered densities ρ̃ below the threshold η towards 0 and those above it
towards 1; β sets the sharpness (β → 0: ρ̄ = ρ̃; β → ∞: a step at η). ρ̃ = 0 and
ρ̃ = 1 map to themselves for every β and η.

With ``preserve_volume`` the threshold is chosen at every evaluation so that the
projected volume equals the filtered one, Σ_e ρ̄_e(η) = Σ_e ρ̃_e over the
designable elements (Xu, Cai & Cheng 2010; Wang et al. 2011). η is then a
function of ρ̃, and :meth:`HeavisideProjection.vjp` includes its derivative
(implicit function theorem: a rank-one term), so the gradient is exact and
passes finite-difference checks; it is *not* the common shortcut that holds η
fixed within an iteration. The exact coupling of all elements through η suits a
volume constraint (which it keeps satisfied as β grows) but not a compliance
constraint: MMA's separable approximation then overshoots after a β increase
(configs/min_volume.yaml therefore keeps η fixed, ``preserve_volume: false``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeavisideProjection:
    """The tanh projection with sharpness ``beta`` > 0 and threshold ``eta`` in (0, 1).

    preserve_volume: choose η per evaluation so that Σ_mask ρ̄ = Σ_mask ρ̃ (``eta`` is the
    first guess). volume_mask: (n,) bool, the elements whose volume is preserved
    (the designable ones; None: all).
    """

    beta: float = 1.0
    eta: float = 0.5
    preserve_volume: bool = False
    volume_mask: np.ndarray | None = None

    def threshold(self, rho_filtered: np.ndarray) -> float:
        """η for this evaluation: ``eta``, or the volume-preserving threshold."""
        if not self.preserve_volume:
            return self.eta
        return volume_preserving_threshold(self._masked(rho_filtered), self.beta, self.eta)

    def apply(self, rho_filtered: np.ndarray, eta: float) -> np.ndarray:
        """(n,) projected densities ρ̄ of filtered densities ρ̃ (n,) in [0, 1]."""
        b = self.beta
        return (np.tanh(b * eta) + np.tanh(b * (rho_filtered - eta))) / _denominator(b, eta)

    def derivative(self, rho_filtered: np.ndarray, eta: float) -> np.ndarray:
        """(n,) ∂ρ̄_e/∂ρ̃_e = β sech²(β(ρ̃ − η)) / (tanh(βη) + tanh(β(1 − η)))."""
        b = self.beta
        return b * _sech2(b * (rho_filtered - eta)) / _denominator(b, eta)

    def derivative_eta(self, rho_filtered: np.ndarray, eta: float) -> np.ndarray:
        """(n,) ∂ρ̄_e/∂η (≤ 0: a higher threshold lowers every projected density)."""
        b = self.beta
        numerator = np.tanh(b * eta) + np.tanh(b * (rho_filtered - eta))
        denominator = _denominator(b, eta)
        d_numerator = b * (_sech2(b * eta) - _sech2(b * (rho_filtered - eta)))
        d_denominator = b * (_sech2(b * eta) - _sech2(b * (1.0 - eta)))
        return (d_numerator * denominator - numerator * d_denominator) / denominator**2

    def vjp(self, rho_filtered: np.ndarray, eta: float, rho_bar: np.ndarray) -> np.ndarray:
        """(n,) ρ̃̄ for the cotangent ρ̄̄ (n,) of the projected densities.

        With ``preserve_volume``, η(ρ̃) solves F = Σ_m (ρ̄_m(ρ̃_m, η) − ρ̃_m) = 0, so
        dη/dρ̃_e = −(∂ρ̄_e/∂ρ̃_e − 1) / Σ_m ∂ρ̄_m/∂η for masked e (0 elsewhere), and
        ρ̃̄ = ρ̄̄ ⊙ ∂ρ̄/∂ρ̃ + (ρ̄̄ · ∂ρ̄/∂η) dη/dρ̃.
        """
        slope = self.derivative(rho_filtered, eta)
        rho_tilde_bar = rho_bar * slope
        if self.preserve_volume:
            d_eta = self.derivative_eta(rho_filtered, eta)
            total = self._masked(d_eta).sum()
            if total < 0:  # zero only when every density is exactly 0 or 1: η then has no effect
                mask = 1.0 if self.volume_mask is None else self.volume_mask
                rho_tilde_bar = rho_tilde_bar - (rho_bar @ d_eta) * mask * (slope - 1.0) / total
        return rho_tilde_bar

    def _masked(self, values: np.ndarray) -> np.ndarray:
        return values if self.volume_mask is None else values[self.volume_mask]


class IdentityProjection:
    """No projection: ρ̄ = ρ̃ (the same interface as :class:`HeavisideProjection`)."""

    def threshold(self, rho_filtered):
        return None

    def apply(self, rho_filtered, eta):
        return rho_filtered

    def vjp(self, rho_filtered, eta, rho_bar):
        return rho_bar


def volume_preserving_threshold(rho_filtered: np.ndarray, beta: float, eta0: float = 0.5,
                                max_iterations: int = 60) -> float:
    """η in [0, 1] with Σ ρ̄(ρ̃, η) = Σ ρ̃ for filtered densities ρ̃ (n,) in [0, 1].

    F(η) = Σ (ρ̄ − ρ̃) falls monotonically from F(0) ≥ 0 to F(1) ≤ 0, so a root is
    bracketed in [0, 1]. Newton steps from ``eta0``, replaced by bisection whenever
    they leave the current bracket, converge to round-off in a handful of
    iterations (each O(n)); round-off accuracy matters, since the gradient
    assumes F(η) = 0 exactly.
    """
    projection = HeavisideProjection(beta, eta0)
    lo, hi, eta = 0.0, 1.0, float(eta0)
    for _ in range(max_iterations):
        residual = float(np.sum(projection.apply(rho_filtered, eta) - rho_filtered))
        slope = float(np.sum(projection.derivative_eta(rho_filtered, eta)))
        if residual > 0:
            lo = eta
        else:
            hi = eta
        if slope >= 0:  # every ρ̃ is 0 or 1: any η preserves the volume
            return eta
        step = residual / slope
        new = eta - step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - eta) <= 4 * np.finfo(float).eps or hi - lo <= 4 * np.finfo(float).eps:
            return new
        eta = new
    return eta


def grayness(rho: np.ndarray) -> float:
    """mean(4ρ(1 − ρ)): 0 for a black-and-white design, 1 for ρ = 0.5 everywhere."""
    return float(np.mean(4.0 * rho * (1.0 - rho)))


def _denominator(beta: float, eta: float) -> float:
    return np.tanh(beta * eta) + np.tanh(beta * (1.0 - eta))


def _sech2(t):
    """sech²(t) = 1 − tanh²(t), computed without overflow for large |t|."""
    return 1.0 / np.cosh(np.clip(t, -350.0, 350.0)) ** 2
