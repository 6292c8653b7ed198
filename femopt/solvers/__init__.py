"""Sparse solvers behind one interface: ``analyze(K)`` (once per pattern), ``factorize(K)``,
``solve(B)``, ``solve_transpose(B)``.

The finite-element path passes the **lower triangle** of a symmetric positive
definite K (``symmetric=True``); the generic adjoint primitive passes any
square matrix (``symmetric=False``). Backend types never leave this package.
"""

from __future__ import annotations

import numpy as np

from femopt.errors import SolverError
from femopt.solvers.iterative import AMGSolver, CGSolver, rigid_body_modes
from femopt.solvers.memory import cholesky_fits
from femopt.solvers.superlu import SuperLUSolver

try:
    from femopt.solvers.cholmod import CholmodSolver
    from femopt.solvers.reuse import ReuseSolver
except ImportError:  # scikit-sparse (SuiteSparse) is an optional extra
    CholmodSolver = ReuseSolver = None

SOLVERS = ("auto", "cholmod", "superlu", "amg", "reuse")
# The keyword options of make_solver that each type takes (a problem file's
# ``solver: {type: amg, rtol: 1e-8}``); auto takes amg's, for when it picks amg.
SOLVER_OPTIONS = {
    "auto": ("rtol", "max_iterations"),
    "cholmod": (),
    "superlu": (),
    "amg": ("rtol", "max_iterations"),
    "reuse": ("rtol", "max_cg_iterations"),
}
# CG tolerances when none is given. AMG-CG solves "exactly"; reuse is an approximate
# reanalysis (Amir et al. 2009), and OC needs far less: at 1e-4 the top3d cantilever
# still ends at 964.078 after 119 iterations (CHOLMOD: 964.077), a 48×24×24 cantilever
# matches CHOLMOD's compliance after 100 iterations to 5 digits, and reuse runs 2.6×
# faster per iteration there (1.7× at 1e-6). See scripts/bench.py and the README.
DEFAULT_RTOL = {"amg": 1e-8, "reuse": 1e-4}
FALLBACK_NOTICE = ("notice: scikit-sparse is not installed; using SciPy's SuperLU (slower). "
                   "Install femopt[cholmod] for CHOLMOD.")


def cholmod_available() -> bool:
    return CholmodSolver is not None


def make_solver(name: str = "auto", symmetric: bool = True, *, node_coords=None, free_dofs=None,
                rtol: float | None = None, max_iterations: int = 2000, max_cg_iterations: int = 30):
    """A fresh solver by name (one of SOLVERS):

    - ``"cholmod"``: CHOLMOD supernodal Cholesky (scikit-sparse), refactorized every time;
    - ``"superlu"``: SciPy's LU;
    - ``"amg"``: CG to ``rtol`` (default 1e-8; at most ``max_iterations`` per solve)
      preconditioned by smoothed-aggregation AMG with the rigid-body modes of the free
      DOFs as near-null space;
    - ``"reuse"``: CG to ``rtol`` (default 1e-4) preconditioned by the last CHOLMOD factor,
      refactorizing when CG needs more than ``max_cg_iterations`` (:mod:`femopt.solvers.reuse`);
    - ``"auto"``: CHOLMOD when installed and the matrix is symmetric, else SuperLU — but
      ``amg`` when the mesh is known and its estimated Cholesky factor would not fit in
      memory (:mod:`femopt.solvers.memory`).

    node_coords: (n_nodes, dim) and free_dofs: (n_free,) sorted, for DOFs numbered
    ``dim · node + component``; needed by ``amg`` (rigid-body modes) and by ``auto``'s
    memory estimate (without them ``auto`` never picks ``amg``).
    """
    if name not in SOLVERS:
        raise SolverError(f"solver: unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    has_mesh = node_coords is not None and free_dofs is not None
    if name == "auto":
        if symmetric and has_mesh and not cholesky_fits(len(free_dofs), np.shape(node_coords)[1]):
            name = "amg"
        else:
            name = "cholmod" if cholmod_available() and symmetric else "superlu"
    if name in ("amg", "reuse") and not symmetric:
        raise SolverError(f"solver: {name} needs a symmetric positive definite matrix")
    if name == "amg":
        # Without the mesh pyamg falls back to the constant vector: it works, but slowly.
        modes = rigid_body_modes(node_coords, free_dofs) if has_mesh else None
        return AMGSolver(rtol=rtol or DEFAULT_RTOL["amg"], maxiter=max_iterations,
                         near_null_space=modes)
    if name in ("cholmod", "reuse"):
        if not cholmod_available():
            raise SolverError(f"solver: {name} requested but scikit-sparse is not installed "
                              "(pip install 'femopt[cholmod]')")
        if not symmetric:
            raise SolverError("solver: cholmod needs a symmetric positive definite matrix")
        if name == "reuse":
            return ReuseSolver(rtol=rtol or DEFAULT_RTOL["reuse"], max_cg_iterations=max_cg_iterations)
        return CholmodSolver()
    return SuperLUSolver(symmetric=symmetric)
