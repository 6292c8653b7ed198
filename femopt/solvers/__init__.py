"""Sparse solvers behind one interface: ``analyze(K)`` (once per pattern), ``factorize(K)``,
``solve(B)``, ``solve_transpose(B)``.

The finite-element path passes the **lower triangle** of a symmetric positive
definite K (``symmetric=True``); the generic adjoint primitive passes any
square matrix (``symmetric=False``). Backend types never leave this package.
"""

from __future__ import annotations

from femopt.errors import SolverError
from femopt.solvers.superlu import SuperLUSolver

try:
    from femopt.solvers.cholmod import CholmodSolver
except ImportError:  # scikit-sparse (SuiteSparse) is an optional extra
    CholmodSolver = None

SOLVERS = ("auto", "cholmod", "superlu")
FALLBACK_NOTICE = ("notice: scikit-sparse is not installed; using SciPy's SuperLU (slower). "
                   "Install femopt[cholmod] for CHOLMOD.")


def cholmod_available() -> bool:
    return CholmodSolver is not None


def make_solver(name: str = "auto", symmetric: bool = True):
    """A fresh solver: ``"cholmod"``, ``"superlu"``, or ``"auto"`` (CHOLMOD when installed
    and the matrix is symmetric, else SuperLU)."""
    if name not in SOLVERS:
        raise SolverError(f"solver: unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    if name == "auto":
        name = "cholmod" if cholmod_available() and symmetric else "superlu"
    if name == "cholmod":
        if not cholmod_available():
            raise SolverError("solver: cholmod requested but scikit-sparse is not installed "
                              "(pip install 'femopt[cholmod]')")
        if not symmetric:
            raise SolverError("solver: cholmod needs a symmetric positive definite matrix")
        return CholmodSolver()
    return SuperLUSolver(symmetric=symmetric)
