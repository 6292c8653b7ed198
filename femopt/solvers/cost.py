"""What one design iteration costs with each solver, from measured fits: ``solver: auto``'s
choice between a Cholesky factor and geometric multigrid on structured grids.

Seconds per optimization iteration (numeric factorization or hierarchy update, the solves
and the rest of the loop), measured with ``scripts/bench.py`` on this project's machines
(2 cores, OpenBLAS, shared with other jobs: the figures are noisy, the exponents less so).
docs/solvers.md lists the measurements and the fits.

- cholmod: nested-dissection factorization, ``a · (n / n_ref)^p`` with n the free DOFs;
- mg: CG iterations × (fine-level products + V-cycle), linear in n: ``b · n + c``, the CG
  iteration count per solve being bounded independently of the grid (tests/test_multigrid.py).
"""

from __future__ import annotations

# (seconds at n_ref, n_ref free DOFs, exponent): CHOLMOD per iteration. 2D: 300×100, 600×200,
# 1200×400 (0.2515, 0.973, 5.715 s); 3D: 32×16×16, 64×32×32 (1.718, 22.66 s).
CHOLMOD = {2: (0.973, 241_400, 1.13), 3: (22.66, 209_088, 1.28)}
# (seconds per free DOF, seconds) per iteration with mg: b · n + c, c the part that does not
# scale (per-level work, the coarsest factor). 2D: 300×100, 1200×400 (0.334, 2.507 s);
# 3D: 32×16×16, 100×100×100 (0.63, 18.8 s); 64×32×32 (1.25 s) lies below the line.
MG = {2: (2.41e-6, 0.188), 3: (6.1e-6, 0.45)}


def cholmod_seconds(dim: int, n_free: float) -> float:
    """Estimated seconds per design iteration with CHOLMOD refactorizing every iteration."""
    seconds, n_ref, exponent = CHOLMOD[dim]
    return seconds * (float(n_free) / n_ref) ** exponent


def mg_seconds(dim: int, n_free: float) -> float:
    """Estimated seconds per design iteration with geometric multigrid-CG."""
    per_dof, fixed = MG[dim]
    return per_dof * float(n_free) + fixed


def mg_is_faster(dim: int, n_free: float) -> bool:
    """True where geometric multigrid's iteration is estimated cheaper than CHOLMOD's."""
    return dim in MG and mg_seconds(dim, n_free) < cholmod_seconds(dim, n_free)
