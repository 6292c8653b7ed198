"""CHOLMOD (scikit-sparse) supernodal Cholesky with the symbolic analysis done once."""

from __future__ import annotations

import warnings

import numpy as np
from sksparse import cholmod

from femopt.errors import SingularStiffnessError


class CholmodSolver:
    """Cholesky LLᵀ of an SPD matrix given by its lower triangle (CSC).

    The first :meth:`factorize` runs the fill-reducing analysis; later calls with
    the same pattern only refactorize numerically.
    """

    name = "cholmod"
    symmetric = True

    def __init__(self):
        self._factor = None
        self._pattern = None
        self.n_factorizations = 0

    def analyze(self, K) -> None:
        """Fill-reducing ordering and symbolic factorization of K's pattern (values ignored)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cholmod.CholmodTypeConversionWarning)
            self._factor = cholmod.analyze(K, mode="supernodal")
        self._pattern = (K.shape, K.nnz)

    def factorize(self, K) -> None:
        """Factorize K (n, n), lower triangle in CSC form; analyzes first if the pattern is new."""
        if self._factor is None or (K.shape, K.nnz) != self._pattern:
            self.analyze(K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cholmod.CholmodTypeConversionWarning)
            try:
                self._factor.cholesky_inplace(K)
            except cholmod.CholmodNotPositiveDefiniteError as exc:
                raise SingularStiffnessError(
                    "stiffness matrix is singular or not positive definite "
                    f"({exc}); check the supports") from None
        self.n_factorizations += 1

    def solve(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹ B for B (n,) or (n, k)."""
        return self._factor(B)

    solve_transpose = solve  # K is symmetric
