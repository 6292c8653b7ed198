"""Assembly of K(s) = Σ_e s_e K_e into a sparsity pattern built once.

The reduced stiffness (fixed DOFs eliminated) is stored as its **lower
triangle** in CSC form, which is what CHOLMOD reads. Everything that depends
only on the mesh — the pattern and the scatter from element scales to stored
values — is computed in the constructor; per design iteration, assembly is one
sparse mat-vec, ``values = S @ s``, and its pullback is ``s̄ = Sᵀ @ values̄``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Assembler:
    """Like ``K[dofs, dofs] += s_e · K_e`` for every element, then ``K[free, free]``, but
    with the pattern and scatter precomputed.

    element_dofs: (n_elements, n_local) global DOFs of each element.
    element_matrix: (n_local, n_local) symmetric element stiffness for s_e = 1.
    free_dofs: (n_free,) sorted global DOFs that stay unknown; the rest are fixed at 0.
    n_dofs: number of global DOFs.
    """

    def __init__(self, element_dofs: np.ndarray, element_matrix: np.ndarray,
                 free_dofs: np.ndarray, n_dofs: int):
        self.element_dofs = np.asarray(element_dofs)
        self.element_matrix = np.asarray(element_matrix, float)
        self.free_dofs = np.asarray(free_dofs)
        self.n_free = len(self.free_dofs)
        n_elements, n_local = self.element_dofs.shape

        reduced = np.full(n_dofs, -1)
        reduced[self.free_dofs] = np.arange(self.n_free)
        rdofs = reduced[self.element_dofs]                        # (n_el, n_local)
        rows = np.broadcast_to(rdofs[:, :, None], (n_elements, n_local, n_local))
        cols = np.broadcast_to(rdofs[:, None, :], (n_elements, n_local, n_local))
        keep = (cols >= 0) & (rows >= cols)                       # free and lower triangle
        rows, cols = rows[keep], cols[keep]
        element = np.broadcast_to(np.arange(n_elements)[:, None, None], keep.shape)[keep]
        local = np.broadcast_to(np.arange(n_local**2).reshape(n_local, n_local), keep.shape)[keep]

        # Column-major keys give CSC order directly; unique() is the one sort, done here only.
        keys, position = np.unique(cols.astype(np.int64) * self.n_free + rows, return_inverse=True)
        self.indices = (keys % self.n_free).astype(np.int32)
        self.indptr = np.searchsorted(keys // self.n_free, np.arange(self.n_free + 1)).astype(np.int32)
        self.nnz = len(keys)
        # An element meets each stored entry at most once, so no duplicates in the scatter.
        self.scatter = sp.csr_matrix(
            (self.element_matrix.ravel()[local], (position, element)), shape=(self.nnz, n_elements))
        self.gather = self.scatter.T.tocsr()
        self._diagonal = self.indices == np.repeat(np.arange(self.n_free), np.diff(self.indptr))
        self._column = np.repeat(np.arange(self.n_free, dtype=np.int32), np.diff(self.indptr))

    def values(self, scales: np.ndarray) -> np.ndarray:
        """(nnz,) stored lower-triangle values of K for element scales (n_elements,)."""
        return self.scatter @ scales

    def matrix(self, scales: np.ndarray) -> sp.csc_matrix:
        """Lower triangle of the reduced K(scales) as a CSC matrix (n_free, n_free)."""
        return sp.csc_matrix((self.values(scales), self.indices, self.indptr),
                             shape=(self.n_free, self.n_free))

    def pullback(self, values_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) s̄ = Sᵀ values̄: the VJP of :meth:`values`."""
        return self.gather @ values_bar

    def pattern_cotangent(self, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(nnz,) cotangent of the stored values for L with Kᵀλ = ∂L/∂u: K̄_ij = −λ_i u_j.

        lam, u: (n_free,) or (n_free, n_cases) reduced adjoint and displacement.
        A stored off-diagonal value v stands for K_ij and K_ji, so it collects both
        −λ_i u_j and −λ_j u_i.
        """
        lam, u = _as_block(lam), _as_block(u)
        i, j = self.indices, self._column
        bar = -np.einsum("nk,nk->n", lam[i], u[j])
        off = ~self._diagonal
        bar[off] -= np.einsum("nk,nk->n", lam[j[off]], u[i[off]])
        return bar

    def full_vector(self, reduced: np.ndarray, n_dofs: int) -> np.ndarray:
        """Expand (n_free[, k]) reduced values to (n_dofs[, k]) with zeros at fixed DOFs."""
        full = np.zeros((n_dofs,) + reduced.shape[1:])
        full[self.free_dofs] = reduced
        return full


def element_energy_pullback(element_dofs: np.ndarray, element_matrix: np.ndarray,
                            lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(n_elements,) dL/ds_e = −Σ_cases λ_eᵀ K_e u_e, for full-length lam, u (n_dofs[, k]).

    The element-wise form of :meth:`Assembler.pullback` ∘ :meth:`Assembler.pattern_cotangent`.
    """
    lam_e = _as_block(lam)[element_dofs]       # (n_el, n_local, k)
    u_e = _as_block(u)[element_dofs]
    return -np.einsum("eak,ab,ebk->e", lam_e, element_matrix, u_e, optimize=True)


def _as_block(a: np.ndarray) -> np.ndarray:
    return a[:, None] if a.ndim == 1 else a
