"""Sparse solvers behind one interface: ``analyze(K)`` (once per pattern), ``factorize(K)``,
``solve(B)``, ``solve_transpose(B)``.

The finite-element path passes the **lower triangle** of a symmetric positive
definite K (``symmetric=True``); the generic adjoint primitive passes any
square matrix (``symmetric=False``). Backend types never leave this package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femopt.errors import SolverError
from femopt.registry import Option, Registry
from femopt.solvers.iterative import AMGSolver, CGSolver, near_null_space
from femopt.solvers import memory
from femopt.solvers.memory import cholesky_fits
from femopt.solvers.multigrid import OPERATORS, SMOOTHERS, MGSolver
from femopt.solvers.superlu import SuperLUSolver

try:
    from femopt.solvers.cholmod import CholmodSolver
    from femopt.solvers.reuse import ReuseSolver
except ImportError:  # scikit-sparse (SuiteSparse) is an optional extra
    CholmodSolver = ReuseSolver = None

FALLBACK_NOTICE = ("notice: scikit-sparse is not installed; using SciPy's SuperLU (slower). "
                   "Install femopt[cholmod] for CHOLMOD.")


def cholmod_available() -> bool:
    return CholmodSolver is not None


@dataclass(frozen=True)
class SolverContext:
    """What a solver may need to know besides its options.

    symmetric: the matrices are symmetric positive definite, given by their lower
    triangle (the finite-element path), or any square matrix (False).
    node_coords: (n_nodes, dim) and free_dofs: (n_free,) sorted, for DOFs numbered
    ``dim · node + component``; ``amg`` builds its rigid-body modes from them and
    ``auto`` its memory estimate (without them ``auto`` never picks ``amg``), which
    n_elements and nodes_per_element make exact (:func:`memory.choose_solver`).
    components: DOFs per node, numbered ``components · node + component``; None means dim
    (displacements). With 1 (a temperature) ``amg``'s near-null space is the constant.
    grid: (nx, ny[, nz]) elements per axis when the mesh is a structured grid
    (:class:`femopt.mesh.StructuredMesh`'s numbering), with element_matrix (m, m) its one
    shared element matrix: what ``mg`` builds its hierarchy from.
    """

    symmetric: bool = True
    node_coords: np.ndarray | None = None
    free_dofs: np.ndarray | None = None
    n_elements: int | None = None
    nodes_per_element: int | None = None
    components: int | None = None
    grid: tuple[int, ...] | None = None
    element_matrix: np.ndarray | None = None

    @property
    def has_mesh(self) -> bool:
        return self.node_coords is not None and self.free_dofs is not None


def _auto(context: SolverContext, rtol, max_iterations):
    """CHOLMOD when installed and the matrix is symmetric, else SuperLU — but on a known
    mesh :func:`memory.choose_solver`'s choice: ``mg`` on structured grids where the cost
    model of :mod:`femopt.solvers.cost` says it is faster or a Cholesky factor would not fit
    in memory, ``amg`` on other meshes where the factor would not fit."""
    if context.symmetric and context.has_mesh:
        choice = _memory_choice(context)
        if choice in ("amg", "mg") and (choice == "amg" or _mg_applies(context)):
            options = {"max_iterations": max_iterations} | ({"rtol": rtol} if rtol is not None else {})
            return SOLVERS.create(choice, context, **options)
    return SOLVERS.create("cholmod" if cholmod_available() and context.symmetric else "superlu", context)


def _memory_choice(context: SolverContext) -> str | None:
    n_nodes, dim = np.shape(context.node_coords)
    if context.n_elements is None or context.nodes_per_element is None:
        return "cholmod" if cholesky_fits(len(context.free_dofs), dim) else "amg"
    return memory.choose_solver(dim, context.n_elements, n_nodes, context.nodes_per_element,
                                n_free=len(context.free_dofs), structured=_mg_applies(context),
                                components=context.components) or (
                                    "mg" if _mg_applies(context) else "amg")


def _mg_applies(context: SolverContext) -> bool:
    return context.grid is not None and np.ndim(context.element_matrix) == 2


def _mg(context: SolverContext, levels, smoother, rtol, max_iterations, operator):
    """CG to ``rtol`` preconditioned by a geometric multigrid V-cycle on the grid hierarchy
    (:mod:`femopt.solvers.multigrid`); structured grids only."""
    _require_symmetric("mg", context)
    if not _mg_applies(context) or context.free_dofs is None:
        raise SolverError("solver: mg needs a structured grid (mesh: {grid: ...}); "
                          "use amg or cholmod for a mesh file")
    return MGSolver(context.grid, context.element_matrix, context.free_dofs, context.components,
                    levels=levels, smoother=smoother, rtol=rtol, max_iterations=max_iterations,
                    operator=operator)


def _amg(context: SolverContext, rtol, max_iterations):
    """CG to ``rtol`` (at most ``max_iterations`` per solve) preconditioned by smoothed-
    aggregation AMG with the rigid-body modes of the free DOFs as near-null space."""
    _require_symmetric("amg", context)
    # Without the mesh pyamg falls back to the constant vector: it works, but slowly (for
    # elasticity; for a scalar field the constant is the near-null space).
    modes = None
    if context.has_mesh:
        modes = near_null_space(context.node_coords, context.free_dofs, context.components)
    return AMGSolver(rtol=rtol, maxiter=max_iterations, near_null_space=modes)


def _cholmod(context: SolverContext):
    """CHOLMOD supernodal Cholesky (scikit-sparse), refactorized every time."""
    _require_cholmod("cholmod", context)
    return CholmodSolver()


def _reuse(context: SolverContext, rtol, max_cg_iterations):
    """CG to ``rtol`` preconditioned by the last CHOLMOD factor, refactorizing when CG needs
    more than ``max_cg_iterations`` (:mod:`femopt.solvers.reuse`)."""
    _require_cholmod("reuse", context)
    return ReuseSolver(rtol=rtol, max_cg_iterations=max_cg_iterations)


def _require_symmetric(name: str, context: SolverContext) -> None:
    if not context.symmetric:
        raise SolverError(f"solver: {name} needs a symmetric positive definite matrix")


def _require_cholmod(name: str, context: SolverContext) -> None:
    if not cholmod_available():
        raise SolverError(f"solver: {name} requested but scikit-sparse is not installed "
                          "(pip install 'femopt[cholmod]')")
    _require_symmetric(name, context)


# Factories take (SolverContext, **options). The CG tolerances: AMG-CG solves "exactly";
# reuse is an approximate reanalysis (Amir et al. 2009) and OC needs far less: the
# docs/solvers.md (3D) shows the results it reaches at 1e-4 (scripts/bench.py).
SOLVERS = Registry("solver", error=SolverError)
_RTOL = {"bounds": {"gt": 0, "lt": 1}, "doc": "CG's relative residual tolerance"}
_MAX_ITERATIONS = Option(2000, "integer", bounds={"ge": 1}, doc="CG iterations per solve")
SOLVERS.register("auto", _auto, rtol=Option(None, **_RTOL), max_iterations=_MAX_ITERATIONS,
                 doc="CHOLMOD (SuperLU without scikit-sparse); mg or amg where a factor would not fit "
                     "or mg is faster (the options apply to those)")
SOLVERS.register("cholmod", _cholmod, doc="CHOLMOD supernodal Cholesky (scikit-sparse)")
SOLVERS.register("superlu", lambda context: SuperLUSolver(symmetric=context.symmetric),
                 doc="SciPy's SuperLU")
SOLVERS.register("amg", _amg, rtol=Option(1e-8, **_RTOL), max_iterations=_MAX_ITERATIONS,
                 doc="CG preconditioned by smoothed-aggregation AMG (pyamg)")
SOLVERS.register("reuse", _reuse, rtol=Option(1e-4, **_RTOL),
                 max_cg_iterations=Option(30, "integer", bounds={"ge": 1},
                                          doc="refactorize when CG needs more iterations"),
                 doc="CG preconditioned by the last CHOLMOD factor (approximate reanalysis)")
SOLVERS.register("mg", _mg, levels=Option("auto", "count", bounds={"ge": 1}, doc="grid levels"),
                 smoother=Option("chebyshev", "choice", choices=SMOOTHERS, doc="the V-cycle's smoother"),
                 rtol=Option(1e-6, **_RTOL),
                 max_iterations=Option(500, "integer", bounds={"ge": 1}, doc="CG iterations per solve"),
                 operator=Option("matrix-free", "choice", choices=OPERATORS,
                                 doc="the fine level's operator: assembled or matrix-free"),
                 doc="CG preconditioned by a geometric multigrid V-cycle (structured grids only)")


def make_solver(name: str = "auto", symmetric: bool = True, *, node_coords=None, free_dofs=None,
                n_elements=None, nodes_per_element=None, components=None, grid=None,
                element_matrix=None, **options):
    """A fresh solver by name (one of SOLVERS) with its options (the registered defaults
    for those not given); see :class:`SolverContext` for the other arguments."""
    context = SolverContext(symmetric, node_coords, free_dofs, n_elements, nodes_per_element, components,
                            None if grid is None else tuple(grid), element_matrix)
    return SOLVERS.create(name, context, **options)
