"""Material interpolation: Young's modulus of each element from its density."""

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
