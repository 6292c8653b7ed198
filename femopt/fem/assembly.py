"""Assembly of K(s) = Σ_e s_e K_e into a sparsity pattern built once.

The reduced stiffness (fixed DOFs eliminated) is stored as its **lower
triangle** in CSC form, which is what CHOLMOD reads. Everything that depends
only on the mesh — the pattern and the scatter from element scales to stored
values — is computed in the constructor; per design iteration, assembly is one
sparse mat-vec, ``values = S @ s``, and its pullback is ``s̄ = Sᵀ @ values̄``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp


class ElementMap:
    """The element side of an assembly, without a sparsity pattern: which DOFs each element
    has, its stiffness, and which DOFs are free. Enough for the sensitivities
    (:meth:`element_energy`) when the solver applies K from the element scales itself
    (``mg``'s matrix-free fine level), where a pattern and scatter would only take memory
    (4.4 GB at 10⁶ H8 elements) and set-up time. Arguments as for :class:`Assembler`;
    energy: a function (lam, u) → :meth:`element_energy` that replaces the gathers of λ_e and
    u_e (``mg``'s fused kernel on a structured grid; None: the gathers). element_dofs may
    also be a function that returns them, called when first needed: with ``energy`` they
    usually never are ((n_el, 24) int64 is 1.9 GB at 10⁷ H8 elements).
    """

    def __init__(self, element_dofs, element_matrix: np.ndarray,
                 free_dofs: np.ndarray, n_dofs: int, energy=None):
        self._element_dofs = element_dofs
        self.element_matrix = np.asarray(element_matrix, float)
        self.free_dofs = np.asarray(free_dofs)
        self.n_free = len(self.free_dofs)
        self._energy = energy

    @cached_property
    def element_dofs(self) -> np.ndarray:
        """(n_elements, n_local) global DOFs of each element."""
        dofs = self._element_dofs() if callable(self._element_dofs) else self._element_dofs
        return np.asarray(dofs)

    def element_energy(self, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(n_elements,) dL/ds_e = −Σ_cases λ_eᵀ K_e u_e for full-length lam, u (n_dofs[, k]):
        :func:`element_energy_pullback` with these elements."""
        if self._energy is not None:
            return self._energy(lam, u)
        return element_energy_pullback(self.element_dofs, self.element_matrix, lam, u)

    def full_vector(self, reduced: np.ndarray, n_dofs: int) -> np.ndarray:
        """Expand (n_free[, k]) reduced values to (n_dofs[, k]) with zeros at fixed DOFs."""
        full = np.zeros((n_dofs,) + reduced.shape[1:])
        full[self.free_dofs] = reduced
        return full


class Assembler(ElementMap):
    """Like ``K[dofs, dofs] += s_e · K_e`` for every element, then ``K[free, free]``, but
    with the pattern and scatter precomputed.

    element_dofs: (n_elements, n_local) global DOFs of each element.
    element_matrix: symmetric element stiffness for s_e = 1, either one (n_local, n_local)
        matrix shared by every element (a structured mesh's fast path) or one per element,
        (n_elements, n_local, n_local) — what :func:`femopt.fem.elasticity.stiffness_matrices` returns. The
        scatter holds the entries of whichever is given; assembly costs the same.
    free_dofs: (n_free,) sorted global DOFs that stay unknown; the rest are fixed at 0.
    n_dofs: number of global DOFs.
    chunk_size: about how many (element, row, column) candidates the constructor sorts at
        once; the construction is memory-linear in the element count (the scatter keeps
        12 bytes per element pair, 300 pairs per H8 element; docs/solvers.md's Performance
        section has the measured totals). Blocks this large come from mmap and go back
        to the system when freed, instead of fragmenting the heap.

    ``scatter`` (nnz, n_elements) CSR holds K_e's entries; ``gather`` is its transpose as
    a CSC view of the same arrays (no copy).
    """

    def __init__(self, element_dofs: np.ndarray, element_matrix: np.ndarray,
                 free_dofs: np.ndarray, n_dofs: int, chunk_size: int = 1 << 24):
        super().__init__(element_dofs, element_matrix, free_dofs, n_dofs)
        per_element = self.element_matrix.ndim == 3
        n_elements, n_local = self.element_dofs.shape

        # Reduced DOF numbers per element; the reduced numbering keeps the global order, so
        # the entry (a, b) of an element lies in the lower triangle iff r_a >= r_b >= 0.
        small = _index_type(max(n_dofs, n_elements * n_local))
        reduced = np.full(n_dofs, -1, small)
        reduced[self.free_dofs] = np.arange(self.n_free, dtype=small)
        rdofs = reduced[self.element_dofs]                        # (n_el, n_local)
        del reduced
        # Each element contributes m(m+1)/2 lower-triangle pairs, m = its free local DOFs.
        m = np.count_nonzero(rdofs >= 0, axis=1).astype(np.int64)
        n_pairs = int(np.sum(m * (m + 1) // 2))
        # The pattern is built one block of columns at a time, so memory stays linear in
        # the element count: the (element, local DOF) incidences of each column, sorted by
        # column (stable: elements ascending), are expanded to the element's rows >= it.
        flat = rdofs.ravel()
        incidence = np.flatnonzero(flat >= 0)
        incidence = incidence[np.argsort(flat[incidence], kind="stable")]
        column_start = np.searchsorted(flat[incidence], np.arange(self.n_free + 1))

        pair_index = _index_type(n_pairs)
        scatter_indices = np.empty(n_pairs, _index_type(n_elements))   # element of each pair
        scatter_data = np.empty(n_pairs)
        entries_per_column = np.zeros(self.n_free, np.int64)
        rows_parts, pairs_per_entry = [], []
        n_stored = n_filled = 0
        for c0, c1 in _blocks(column_start, max(1, chunk_size // n_local)):
            inc = incidence[column_start[c0]:column_start[c1]]
            element, b = np.divmod(inc, n_local)
            col = flat[inc].astype(np.int64)
            rows = rdofs[element].astype(np.int64)                   # (n_inc, n_local)
            inc_i, a = np.nonzero(rows >= col[:, None])
            # Column-major keys give CSC order directly; unique() sorts only this block.
            keys = (col[inc_i] - c0) * self.n_free + rows[inc_i, a]
            keys, position = np.unique(keys, return_inverse=True)
            position = position.ravel()
            order = np.argsort(position, kind="stable")  # pairs by stored entry, elements ascending
            span = slice(n_filled, n_filled + len(order))
            scatter_indices[span] = element[inc_i[order]]
            if per_element:
                scatter_data[span] = self.element_matrix[scatter_indices[span], a[order], b[inc_i[order]]]
            else:
                scatter_data[span] = self.element_matrix[a[order], b[inc_i[order]]]
            pairs_per_entry.append(np.bincount(position, minlength=len(keys)).astype(pair_index))
            rows_parts.append((keys % self.n_free).astype(small))
            entries_per_column[c0:c1] = np.bincount(keys // self.n_free, minlength=c1 - c0)
            n_stored += len(keys)
            n_filled += len(order)
        assert n_filled == n_pairs
        del rdofs, flat, incidence

        self.nnz = n_stored
        index = _index_type(max(self.nnz, self.n_free))
        self.indices = np.concatenate(rows_parts).astype(index, copy=False) if rows_parts else np.zeros(0, index)
        self.indptr = np.zeros(self.n_free + 1, index)
        np.cumsum(entries_per_column, out=self.indptr[1:])
        scatter_indptr = np.zeros(self.nnz + 1, pair_index)
        if pairs_per_entry:
            np.cumsum(np.concatenate(pairs_per_entry), out=scatter_indptr[1:])
        # An element meets each stored entry at most once, so no duplicates in the scatter.
        self.scatter = sp.csr_matrix((scatter_data, scatter_indices, scatter_indptr),
                                     shape=(self.nnz, n_elements))
        self.scatter.has_sorted_indices = True  # elements ascending per stored entry, by construction
        # Sᵀ as a CSC view of the same arrays: no second copy of the scatter (gigabytes at
        # 10⁶ H8 elements); its mat-vec sums each element's terms in the same order.
        self.gather = self.scatter.T

    # Column of each stored entry and its diagonal flag: only the pattern cotangent needs
    # them, so they are built on first use (nnz-sized; the driver loop never asks).
    @cached_property
    def _column(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_free, dtype=self.indptr.dtype), np.diff(self.indptr))

    @cached_property
    def _diagonal(self) -> np.ndarray:
        return self.indices == self._column

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


def element_energy_pullback(element_dofs: np.ndarray, element_matrix: np.ndarray,
                            lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(n_elements,) dL/ds_e = −Σ_cases λ_eᵀ K_e u_e, for full-length lam, u (n_dofs[, k]).

    element_matrix: one shared (n_local, n_local) or per element (n_elements, n_local, n_local).
    The element-wise form of :meth:`Assembler.pullback` ∘ :meth:`Assembler.pattern_cotangent`.
    """
    lam_e = _as_block(lam)[element_dofs]       # (n_el, n_local, k)
    u_e = _as_block(u)[element_dofs]
    if np.ndim(element_matrix) == 3:
        return -np.einsum("eak,eak->e", lam_e, np.matmul(element_matrix, u_e))
    return -np.einsum("eak,ab,ebk->e", lam_e, element_matrix, u_e, optimize=True)


def _index_type(largest: int):
    """int32 when every index up to ``largest`` fits (half the memory of int64), else int64."""
    return np.int32 if largest < 2**31 - 1 else np.int64


def _blocks(column_start: np.ndarray, target: int):
    """Column ranges [c0, c1) holding about ``target`` incidences each (at least one column)."""
    n = len(column_start) - 1
    c0 = 0
    while c0 < n:
        c1 = int(np.searchsorted(column_start, column_start[c0] + target, side="right")) - 1
        c1 = min(n, max(c1, c0 + 1))
        yield c0, c1
        c0 = c1


def _as_block(a: np.ndarray) -> np.ndarray:
    return a[:, None] if a.ndim == 1 else a
