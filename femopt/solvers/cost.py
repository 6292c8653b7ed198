"""What one design iteration costs with each solver, from measured fits: ``solver: auto``'s
choice between a Cholesky factor and geometric multigrid on structured grids.

Seconds per optimization iteration (numeric factorization or hierarchy update, the solves
and the rest of the loop), measured with ``scripts/bench.py`` on this project's machines
(2 cores, OpenBLAS, shared with other jobs: the figures are noisy, the exponents less so).
docs/solvers.md lists the measurements and the fits.

- cholmod: nested-dissection factorization, ``a · (n / n_ref)^p`` with n the free DOFs;
- mg: CG iterations × (fine-level products + V-cycle), linear in n: ``b · n``, the CG
  iteration count per solve being bounded independently of the grid (tests/test_multigrid.py).
"""

from __future__ import annotations

# (seconds at n_ref, n_ref free DOFs, exponent): CHOLMOD per iteration.
CHOLMOD = {2: (0.652, 241_000, 1.10), 3: (10.2, 209_088, 1.72)}
# Seconds per free DOF per iteration with mg.
MG = {2: 3.0e-6, 3: 8.0e-6}


def cholmod_seconds(dim: int, n_free: float) -> float:
    """Estimated seconds per design iteration with CHOLMOD refactorizing every iteration."""
    seconds, n_ref, exponent = CHOLMOD[dim]
    return seconds * (float(n_free) / n_ref) ** exponent


def mg_seconds(dim: int, n_free: float) -> float:
    """Estimated seconds per design iteration with geometric multigrid-CG."""
    return MG[dim] * float(n_free)


def mg_is_faster(dim: int, n_free: float) -> bool:
    """True where geometric multigrid's iteration is estimated cheaper than CHOLMOD's."""
    return dim in MG and mg_seconds(dim, n_free) < cholmod_seconds(dim, n_free)


def crossover(dim: int) -> float:
    """The free-DOF count above which mg is estimated faster (bisection on the two fits)."""
    low, high = 1.0, 1e12
    for _ in range(200):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if not mg_is_faster(dim, middle) else (low, middle)
    return high
