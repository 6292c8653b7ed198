"""Geometric multigrid-preconditioned CG (``solver: mg``) for structured grids.

CG on the reduced stiffness K, preconditioned by one symmetric V-cycle on the nested
hierarchy of the element grid (:mod:`femopt.solvers.mg_hierarchy`): damped Jacobi or
Chebyshev smoothing, Galerkin coarse operators built from the element scales by small
dense products, the coarsest level factorized by CHOLMOD (SuperLU without scikit-sparse)
with its symbolic analysis done once. Between design iterations the interpolation never
changes: "factorize" recomputes the coarse element matrices, the diagonals and the
coarsest factor only — no setup like AMG's (Amir, Aage & Lazarov 2014; the DTU MGCG codes;
TopOpt_in_PETSc).

The fine operator is applied matrix-free, ``K u = Σ_e E_e K_0 u_e``, from the element
scales and the one element matrix: it reads the scales and the nodal vectors instead of
K's 27 · 3 entries per row (docs/solvers.md's Performance section measures both at 10⁶
elements; ``operator: assembled`` uses K's lower triangle instead). Diagonal terms that
are in K but not in the elements (grounded springs) are taken from K's diagonal, and
lent to one element each for the coarse operators. The V-cycle runs in single precision
unless rtol < 1e-8; CG, its products and vectors are double.

Every array operation here is a slice, an element-wise product or a small dense product,
so that an array library other than numpy (CuPy) can run the same V-cycle. With numba, the
level products and the sensitivity run instead in fused multi-threaded kernels
(:mod:`femopt.solvers.mg_kernels`: no element work arrays, every core; the same results to
round-off); ``mg_kernels.USE_NUMBA = False`` (or FEMOPT_NUMBA=0) keeps this numpy path.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from femopt.errors import SolverError
from femopt.solvers import mg_kernels
from femopt.solvers.iterative import pcg, solve_columns
from femopt.solvers.superlu import SuperLUSolver

try:
    from femopt.solvers.cholmod import CholmodSolver
except ImportError:  # scikit-sparse is optional
    CholmodSolver = None
from femopt.solvers.mg_hierarchy import (array_shape, auto_levels, build_levels, child_interpolation,
                                         corner_offsets, gather, local_order, max_levels, project_elements,
                                         project_scaled, prolong, restrict, scatter, scatter_corners)

SMOOTHERS = ("jacobi", "chebyshev")
OPERATORS = ("matrix-free", "assembled")
# The coarsest grid is solved directly; auto levels coarsen until it has at most this many
# DOFs (its factorization then costs less than a fine-level smoothing sweep at 10⁶ elements).
COARSE_DOFS = {2: 20000, 3: 10000}
# Damped Jacobi x += ω D⁻¹(b − Ax) with ω = JACOBI_SCALE / λmax(D⁻¹A): the classical 4/3
# (a fixed ω = 0.6, as in the DTU codes' scaling, diverges here: λmax(D⁻¹A) ≈ 4.2 for H8).
JACOBI_SCALE = 4 / 3
CHEBYSHEV_RANGE = 0.1     # smooth the upper part [0.1, 1] · λmax(D⁻¹A) of the spectrum
# The V-cycle is only a preconditioner: in single precision it streams half the bytes (its
# products are bandwidth-bound). The outer CG, its products and its vectors stay double; a
# tighter rtol than this (check-grad's round-off solves) runs the V-cycle in double too,
# since single-precision rounding makes the preconditioner slightly nonsymmetric.
SINGLE_PRECISION_RTOL = 1e-8
# λmax(D⁻¹A) of the coarse levels by Lanczos (its largest Ritz value plus the residual bound,
# with a margin: an underestimate would make Jacobi and Chebyshev amplify the top modes).
LANCZOS_STEPS = 10
# Later designs start from the last top Ritz vector, which is nearly converged: fewer steps.
LANCZOS_WARM_STEPS = 5
LAMBDA_MARGIN = 1.05


class MGSolver:
    """CG preconditioned by a geometric multigrid V-cycle, for K on a structured grid.

    grid: elements per axis (nx, ny[, nz]) of a :class:`femopt.mesh.StructuredMesh`
        (its node and DOF numbering); element_matrix: (m, m) the shared element stiffness
        for a scale of 1, m = 2^d · components; free_dofs: (n_free,) sorted free DOFs,
        numbered ``components · node + component``; components: DOFs per node (None: d).
    levels: number of grids ("auto": coarsen until the coarsest has at most
        COARSE_DOFS DOFs); smoother: "chebyshev" (on [0.1, 1] · λmax(D⁻¹A)) or "jacobi"
        (damped, ω = 4 / (3 λmax)); sweeps: smoothing steps before and after the coarse
        correction (the Chebyshev polynomial's degree); rtol: relative residual target per
        right-hand side (below SINGLE_PRECISION_RTOL the V-cycle runs in double);
        max_iterations: CG iterations per solve, a SolverError beyond;
        operator: "matrix-free" or "assembled" fine level.

    ``factorize(K_lower, element_scales=(n_elements,))`` takes the element scales E_e
    (``uses_element_scales``): the coarse operators are built from them.
    Counters: ``last_iterations`` (per right-hand side of the last solve),
    ``cg_iterations`` (all), ``n_solves`` (right-hand sides solved),
    ``n_factorizations`` (hierarchy updates).
    """

    name = "mg"
    symmetric = True
    uses_element_scales = True
    STATE = ("_previous",)  # the warm start, kept by checkpoints

    def __init__(self, grid, element_matrix: np.ndarray, free_dofs: np.ndarray,
                 components: int | None = None, *, levels="auto", smoother: str = "chebyshev",
                 sweeps: int = 2, rtol: float = 1e-6, max_iterations: int = 500,
                 operator: str = "matrix-free"):
        if smoother not in SMOOTHERS:
            raise SolverError(f"solver: mg smoother must be one of {', '.join(SMOOTHERS)}, got {smoother!r}")
        if operator not in OPERATORS:
            raise SolverError(f"solver: mg operator must be one of {', '.join(OPERATORS)}, got {operator!r}")
        dim = len(grid)
        c = dim if components is None else int(components)
        K0 = np.asarray(element_matrix, float)
        m = 2**dim * c
        if K0.shape != (m, m):
            raise SolverError(f"solver: mg needs one shared ({m}, {m}) element matrix of the grid, "
                              f"got shape {K0.shape}")
        order = local_order(dim, c)
        K0 = K0[order][:, order]  # into the hierarchy's lexicographic local order
        self.dim, self.c, self.K0 = dim, c, K0
        self.shape = array_shape(grid)
        self.offsets = corner_offsets(dim)
        self.smoother, self.sweeps, self.operator = smoother, int(sweeps), operator
        self.rtol, self.max_iterations = float(rtol), int(max_iterations)
        self.cycle_dtype = np.float32 if self.rtol >= SINGLE_PRECISION_RTOL else np.float64
        n_dofs = int(np.prod([s + 1 for s in self.shape])) * c
        self.free_dofs = np.asarray(free_dofs)
        mask = np.zeros(n_dofs)
        mask[self.free_dofs] = 1.0
        node_shape = tuple(s + 1 for s in self.shape) + (c,)
        if levels == "auto":
            levels = auto_levels(self.shape, c, COARSE_DOFS.get(dim, 10000))
        if not isinstance(levels, (int, np.integer)) or levels < 1:
            raise SolverError(f"solver: mg levels must be 'auto' or an integer >= 1, got {levels!r}")
        if levels > max_levels(self.shape):  # a deeper hierarchy repeats one-element grids
            raise SolverError(f"solver: mg levels must be at most {max_levels(self.shape)} for the "
                              f"{' × '.join(map(str, grid))} grid, got {levels}")
        self.levels = build_levels(self.shape, c, mask.reshape(node_shape).astype(self.cycle_dtype),
                                   int(levels))
        self._K0_cycle = K0.astype(self.cycle_dtype)
        self._boundary = self._boundary_corrections()
        # The element bound of λmax(D⁻¹A) on the fine level: every element is a scaled K0.
        d0 = 1 / np.sqrt(np.diag(K0))
        self._fine_lambda = max(1.0, float(np.linalg.eigvalsh(d0[:, None] * K0 * d0[None, :])[-1]))
        self._coarse = None            # the coarsest level's direct solver
        self._coarse_pattern = None    # its lower triangle's pattern and scatter (_lower_pattern)
        self._E = None
        self._K_lower = None
        self._extra_diagonal = None    # (n_dofs,) diagonal terms of K beyond the elements (springs)
        self._previous = None          # the last solution (n_free, k): the next solve's start
        self._buffers = {}             # (level, dtype) → element and nodal work arrays
        self._operands = {}            # dtype → the fine level's (E, K0, free, extra) for the kernels
        self._ritz = {}                # level → the last top Ritz vector of D^-½AD^-½
        self.n_factorizations = 0
        self.cg_iterations = 0
        self.n_solves = 0
        self.last_iterations: list[int] = []

    # ---------------------------------------------------------------- set-up per design

    @property
    def needs_matrix(self) -> bool:
        """Whether :meth:`factorize` needs K itself: only for the assembled fine level; the
        matrix-free one takes the element scales and the springs' diagonal instead."""
        return self.operator == "assembled"

    def analyze(self, K_lower) -> None:
        """Check that K's diagonal is the first stored entry of each column (lower triangle,
        rows sorted): :meth:`factorize` reads it from there. Nothing to check without K."""
        if K_lower is None:
            return
        K = sp.csc_matrix(K_lower)
        first = K.indices[K.indptr[:-1]]
        if not np.array_equal(first, np.arange(K.shape[0])):
            raise SolverError("solver: mg needs K's lower triangle with sorted rows (femopt's assembly)")

    def factorize(self, K_lower, element_scales: np.ndarray | None = None,
                  extra_diagonal: np.ndarray | None = None) -> None:
        """Update the hierarchy for K = Σ_e E_e K_0 (+ diagonal terms): K_lower (n_free,
        n_free) its lower triangle (CSC), element_scales (n_elements,) the E_e. Without K
        (matrix-free, :attr:`needs_matrix` False), extra_diagonal (n_free,) gives the
        diagonal terms beyond the elements (grounded springs; None: none)."""
        if element_scales is None:
            raise SolverError("solver: mg needs the element scales (a structured grid's "
                              "stiffness assembled by femopt); use amg for other matrices")
        E = np.asarray(element_scales, float)
        fine = self.levels[0]
        if E.shape != (fine.n_elements,):
            raise SolverError(f"solver: mg got {E.shape} element scales for {fine.n_elements} elements")
        self._E = E
        self._E_cycle = E.astype(self.cycle_dtype)
        if K_lower is None and self.needs_matrix:
            raise SolverError("solver: mg with operator: assembled needs K")
        K = None if K_lower is None else sp.csc_matrix(K_lower)
        self._K_lower = K if self.needs_matrix else None
        # The fine diagonal from the elements, and what K has beyond it (springs).
        element_diagonal = scatter_corners(np.diag(self.K0).reshape(-1, self.c), E, fine.shape).ravel()
        diagonal = np.zeros(fine.n_dofs)
        if K is None:
            extra = np.zeros(fine.n_dofs)
            if extra_diagonal is not None:
                extra[self.free_dofs] = extra_diagonal
            diagonal[self.free_dofs] = element_diagonal[self.free_dofs] + extra[self.free_dofs]
        else:
            diagonal[self.free_dofs] = K.data[K.indptr[:-1]]
            extra = np.where(fine.free.ravel() > 0, diagonal - element_diagonal, 0.0)
            extra[np.abs(extra) <= 1e-12 * np.abs(diagonal)] = 0.0  # round-off of the two sums
        self._extra_diagonal = extra if extra.any() else None
        self._operands = {}
        fine.inverse_diagonal = _inverse(diagonal.reshape(fine.node_shape), fine.free).astype(self.cycle_dtype)
        for l in range(1, len(self.levels)):
            level, finer = self.levels[l], self.levels[l - 1]
            if l == 1:
                if level.K is None:  # kept between designs, in the V-cycle's precision
                    level.K = np.empty((level.n_elements,) + self.K0.shape, self.cycle_dtype)
                Kc = project_scaled(E, self.K0, finer.shape, finer.regions, out=level.K)
                for children, parents, correction in self._boundary:
                    Kc[parents] += E[children][:, None, None] * correction
                if self._extra_diagonal is not None:  # springs: Pᵀ S P, so level 1 stays Galerkin
                    parents, correction = self._diagonal_correction(self._extra_diagonal)
                    np.add.at(Kc, parents, correction.astype(Kc.dtype))
            else:
                if level.K is None:
                    level.K = np.empty((level.n_elements,) + self.K0.shape, self.cycle_dtype)
                Kc = project_elements(finer.K, finer.shape, finer.regions, out=level.K,
                                      run=mg_kernels.run_ranges, parts=mg_kernels.threads()
                                      if finer.n_elements >= mg_kernels.PARALLEL_ELEMENTS else 1)
            level.K = _mask_elements(Kc, level)
            d = scatter(np.einsum("nii->ni", level.K), level.shape, self.c)
            level.inverse_diagonal = _inverse(d, level.free)
        for l in range(len(self.levels) - 1):  # the coarsest is solved, not smoothed
            self.levels[l].lambda_max = self._estimate_lambda(l)
        self._factor_coarsest()
        self.n_factorizations += 1

    def _estimate_lambda(self, l: int) -> float:
        """λmax(D⁻¹A) of level l, from above: on the fine level the element bound (every
        element a scaled K0: xᵀAx = Σ E_e x_eᵀK0x_e ≤ μ0 xᵀDx); on coarse levels the largest
        Ritz value of Lanczos on D^-½AD^-½ plus its residual bound, started from the last
        design's top Ritz vector (LANCZOS_WARM_STEPS steps) or at random (LANCZOS_STEPS)."""
        if l == 0:
            return self._fine_lambda
        level = self.levels[l]
        scale = np.sqrt(level.inverse_diagonal)
        rng = np.random.default_rng(l + self.n_factorizations)
        v = rng.standard_normal(level.node_shape).astype(scale.dtype) * (scale > 0)
        steps = LANCZOS_STEPS
        if l in self._ritz:  # a little noise keeps it from missing a new top mode entirely
            v = self._ritz[l] + 0.05 * v / np.linalg.norm(v)
            steps = LANCZOS_WARM_STEPS
        v /= np.linalg.norm(v)
        basis, alphas, betas, previous, beta = [], [], [], np.zeros_like(v), 0.0
        for _ in range(steps):
            basis.append(v)
            w = scale * self._matvec(l, scale * v) - beta * previous
            alpha = float(np.sum(w * v))
            w -= alpha * v
            alphas.append(alpha)
            beta = float(np.linalg.norm(w))
            if beta < 1e-12 * abs(alpha):
                break
            betas.append(beta)
            previous, v = v, w / beta
        k = len(alphas)
        T = np.diag(alphas) + np.diag(betas[:k - 1], 1) + np.diag(betas[:k - 1], -1)
        theta, vectors = np.linalg.eigh(T)
        self._ritz[l] = sum(y * b for y, b in zip(vectors[:, -1], basis))
        residual = beta * abs(vectors[-1, -1])
        return float(LAMBDA_MARGIN * (theta[-1] + residual))

    def _diagonal_correction(self, extra: np.ndarray):
        """(parents (n,), (n, m, m)) the level-1 contributions P_cᵀ (s e_a e_aᵀ) P_c of
        diagonal terms s of the fine K (n_dofs,), each lent to one element at its node."""
        fine = self.levels[0]
        dofs = np.flatnonzero(extra)
        node, component = np.divmod(dofs, self.c)
        index = np.stack(np.unravel_index(node, fine.node_shape[:-1]), axis=1)    # (n, d)
        shape = np.asarray(fine.shape)
        element = np.minimum(index, shape - 1)
        corner = index - element                                                  # 0 or 1 per axis
        local = np.flatnonzero((corner[:, None, :] == self.offsets[None]).all(axis=2)
                               .ravel()) % len(self.offsets)
        local = local * self.c + component
        child = element % 2
        single = (shape % 2 == 1) & (element == shape - 1)
        parents = np.ravel_multi_index(tuple((element // 2).T), self.levels[1].shape)
        rows = np.empty((len(dofs), self.K0.shape[0]))
        for key in {(tuple(k), tuple(c)) for k, c in zip(single, child)}:  # ≤ 3^d kinds of child
            kinds = tuple("single" if k else "pair" for k in key[0])
            P = child_interpolation(kinds, key[1], self.c)
            pick = (single == key[0]).all(axis=1) & (child == key[1]).all(axis=1)
            rows[pick] = P[local[pick]]
        return parents, extra[dofs][:, None, None] * rows[:, :, None] * rows[:, None, :]

    def _boundary_corrections(self):
        """[(children, parents, (n, m, m))]: for the fine elements with fixed DOFs,
        P_cᵀ (Z K0 Z − K0) P_c, so that level 1 is the Galerkin operator of the reduced K;
        grouped by kind of child (each parent once per group)."""
        if len(self.levels) < 2:
            return []
        fine = self.levels[0]
        touched_all = _fixed_elements(fine.free)      # element array: has a fixed DOF
        numbers = np.arange(fine.n_elements).reshape(fine.shape)
        parents_all = np.arange(self.levels[1].n_elements).reshape(self.levels[1].shape)
        out = []
        for blocks in fine.regions:
            for b in blocks:
                touched = touched_all[b.fine]
                if not touched.any():
                    continue
                children = numbers[b.fine][touched]
                parents = np.broadcast_to(parents_all[b.coarse], touched.shape)[touched]
                z = _element_rows(fine.free, children)
                masked = z[:, :, None] * self.K0[None] * z[:, None, :] - self.K0[None]
                correction = np.matmul(np.matmul(b.P.T[None], masked), b.P[None])
                out.append((children, parents, correction))
        return out

    def _factor_coarsest(self) -> None:
        level = self.levels[-1]
        if self._coarse_pattern is None:
            self._coarse_pattern = _lower_pattern(level)
            self._coarse = _direct_solver()
        free, indptr, indices, positions, inverse = self._coarse_pattern
        n = len(indptr) - 1
        K_elements = level.K if level.K is not None else (
            self._E[:, None, None] * _mask_elements(np.broadcast_to(self.K0, (level.n_elements,) + self.K0.shape),
                                                    level))
        values = np.bincount(inverse, weights=K_elements.reshape(-1)[positions], minlength=len(indices))
        self._coarse.factorize(sp.csc_matrix((values, indices, indptr), shape=(n, n)))

    # ---------------------------------------------------------------- operators

    def _matvec(self, l: int, x: np.ndarray) -> np.ndarray:
        """A_l x for a nodal array x (zero at fixed DOFs); zero at fixed DOFs. The result is a
        work array of the level: valid until the next product on the same level."""
        level = self.levels[l]
        if l == 0 and self._K_lower is not None:
            K = self._K_lower
            xf = x.reshape(-1)[self.free_dofs]
            y = np.zeros(level.n_dofs)
            y[self.free_dofs] = K @ xf + K.T @ xf - K.data[K.indptr[:-1]] * xf
            return y.reshape(level.node_shape)
        if mg_kernels.enabled():
            return self._matvec_fused(l, x)
        ue, ye, y = self._work(l, x.dtype)
        gather(x, out=ue)
        if l == 0:  # K0 is symmetric; E_e applied in the scatter
            double = x.dtype == np.float64
            np.matmul(ue, self.K0 if double else self._K0_cycle, out=ye)
            scales = self._E if double else self._E_cycle
        else:
            np.matmul(level.K, ue[:, :, None], out=ye[:, :, None])
            scales = None
        y = scatter(ye, level.shape, self.c, out=y, scales=scales,
                    work=ue.reshape((2**self.dim,) + level.shape + (self.c,)))  # ue is free now
        if l == 0:  # coarse rows of fixed DOFs are zero already (masked element matrices)
            y *= level.free
            if self._extra_diagonal is not None:
                y += (self._extra_diagonal.reshape(level.node_shape) * x).astype(y.dtype, copy=False)
        return y

    def _matvec_fused(self, l: int, x: np.ndarray) -> np.ndarray:
        """:meth:`_matvec` by the fused kernels (:mod:`femopt.solvers.mg_kernels`): no element
        work arrays, one nodal result array per level and precision."""
        level = self.levels[l]
        dtype = x.dtype if l == 0 else level.K.dtype
        key = (l, dtype.char, "nodal")
        if key not in self._buffers:
            self._buffers[key] = np.empty(level.node_shape, dtype)
        y = self._buffers[key]
        if l > 0:  # coarse rows of fixed DOFs are zero already (masked element matrices)
            return mg_kernels.apply_elements(x.astype(dtype, copy=False), level.K, y)
        E, K0, free, extra = self._fine_operands(dtype)
        return mg_kernels.apply_shared(x, E, K0, free, extra, y)

    def _fine_operands(self, dtype):
        """(E (element array), K0, free mask, extra diagonal (nodal) or None) of the fine level
        in ``dtype``, for the fused kernel; converted once per design."""
        dtype = np.dtype(dtype)
        if dtype not in self._operands:
            fine = self.levels[0]
            double = dtype == np.float64
            E = (self._E if double else self._E_cycle).astype(dtype, copy=False).reshape(fine.shape)
            K0 = (self.K0 if double else self._K0_cycle).astype(dtype, copy=False)
            extra = None if self._extra_diagonal is None else \
                self._extra_diagonal.reshape(fine.node_shape).astype(dtype)
            self._operands[dtype] = (E, K0, fine.free.astype(dtype, copy=False), extra)
        return self._operands[dtype]

    def element_energy(self, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(n_elements,) dL/dE_e = −Σ_cases λ_eᵀ K0 u_e for full-length lam, u (n_dofs[, k])
        in femopt's DOF and element numbering: the sensitivity of K = Σ_e E_e K0, by the fused
        kernel (no (n_elements, m) gathers of λ_e and u_e); window gathers without numba."""
        fine = self.levels[0]
        lam, u = np.asarray(lam, float), np.asarray(u, float)
        lam, u = lam.reshape(len(lam), -1), u.reshape(len(u), -1)
        out = np.zeros(fine.shape)
        for k in range(u.shape[1]):
            lam_k = np.ascontiguousarray(lam[:, k]).reshape(fine.node_shape)
            u_k = np.ascontiguousarray(u[:, k]).reshape(fine.node_shape)
            if mg_kernels.enabled():
                mg_kernels.element_energies(lam_k, u_k, self.K0, out)
            else:
                out += np.einsum("ea,ea->e", gather(lam_k), gather(u_k) @ self.K0).reshape(fine.shape)
        return -out.reshape(-1)

    def _work(self, l: int, dtype):
        """(gathered, product, nodal result) work arrays of level l in ``dtype``: kept, as
        allocating (and page-faulting) 2 × 192 MB per product at 10⁶ elements cost more
        than the product itself."""
        key = (l, np.dtype(dtype).char)
        if key not in self._buffers:
            level = self.levels[l]
            m = self.K0.shape[0]
            self._buffers[key] = (np.empty((level.n_elements, m), dtype),
                                  np.empty((level.n_elements, m), dtype),
                                  np.empty(level.node_shape, dtype))
        return self._buffers[key]

    def _smooth(self, l: int, x: np.ndarray | None, b: np.ndarray) -> np.ndarray:
        """``sweeps`` steps of the smoother on A_l x = b from x (None: 0)."""
        level = self.levels[l]
        Dinv = level.inverse_diagonal
        if self.smoother == "jacobi":
            for _ in range(self.sweeps):
                r = b if x is None else b - self._matvec(l, x)
                step = (JACOBI_SCALE / level.lambda_max) * Dinv * r
                x = step if x is None else x + step
            return x
        # Chebyshev on D⁻¹A over [CHEBYSHEV_RANGE, 1] · λmax (Saad, Iterative Methods, alg. 12.1).
        upper = level.lambda_max
        lower = CHEBYSHEV_RANGE * upper
        theta, delta = (upper + lower) / 2, (upper - lower) / 2
        sigma = theta / delta
        rho = 1 / sigma
        r = Dinv * (b if x is None else b - self._matvec(l, x))
        d = r / theta
        x = d.copy() if x is None else x + d
        for _ in range(self.sweeps - 1):
            r = r - Dinv * self._matvec(l, d)
            rho_new = 1 / (2 * sigma - rho)
            d = rho_new * rho * d + (2 * rho_new / delta) * r
            rho = rho_new
            x += d
        return x

    def _vcycle(self, l: int, b: np.ndarray) -> np.ndarray:
        """≈ A_l⁻¹ b for a nodal array b (zero at fixed DOFs): one symmetric V-cycle."""
        level = self.levels[l]
        if l == len(self.levels) - 1:
            free, *_ = self._coarse_pattern
            x = np.zeros(level.n_dofs, b.dtype)
            x[free] = self._coarse.solve(b.reshape(-1)[free].astype(float))
            return x.reshape(level.node_shape)
        x = self._smooth(l, None, b)
        r = b - self._matvec(l, x)
        coarse = self.levels[l + 1]
        correction = self._vcycle(l + 1, restrict(r, level.shape) * coarse.free)
        x += prolong(correction, level.shape) * level.free
        return self._smooth(l, x, b)

    # ---------------------------------------------------------------- solving

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """One V-cycle on a full-length residual (n_dofs,), zero at fixed DOFs."""
        fine = self.levels[0]
        r = r.reshape(fine.node_shape).astype(self.cycle_dtype, copy=False)
        return self._vcycle(0, r).reshape(-1).astype(float, copy=False)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """K x for a full-length x (n_dofs,), zero at fixed DOFs (a work array: valid until
        the next product)."""
        return self._matvec(0, x.reshape(self.levels[0].node_shape)).reshape(-1)

    def solve(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹ B for B (n_free,) or (n_free, k), each column to ``rtol``, starting
        from the previous solve's solution of the same column."""
        if self._E is None:
            raise SolverError("solver: mg.solve called before factorize")
        self.last_iterations = []
        n_columns = 1 if np.ndim(B) == 1 else np.shape(B)[1]
        same = self._previous is not None and self._previous.shape == (len(B), n_columns)
        X = solve_columns(B, lambda b, col: self._solve_one(b, self._previous[:, col] if same else None))
        self._previous = X.reshape(len(B), -1)
        return X

    solve_transpose = solve  # K is symmetric

    def _solve_one(self, b: np.ndarray, guess: np.ndarray | None) -> np.ndarray:
        n = self.levels[0].n_dofs
        full_b = np.zeros(n)
        full_b[self.free_dofs] = b
        full_guess = np.zeros(n)
        if guess is not None:
            full_guess[self.free_dofs] = guess
        x, count, converged = pcg(self.matvec, self.precondition, full_b, full_guess,
                                  self.rtol, self.max_iterations, give_up=False)
        self.last_iterations.append(count)
        self.cg_iterations += count
        self.n_solves += 1
        if not converged:
            residual = np.linalg.norm(full_b - self.matvec(x)) / max(np.linalg.norm(full_b), 1e-300)
            raise SolverError(f"solver: mg-CG did not converge: relative residual {residual:.1e} "
                              f"after {count} iterations > rtol {self.rtol:.1e} (max_iterations "
                              f"{self.max_iterations}); raise max_iterations or use cholmod")
        return x[self.free_dofs]


def _inverse(diagonal: np.ndarray, free: np.ndarray) -> np.ndarray:
    """1/diagonal on free DOFs, 0 on fixed ones."""
    out = np.zeros_like(diagonal)
    np.divide(1.0, diagonal, out=out, where=(free > 0) & (diagonal > 0))
    return out


def _mask_elements(K: np.ndarray, level) -> np.ndarray:
    """Element matrices with the rows and columns of fixed DOFs zeroed (those elements only)."""
    z = gather(level.free)
    touched = np.flatnonzero((z == 0).any(axis=1))
    if len(touched):
        K = K if K.flags.writeable else np.array(K)  # a broadcast K0 is read-only
        zt = z[touched]
        K[touched] *= zt[:, :, None] * zt[:, None, :]
    return K


def _lower_pattern(level):
    """The coarsest level's reduced lower triangle: (free DOFs, indptr, indices, positions of
    the contributing element entries in the (n_el, m, m) array, their stored entry)."""
    node_numbers = np.arange(np.prod(level.node_shape[:-1])).reshape(level.node_shape[:-1] + (1,))
    nodes = gather(node_numbers)                                           # (n_el, 2^d)
    c = level.c
    dofs = (c * nodes[:, :, None] + np.arange(c)).reshape(len(nodes), -1)  # (n_el, m)
    free = np.flatnonzero(level.free.reshape(-1) > 0)
    reduced = np.full(level.n_dofs, -1)
    reduced[free] = np.arange(len(free))
    r = reduced[dofs]
    m = r.shape[1]
    e, a, b = np.nonzero((r[:, :, None] >= r[:, None, :]) & (r[:, None, :] >= 0))
    n = len(free)
    keys = r[e, b].astype(np.int64) * n + r[e, a]
    unique, inverse = np.unique(keys, return_inverse=True)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(unique // n, minlength=n), out=indptr[1:])
    positions = (e * m + a) * m + b
    return free, indptr, (unique % n), positions, inverse.ravel()


def _direct_solver():
    """The coarsest level's solver: CHOLMOD when installed, else SuperLU."""
    return SuperLUSolver(symmetric=True) if CholmodSolver is None else CholmodSolver()


def _fixed_elements(free: np.ndarray) -> np.ndarray:
    """(element array) True for the elements with a fixed DOF, from the nodal free mask
    (N0+1, …, c): an OR of the 2^d corner windows, without (n_el, 2^d · c) gathers."""
    fixed = (free == 0).any(axis=-1)
    dim = fixed.ndim
    shape = tuple(n - 1 for n in fixed.shape)
    out = np.zeros(shape, bool)
    for offset in corner_offsets(dim):
        out |= fixed[tuple(slice(o, o + n) for o, n in zip(offset, shape))]
    return out


def _element_rows(free: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """(len(elements), 2^d · c) the rows of ``gather(free)`` for the given element numbers
    (lexicographic local order, :func:`femopt.solvers.mg_hierarchy.corner_offsets`)."""
    dim = free.ndim - 1
    index = np.unravel_index(elements, tuple(n - 1 for n in free.shape[:-1]))
    corners = [free[tuple(i + o for i, o in zip(index, offset))] for offset in corner_offsets(dim)]
    return np.stack(corners, axis=1).reshape(len(elements), -1)
