"""The compiled kernels of :mod:`femopt.solvers.mg_kernels` (imported on first use: numba's
import takes a third of a second, and most runs never apply a multigrid).

Arrays are 3D: nodal (N0, N1, N2, c), element (e0, e1, e2); a 2D grid comes with a unit
middle axis. ``corners`` (2^d, 3): the local nodes' offsets, lexicographic (axis 0 slowest).
Each function does a range of planes on the calling thread without the GIL (``nogil``):
:mod:`femopt.solvers.mg_kernels` runs ranges on its threads. (numba's own ``parallel=True``
doubled the compile time and its OpenMP threads spin between calls and are not fork-safe.)
"""

import numpy as np
from numba import njit

# No reassociation: every sum keeps its order; FMA contraction is allowed.
_FAST = {"contract", "nsz", "arcp", "nnan", "ninf"}
# Elements per block of the fine kernel: its node rows (12, BLOCK) and products (12, BLOCK)
# stay in L1 (2 · 12 · 256 · 8 B = 48 KB in double).
BLOCK = 256


@njit(cache=True, nogil=True, fastmath=_FAST)
def shared_planes(lo, hi, x, E, K0, corners, free, extra, has_extra, y):  # pragma: no cover - compiled
    """Node planes [lo, hi) of y = free · Σ_e E_e K0 u_e + extra · x: each plane p pulls
    the rows of its corners from the element planes p − 1 (their upper face) and p (lower
    face), so that a plane is written by one thread only."""
    N0, N1, N2, c = x.shape
    e0, e1, e2 = E.shape
    n_corners = corners.shape[0]
    m = n_corners * c
    h = m // 2                        # rows of one face's corners
    n_rows = n_corners // 2           # node rows (axis-0, axis-1 offsets) of an element row
    # An element row's corners (…, 0) and (…, 1) read the same node row shifted by one:
    # copied once, component by component (one padding column per element row), so that
    # both are contiguous views of R and a block of element rows is one long vector.
    stride = e2 + 1
    rows = max(1, BLOCK // stride)    # element rows per block
    width = rows * stride
    R = np.zeros((n_rows * c, width + 1), x.dtype)   # node rows of a block, per component
    V = np.empty((h, width), x.dtype)                # the face's rows of K0 u_e
    Y = np.empty((N1, c, N2), x.dtype)               # node plane p, per component
    for p in range(lo, hi):
        Y[...] = 0
        for side in range(2):
            ie = p - 1 + side                # element plane; node plane p is its face oi
            if ie < 0 or ie >= e0:
                continue
            oi = 1 - side
            for j0 in range(0, e1, rows):
                nr = min(rows, e1 - j0)
                nb = nr * stride
                for t in range(n_rows):
                    oa, ob = corners[2 * t, 0], corners[2 * t, 1]
                    for jj in range(nr):
                        xr = x[ie + oa, j0 + jj + ob]
                        for q in range(c):
                            Rq = R[t * c + q, jj * stride:]
                            for k in range(N2):
                                Rq[k] = xr[k, q]
                # V = K0[face rows] @ U: two rows and four columns of K0 per pass
                for r in range(0, h, 2):
                    row = oi * h + r
                    V0 = V[r]
                    V1 = V[r + 1]
                    for e in range(nb):
                        V0[e] = 0
                        V1[e] = 0
                    for b in range(0, m, 4):
                        k0, k1, k2, k3 = K0[row, b], K0[row, b + 1], K0[row, b + 2], K0[row, b + 3]
                        l0, l1, l2, l3 = K0[row + 1, b], K0[row + 1, b + 1], K0[row + 1, b + 2], K0[row + 1, b + 3]
                        a0, a1, a2, a3 = b // c, (b + 1) // c, (b + 2) // c, (b + 3) // c
                        U0 = R[(a0 // 2) * c + b % c, a0 % 2:]
                        U1 = R[(a1 // 2) * c + (b + 1) % c, a1 % 2:]
                        U2 = R[(a2 // 2) * c + (b + 2) % c, a2 % 2:]
                        U3 = R[(a3 // 2) * c + (b + 3) % c, a3 % 2:]
                        for e in range(nb):
                            u0, u1, u2, u3 = U0[e], U1[e], U2[e], U3[e]
                            V0[e] += k0 * u0 + k1 * u1 + k2 * u2 + k3 * u3
                            V1[e] += l0 * u0 + l1 * u1 + l2 * u2 + l3 * u3
                for r in range(h):
                    a = oi * n_rows + r // c
                    ob, oc = corners[a, 1], corners[a, 2]
                    Vr = V[r]
                    for jj in range(nr):
                        Ej = E[ie, j0 + jj]
                        Yr = Y[j0 + jj + ob, r % c, oc:]
                        off = jj * stride
                        for k in range(e2):
                            Yr[k] += Ej[k] * Vr[off + k]
        for j in range(N1):
            for k in range(N2):
                for q in range(c):
                    v = Y[j, q, k] * free[p, j, k, q]
                    if has_extra:
                        v += extra[p, j, k, q] * x[p, j, k, q]
                    y[p, j, k, q] = v


@njit(cache=True, nogil=True, fastmath=_FAST)
def element_planes(lo, hi, x, K, corners, y):  # pragma: no cover - compiled
    """y += Σ K_e u_e over the element planes lo, lo + 2, … < hi, one element at a time:
    each K_e is read once, whole (symmetric: its column b is its row b, contiguous). Planes
    two apart share no node plane: ranges of one parity may run on several threads."""
    N0, N1, N2, c = x.shape
    e1, e2 = max(N1 - 1, 1), N2 - 1    # 2D: one element along the unit middle axis
    n_corners = corners.shape[0]
    m = n_corners * c
    u = np.empty(m, x.dtype)
    v = np.empty(m, x.dtype)
    for ie in range(lo, hi, 2):
        for j in range(e1):
            for k in range(e2):
                Ke = K[(ie * e1 + j) * e2 + k]
                for a in range(n_corners):
                    for q in range(c):
                        u[a * c + q] = x[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q]
                for r in range(m):
                    v[r] = 0
                for b in range(m):
                    ub = u[b]
                    for r in range(m):
                        v[r] += Ke[b, r] * ub
                for a in range(n_corners):
                    for q in range(c):
                        y[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q] += v[a * c + q]


# Once per design and load case, in double: here the dot products may reassociate (vectorized).
@njit(cache=True, nogil=True, fastmath=_FAST | {"reassoc"})
def energy_planes(lo, hi, lam, u, K0, corners, out):  # pragma: no cover - compiled
    """out[e] += λ_eᵀ K0 u_e for the elements of the element planes [lo, hi) (each writes
    its own plane of out: ranges may run on several threads)."""
    N0, N1, N2, c = u.shape
    e0, e1, e2 = out.shape
    n_corners = corners.shape[0]
    m = n_corners * c
    u_e = np.empty(m, u.dtype)
    for ie in range(lo, hi):
        for j in range(e1):
            for k in range(e2):
                for a in range(n_corners):
                    for q in range(c):
                        u_e[a * c + q] = u[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q]
                total = 0.0
                for a in range(n_corners):
                    for q in range(c):
                        r = a * c + q
                        Kr = K0[r]
                        v = 0.0
                        for b in range(m):
                            v += Kr[b] * u_e[b]
                        total += lam[ie + corners[a, 0], j + corners[a, 1], k + corners[a, 2], q] * v
                out[ie, j, k] += total
