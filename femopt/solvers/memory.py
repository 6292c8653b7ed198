"""Will a Cholesky factor fit? A cheap estimate for ``solver: auto``.

CHOLMOD's symbolic analysis knows the factor's size, but scikit-sparse does not
expose it before the numeric factorization, so ``auto`` uses a fit to measured
nested-dissection fill on femopt's structured grids (CHOLMOD supernodal,
scikit-sparse 0.4, the x = 0 face clamped):

============  =========  ==========  ==================
grid          n free     nnz(L)      nnz(L) / n^(4/3)
============  =========  ==========  ==================
24×24×24      45 000     2.98·10⁷    18.6
48×24×24      90 000     7.45·10⁷    18.5
40×40×40      201 720    2.42·10⁸    20.5
96×32×32      313 632    3.84·10⁸    18.0
600×200 (2D)  241 200    2.23·10⁷    5.2 · n log₂ n
============  =========  ==========  ==================

and about 10 bytes of resident memory per entry of L (values plus supernodal
padding and indices). The constants below are rounded up: the estimate errs
towards "does not fit".
"""

from __future__ import annotations

import math

# nnz(L) ≈ C · n^(4/3) in 3D and C · n · log₂ n in 2D (nested dissection), rounded up.
FILL_3D = 24.0
FILL_2D = 7.0
BYTES_PER_ENTRY = 10.0
# The factor may take at most this share of the memory available now: the mesh, the
# assembler's scatter, K and the filter need the rest.
MEMORY_SHARE = 0.6


def cholesky_bytes(n_free: int, dim: int) -> float:
    """Estimated resident bytes of the CHOLMOD factor of a structured-grid stiffness with
    ``n_free`` unknowns in ``dim`` (2 or 3) dimensions."""
    n = max(int(n_free), 2)
    fill = FILL_3D * n ** (4 / 3) if dim == 3 else FILL_2D * n * math.log2(n)
    return BYTES_PER_ENTRY * fill


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
