"""Material interpolation: Young's modulus of each element from its density.

Both schemes are frozen dataclasses with a ``penalty`` field, so continuation
replaces one with ``dataclasses.replace(material, penalty=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class SIMP:
    """E(ρ) = Emin + ρ^p (E0 − Emin) (modified SIMP, Sigmund 2007)."""

    E0: float = 1.0
    Emin: float = 1e-9
    penalty: float = 3.0

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """(n,) moduli for densities rho (n,) in [0, 1]."""
        return self.Emin + rho**self.penalty * (self.E0 - self.Emin)

    def vjp(self, rho: np.ndarray, E_bar: np.ndarray) -> np.ndarray:
        """(n,) ρ̄ = Ē ⊙ dE/dρ."""
        return E_bar * self.penalty * rho ** (self.penalty - 1) * (self.E0 - self.Emin)


@dataclass(frozen=True)
class RAMP:
    """E(ρ) = Emin + ρ / (1 + q(1 − ρ)) (E0 − Emin) (Stolpe & Svanberg 2001), q = ``penalty``.

    Unlike SIMP its slope at ρ = 0 is finite and nonzero, (E0 − Emin)/(1 + q), which
    helps problems whose void elements must still feel a gradient.
    """

    E0: float = 1.0
    Emin: float = 1e-9
    penalty: float = 8.0

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """(n,) moduli for densities rho (n,) in [0, 1]."""
        return self.Emin + rho / (1.0 + self.penalty * (1.0 - rho)) * (self.E0 - self.Emin)

    def vjp(self, rho: np.ndarray, E_bar: np.ndarray) -> np.ndarray:
        """(n,) ρ̄ = Ē ⊙ dE/dρ, dE/dρ = (1 + q) / (1 + q(1 − ρ))² (E0 − Emin)."""
        q = self.penalty
        return E_bar * (1.0 + q) / (1.0 + q * (1.0 - rho)) ** 2 * (self.E0 - self.Emin)
