"""SciPy's SuperLU: the fallback when scikit-sparse is missing, and the LU for unsymmetric A."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femopt.errors import SingularStiffnessError


class SuperLUSolver:
    """LU factorization; with ``symmetric=True`` the input is a lower triangle that is mirrored."""

    name = "superlu"

    def __init__(self, symmetric: bool = True):
        self.symmetric = symmetric
        self._lu = None
        self.n_factorizations = 0

    def analyze(self, A) -> None:
        """Nothing to do ahead: SuperLU orders and factorizes in one call."""

    def factorize(self, A) -> None:
        A = sp.csc_matrix(A)
        if self.symmetric:
            A = A + sp.tril(A, -1, format="csc").T
        try:
            # The symmetric ordering keeps fill low for FE matrices.
            self._lu = spla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A" if self.symmetric else "COLAMD")
        except RuntimeError as exc:
            raise SingularStiffnessError(f"matrix is singular ({exc}); check the supports") from None
        self.n_factorizations += 1

    def solve(self, B: np.ndarray) -> np.ndarray:
        """X = A⁻¹ B for B (n,) or (n, k)."""
        return self._lu.solve(np.asarray(B, float))

    def solve_transpose(self, B: np.ndarray) -> np.ndarray:
        """X = A⁻ᵀ B for B (n,) or (n, k)."""
        return self._lu.solve(np.asarray(B, float), trans="T")
