"""How much memory will a problem need? Estimated from counts alone, before anything large exists.

:func:`estimate_memory` takes numbers only (elements, nodes, nodes per element,
solver, load cases), so a preflight check can run before the mesh is built;
:func:`estimate_for_grid` derives the counts from a structured grid;
:func:`choose_solver` is what ``solver: auto`` should pick and :func:`check_fits`
raises :class:`~femopt.errors.MemoryLimitError` when the estimate exceeds what is available.

Every constant below is a measured resident size (bytes, peak RSS on Linux,
glibc, numpy 2.4, scipy 1.17, scikit-sparse 0.4, pyamg 5.4), rounded up so that
the estimate errs towards "needs more"; ``python scripts/bench_memory.py --stages``
remeasures them. The run's peak is what stays resident the whole run (interpreter,
mesh, assembler, filter, design vectors) plus the larger of two phases: building
the assembler's pattern (its sorting workspace), or the linear algebra (K, the
factor or AMG hierarchy, and the largest transient beside them: factorization
workspace, the sensitivity's element arrays, or writing the outputs).

Nested-dissection fill of CHOLMOD (supernodal) on femopt's structured grids,
measured with ``--stages`` (3D: x = 0 face clamped; 2D: the MBB supports):

============  =========  ==========  ====================
grid          n free     nnz(L)      fill
============  =========  ==========  ====================
32×16×16      27 744     1.42·10⁷    16.9 · n^(4/3)
24×24×24      45 000     3.00·10⁷    18.7 · n^(4/3)
40×20×20      52 920     3.57·10⁷    18.0 · n^(4/3)
40×40×40      201 720    2.42·10⁸    20.5 · n^(4/3)  (earlier measurement)
200×100       40 500     3.29·10⁶    5.3 · n log₂ n
400×200       161 000    1.43·10⁷    5.1 · n log₂ n
800×400       642 000    6.80·10⁷    5.5 · n log₂ n
============  =========  ==========  ====================

at 8.8–12.3 resident bytes per entry of L (values, supernodal padding, indices);
fill × bytes per entry is 185–222 · n^(4/3) in 3D and 52–61 · n log₂ n in 2D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from femopt.errors import MemoryLimitError
from femopt.solvers import mg_kernels
from femopt.solvers.cost import mg_is_faster

# nnz(L) ≈ C · n^(4/3) in 3D and C · n · log₂ n in 2D (nested dissection), rounded up.
FILL_3D = 21.0
FILL_2D = 6.0
BYTES_PER_ENTRY = 11.0
# The factor may take at most this share of the memory available now: the mesh, the
# assembler's scatter, K and the filter need the rest.
MEMORY_SHARE = 0.6

# The solvers the estimate has a model of (not the registry femopt.solvers.SOLVERS: auto is
# resolved before estimating).
MODELLED_SOLVERS = ("cholmod", "reuse", "superlu", "amg", "mg")
GB = 1e9

# Resident after importing numpy, scipy, scikit-sparse, pyamg and femopt (measured 109 MB).
INTERPRETER = 115e6
# matplotlib, imported to write the figures (measured 29 MB).
PLOTTING = 30e6
# The assembler's construction sorts about 2²⁴ (element, row, column) candidates per
# block (Assembler's chunk_size): 31–34 bytes each measured, 2D and 3D; glibc keeps
# about a quarter of that workspace after it is freed (0.11–0.23 measured).
ASSEMBLY_BLOCK = 1 << 24
BYTES_PER_CANDIDATE = 40.0
RETAINED_SHARE = 0.25
# SuperLU (MMD on Aᵀ + A, partial pivoting) in an optimization run: in 2D its factor
# takes 4.3× (200×100) and 6.0× (400×200) CHOLMOD's estimate; in 3D it grows like n²,
# 2.3–3.6 bytes · n² (16×16×16, 24×12×12, 32×16×16). Measured on these small grids only.
SUPERLU_FILL_2D = 7.0
SUPERLU_BYTES_3D = 4.0
# Smoothed-aggregation AMG with the rigid-body modes, per stored entry of the full
# (mirrored) K: the hierarchy keeps 21–26 bytes and peaks at 44–57 during its setup.
AMG_KEPT = 27.0
AMG_SETUP = 31.0
# Geometric multigrid (femopt.solvers.multigrid): nodal vectors per DOF kept on the fine
# level (V-cycle, CG, Lanczos, diagonal), element work arrays (2 per level, n_local
# each), and the coarsest grid's direct problem (at most COARSE_DOFS unknowns).
MG_NODAL_VECTORS = 12
MG_COARSE_DOFS = 20000
# With the fused kernels (femopt.solvers.mg_kernels, numba): the coarse element matrices in
# float32 only, no element work arrays on any level, the sensitivity read from nodal
# arrays (no (n_el, 24) gathers), and fewer nodal vectors alive (one result per precision,
# the mask, the warm start, the inverse diagonal: 531 MB in the solver at 10⁶ measured,
# against 1.1 GB on the numpy path); the Galerkin projection runs in slabs (no copy of
# level 1's matrices), the grid's convolution filter keeps its row sums only, and fewer
# design vectors are alive than on a mesh, and no DOF table is built (measured `femopt run`
# peaks of the H8 cantilevers: 10⁶ 1.30 GB, 2·10⁶ 2.65 GB (before the DOF table went) and
# 10⁷ 9.43 GB; the estimate errs high by 1.25×, 1.12× and 1.45×).
MG_KERNEL_NODAL_VECTORS = 6
MG_KERNEL_ELEMENT_VECTORS = 16
MG_KERNEL_FILTER_VECTORS = 2
# Per element: design vectors and optimizer state (x, ρ̃, ρ, E, gradients, MMA's
# asymptotes and history) and the filter's arrays, in float64.
ELEMENT_VECTORS = 40
FILTER_VECTORS = 12
# Per DOF and load case: forces, u, λ, right-hand sides, full-length copies.
DOF_VECTORS = 8


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak resident memory of one run, in bytes.

    total_bytes: the sum of ``parts``; parts: what is resident at the peak, by name
    (interpreter, mesh, assembly, filter, vectors, matrix, factor or preconditioner,
    workspace, outputs); solver: the solver it was estimated for.
    """

    total_bytes: float
    parts: dict[str, float] = field(compare=False)
    solver: str

    def describe(self, largest: int = 3) -> str:
        """One line: "about 3.1 GB (factor 2.2 GB, assembly 0.6 GB, workspace 0.2 GB, …)"."""
        ranked = sorted(self.parts.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{name} {_gb(size)}" for name, size in ranked[:largest])
        return f"about {_gb(self.total_bytes)} ({shown}{', …' if len(ranked) > largest else ''})"

    __str__ = describe


def estimate_memory(dim: int, n_elements: int, n_nodes: int, nodes_per_element: int, solver: str,
                    n_cases: int = 1, n_free: int | None = None,
                    assembled: bool | None = None, components: int | None = None,
                    kernels: bool | None = None) -> MemoryEstimate:
    """Peak resident bytes of an elasticity run (setup, iterations, outputs) from its counts.

    dim: 2 or 3; nodes_per_element: 4 (Q4) or 8 (H8) on grids, 3 (T3) or 4 (T4) on
    simplex meshes; solver: one of MODELLED_SOLVERS; n_free: unknowns after supports
    (default all DOFs, which errs high); assembled: whether K is assembled (its pattern,
    scatter and values) — default: for every solver but mg, whose matrix-free fine level
    needs no K (``operator: assembled`` does); components: DOFs per node (None: dim; 1 for
    a temperature — the factor keeps elasticity's fill per unknown, which errs high);
    kernels: whether mg runs its fused kernels (None: :func:`mg_kernels.enabled`, numba found).
    Pure arithmetic: nothing is allocated, so it runs before the mesh exists.
    """
    if solver not in MODELLED_SOLVERS:
        raise ValueError(f"solver {solver!r}: estimate one of {', '.join(MODELLED_SOLVERS)}")
    n_el, n_nodes, npe = float(n_elements), float(n_nodes), int(nodes_per_element)
    c = dim if components is None else int(components)
    n_dofs = c * n_nodes
    n = float(n_dofs if n_free is None else n_free)
    local = c * npe
    # Stored entries of K's lower triangle: each DOF couples with c · (neighbour nodes).
    nnz_lower = (c * _neighbours(dim, npe, n_el, n_nodes) * n + n) / 2
    nnz_full = 2 * nnz_lower - n
    index = 4 if max(n_dofs, n_el * local) < 2**31 else 8

    fused_mg = solver == "mg" and (mg_kernels.enabled() if kernels is None else kernels)
    # The (n_el, local) DOF table: mg's evaluator never builds it (femopt.fem.assembly.ElementMap).
    dof_table = 0.0 if fused_mg else 8 * n_el * local
    mesh = 8 * (dim * n_nodes + n_el * npe) + dof_table + 8 * 3 * n_dofs
    pairs = n_el * local * (local + 1) / 2
    block = BYTES_PER_CANDIDATE * min(n_el * local**2, ASSEMBLY_BLOCK)
    assembly = (pairs * (8 + index) + nnz_lower * 2 * (4 if pairs < 2**31 else 8)
                + RETAINED_SHARE * block)
    # The final concatenations of the pattern and the scatter's row pointers.
    assembly_workspace = (1 - RETAINED_SHARE) * block + 16 * nnz_lower
    held = {
        "interpreter": INTERPRETER,
        "mesh": mesh,
        "assembly": assembly,
        "filter": 8 * FILTER_VECTORS * n_el,
        "vectors": 8 * (ELEMENT_VECTORS * n_el + DOF_VECTORS * n_dofs * n_cases),
    }
    solving = {"matrix": 8 * nnz_lower}
    if fused_mg:  # a structured grid: the convolution filter, fewer design vectors (see above)
        held["filter"] = 8 * MG_KERNEL_FILTER_VECTORS * n_el
        held["vectors"] = 8 * (MG_KERNEL_ELEMENT_VECTORS * n_el + DOF_VECTORS * n_dofs * n_cases)
    if not (solver != "mg" if assembled is None else assembled):
        del held["assembly"], solving["matrix"]
        assembly_workspace = 0.0
    if solver in ("cholmod", "reuse", "superlu"):
        factor = cholesky_bytes(n, dim, c)
        if solver == "superlu":
            factor = SUPERLU_FILL_2D * factor if dim == 2 else SUPERLU_BYTES_3D * n**2
        solving["factor"] = factor
        # METIS ordering on the graph (CHOLMOD); SuperLU also mirrors K twice.
        workspace = 16 * nnz_lower + (24 * nnz_full if solver == "superlu" else 0)
        if solver == "reuse":  # the K the factor belongs to, CG vectors
            solving["matrix"] += 8 * nnz_lower + 8 * 6 * n * n_cases
    elif solver == "mg":
        # Coarse element matrices: n_el / 2^d elements on level 1, each level 2^d times
        # fewer; the fine level is matrix-free (element scales and the one element matrix).
        geometric = 1 / (2**dim - 1)
        if fused_mg:  # float32 matrices, no work arrays (module constants above)
            coarse = 4 * n_el * local**2 * geometric
            work = 0.0
            vectors = 8 * n * (MG_KERNEL_NODAL_VECTORS + 4 * n_cases)
        else:
            coarse = 8 * n_el * local**2 * geometric
            work = 2 * 8 * n_el * local * (1 + geometric)
            vectors = 8 * n * (MG_NODAL_VECTORS * (1 + geometric) + 6 * n_cases)
        solving["preconditioner"] = coarse + work + vectors + cholesky_bytes(min(n, MG_COARSE_DOFS), dim, c)
        # Projecting level 1 to level 2: a copy of a quarter of level 1's matrices (3D), and
        # the fine diagonal's element array.
        workspace = (0.0 if fused_mg else 2 * 8 * n_el * local**2 * geometric**2) + 8 * n_el * local
    else:
        modes = 1 if c == 1 else 3 if dim == 2 else 6  # AMG's near-null space: rigid-body modes
        solving["preconditioner"] = AMG_KEPT * nnz_full + 8 * modes * n + 8 * 4 * n * n_cases
        workspace = AMG_SETUP * nnz_full + 8 * modes * n
    # element_energy_pullback gathers λ_e and u_e per element, and einsum one more (mg's
    # fused kernel reads the nodal arrays instead).
    sensitivity = 0.0 if solver == "mg" and fused_mg else 3 * 8 * n_el * local * n_cases
    outputs = PLOTTING + 8 * (12 * n_el + 2 * n_el * npe + 2 * dim * n_nodes)
    transient = max(workspace, sensitivity, outputs)
    if sum(solving.values()) + transient >= assembly_workspace:
        name = "outputs" if transient == outputs else "workspace"
        parts = {**held, **solving, name: transient}
    else:
        parts = {**held, "workspace": assembly_workspace}
    return MemoryEstimate(total_bytes=sum(parts.values()), parts=parts, solver=solver)


def estimate_for_grid(grid, solver: str, n_cases: int = 1) -> MemoryEstimate:
    """:func:`estimate_memory` for a structured grid (nx, ny[, nz]) of Q4 or H8 elements,
    every DOF counted free."""
    grid = tuple(int(v) for v in grid)
    dim = len(grid)
    return estimate_memory(dim, math.prod(grid), math.prod(v + 1 for v in grid), 2**dim, solver,
                           n_cases=n_cases)


def choose_solver(dim: int, n_elements: int, n_nodes: int, nodes_per_element: int,
                  available: float | None = None, n_cases: int = 1,
                  n_free: int | None = None, structured: bool = False,
                  components: int | None = None) -> str | None:
    """What ``solver: auto`` should use: "cholmod" when its factor takes at most MEMORY_SHARE
    of ``available`` bytes (default: MemAvailable now) and the whole run fits — on a
    structured grid (``structured``) only where :func:`femopt.solvers.cost.mg_is_faster`
    says geometric multigrid is not faster (a model of elasticity, ``components`` None or
    dim: other fields keep CHOLMOD while it fits) —, else the iterative solver that fits:
    "mg" on structured grids, "amg" on other meshes; None when nothing fits."""
    available = available_bytes() if available is None else available
    counts = (dim, n_elements, n_nodes, nodes_per_element)
    n = (dim if components is None else components) * n_nodes if n_free is None else n_free
    iterative = "mg" if structured else "amg"
    fits = estimate_memory(*counts, iterative, n_cases, n_free, components=components).total_bytes <= available
    direct = estimate_memory(*counts, "cholmod", n_cases, n_free, components=components)
    # The parts list only what is held at the peak: a small factor (few free DOFs, as with
    # one temperature per node) may be left out when assembly's workspace is the peak.
    factor = direct.parts.get("factor", cholesky_bytes(n, dim, components))
    if factor <= MEMORY_SHARE * available and direct.total_bytes <= available:
        elastic = components in (None, dim)
        if not (structured and elastic and fits and mg_is_faster(dim, n)):
            return "cholmod"
    return iterative if fits else None


def check_fits(estimate: MemoryEstimate, available: float | None = None) -> None:
    """Raise MemoryLimitError (one line, both numbers) when ``estimate`` exceeds ``available``
    bytes (default: MemAvailable now)."""
    available = available_bytes() if available is None else available
    if estimate.total_bytes <= available:
        return
    advice = "use a coarser grid, solver: mg (grids) or amg, or --force to try anyway"
    if estimate.solver in ("amg", "mg"):
        advice = "use a coarser grid, or --force to try anyway"
    raise MemoryLimitError(f"memory: this problem needs {estimate.describe()} with solver "
                           f"{estimate.solver} but {_gb(available)} is available; {advice}")


def cholesky_bytes(n_free: int, dim: int, components: int | None = None) -> float:
    """Estimated resident bytes of the CHOLMOD factor of a structured-grid stiffness with
    ``n_free`` unknowns in ``dim`` (2 or 3) dimensions, ``components`` per node (None: dim).

    The fill was measured for elasticity; the factor of c unknowns per node has c² entries
    per pair of coupled nodes, so a field of c components on n/c nodes takes (c/dim)² of
    elasticity's factor on those nodes (n·dim/c unknowns)."""
    c = dim if components is None else components
    n = max(float(n_free) * dim / c, 2.0)
    fill = FILL_3D * n ** (4 / 3) if dim == 3 else FILL_2D * n * math.log2(n)
    return BYTES_PER_ENTRY * fill * (c / dim) ** 2


def available_bytes() -> float:
    """MemAvailable from /proc/meminfo in bytes; +inf where it cannot be read (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def cholesky_fits(n_free: int, dim: int, available: float | None = None) -> bool:
    """True when the estimated factor takes at most MEMORY_SHARE of ``available`` bytes
    (default: what /proc/meminfo says is available now)."""
    available = available_bytes() if available is None else available
    return cholesky_bytes(n_free, dim) <= MEMORY_SHARE * available


def _neighbours(dim: int, nodes_per_element: int, n_elements: float, n_nodes: float) -> float:
    """Nodes coupled to an interior node (itself included)."""
    known = {(2, 4): 9, (3, 8): 27, (2, 3): 7, (3, 4): 15}
    if (dim, nodes_per_element) in known:
        return known[(dim, nodes_per_element)]
    # Any other cell type: every node pair of every element counted once per node (an upper bound).
    return nodes_per_element**2 * n_elements / max(n_nodes, 1.0)


def _gb(size: float) -> str:
    if size == math.inf:
        return "unlimited memory"
    return f"{size / GB:.1f} GB" if size >= 0.95 * GB else f"{size / 1e6:.0f} MB"
