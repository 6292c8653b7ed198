"""Filters on structured grids: the weight matrix H_ij = max(0, r − dist(i, j)) is built
once with vectorized numpy, one stencil offset at a time (never a loop over elements).

Each filter maps design variables x to physical densities ρ (``apply``) and pulls
gradients back (``vjp``). Sigmund's sensitivity filter leaves ρ = x and instead
smooths the objective's gradient (``smooth_gradient``), a heuristic that is not a
true derivative — exactly as in the 88-line code (ft = 1).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from femopt.mesh import StructuredMesh


def filter_matrix(mesh: StructuredMesh, radius: float) -> sp.csr_matrix:
    """(n_elements, n_elements) H_ij = max(0, radius − |c_i − c_j|) for element centers c.

    radius: in length units. Memory is linear in the element count.
    """
    h = mesh.element_size
    reach = [int(np.ceil(radius / hk)) for hk in h]
    grid = np.asarray(mesh.grid)
    # Element grid positions, in element-number order.
    position = np.rint(mesh.element_centers / h - 0.5).astype(int)
    rows, cols, weights = [], [], []
    for offset in itertools.product(*[range(-m, m + 1) for m in reach]):
        weight = radius - np.linalg.norm(np.asarray(offset) * h)
        if weight <= 0:
            continue
        target = position + offset
        valid = np.all((target >= 0) & (target < grid), axis=1)
        source = np.flatnonzero(valid)
        rows.append(source)
        cols.append(_element_number(mesh, target[valid]))
        weights.append(np.full(len(source), weight))
    n = mesh.n_elements
    return sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def _element_number(mesh: StructuredMesh, index: np.ndarray) -> np.ndarray:
    nx, ny = mesh.grid[0], mesh.grid[1]
    number = index[:, 0] * ny + index[:, 1]
    if mesh.dim == 3:
        number += index[:, 2] * nx * ny
    return number


class IdentityFilter:
    """No filtering: ρ = x."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x

    def vjp(self, rho_bar: np.ndarray) -> np.ndarray:
        return rho_bar

    def smooth_gradient(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return grad


class DensityFilter(IdentityFilter):
    """ρ = H x / Hs (Bruns & Tortorelli; Bourdin), with Hs the row sums of H."""

    def __init__(self, mesh: StructuredMesh, radius: float):
        self.H = filter_matrix(mesh, radius)
        self.Hs = np.asarray(self.H.sum(axis=1)).ravel()
        self.Ht = self.H.T.tocsr()

    def apply(self, x):
        return (self.H @ x) / self.Hs

    def vjp(self, rho_bar):
        return self.Ht @ (rho_bar / self.Hs)


class SensitivityFilter(IdentityFilter):
    """Sigmund's filter: ρ = x; ∂c/∂x ← H (x ⊙ ∂c/∂x) / Hs / max(10⁻³, x)."""

    def __init__(self, mesh: StructuredMesh, radius: float):
        self.H = filter_matrix(mesh, radius)
        self.Hs = np.asarray(self.H.sum(axis=1)).ravel()

    def smooth_gradient(self, x, grad):
        return (self.H @ (x * grad)) / self.Hs / np.maximum(1e-3, x)


def make_filter(kind: str, mesh: StructuredMesh, radius: float):
    """Filter by name: ``"sensitivity"``, ``"density"`` or ``"none"``."""
    if kind == "none":
        return IdentityFilter()
    return {"sensitivity": SensitivityFilter, "density": DensityFilter}[kind](mesh, radius)
