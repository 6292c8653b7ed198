"""The mass matrix M(ρ) and the geometric stiffness G(ρ, u) of a problem, assembled into
the stiffness's own pattern or applied element by element.

    M = Σ_e m(ρ_e) M_e + M_point           M_e = density · m_e ⊗ I      (consistent mass)
    G = Σ_e E_G(ρ_e) G_e(σ̂_e)              G_e = g_e(σ̂_e) ⊗ I,  σ̂_e = D₀ ε(u_e)

m(ρ), E_G(ρ): the interpolations of :mod:`femopt.responses.eigen` (scales per element,
given here as numbers). m_e, g_e: :mod:`femopt.fem.mass`, :mod:`femopt.fem.geometric`.
σ̂_e: the solid's stress (D₀ for the solid's modulus) of the displacements u, at each
quadrature point on meshes and at the element centre on structured grids, whose elements
then share one mass matrix and one geometric basis
(:func:`femopt.fem.geometric.geometric_basis`). M_point: non-structural point masses,
lumped on the diagonal.

Both matrices are stored like K (:class:`femopt.fem.assembly.Assembler`): the lower triangle
of the free DOFs, in CSC, with K's indptr and indices, so that the solver's factor of K
and these matrices meet in one numbering. The pattern map from element entries to stored
entries is built once (an Assembler of entry codes); per evaluation a matrix is one
``bincount`` over the element entries, without sorting.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from femopt.element.values import CellValues
from femopt.fem.assembly import Assembler
from femopt.fem.geometric import geometric_basis, geometric_matrices, quadratic_stress_weights, strains, strains_vjp
from femopt.fem.mass import mass_matrices


class EigenOperators:
    """M(ρ), G(ρ, u) and their derivatives on one problem's mesh and DOFs.

    mesh: any mesh (a structured grid takes the shared fast path). element_dofs: (n_el,
    n_nodes · dim) node-major DOFs; free_dofs: (n_free,) sorted; n_dofs: all DOFs.
    D: (n_voigt, n_voigt) the solid's constitutive matrix (stress units: E₀ included; plane
    stress in 2D). density: mass per unit volume of the solid. thickness: 2D only, scales
    M and G like K. point_masses: (n_dofs,) lumped masses on the diagonal (None: none).
    assembled: build the pattern map for :meth:`mass_matrix` / :meth:`geometric_matrix`;
    False (a matrix-free solver) leaves only the element-wise products.
    """

    def __init__(self, mesh, element_dofs: np.ndarray, free_dofs: np.ndarray, n_dofs: int, D: np.ndarray,
                 density: float = 1.0, thickness: float = 1.0, point_masses: np.ndarray | None = None,
                 assembled: bool = True):
        cell, dim = mesh.cell_type, mesh.dim
        self.dim, self.n_dofs, self.n_elements = dim, int(n_dofs), mesh.n_elements
        self.n_nodes = cell.n_nodes
        self.element_dofs = np.asarray(element_dofs)
        self.free_dofs = np.asarray(free_dofs)
        self.D = np.asarray(D, float)
        self.shared = mesh.structured
        coords = cell.box(mesh.element_size)[None] if self.shared else mesh.node_coords[mesh.cells]
        # 2D: M and G scale with the thickness, like K
        self.thickness = thickness if dim == 2 else 1.0
        self.mass_scalar = density * self.thickness * mass_matrices(cell, coords)   # (c, n, n)
        self.values = CellValues(cell, coords)     # the stiffness's rule, as for K
        if self.shared:  # one stress per element, at its centre; G_e from the shared basis
            centre = cell.reference_nodes[:cell.n_corners].mean(axis=0, keepdims=True)
            self.stress_gradients = CellValues(cell, coords, (centre, np.ones(1))).gradients
            self.basis = self.thickness * geometric_basis(self.values)
        else:
            self.stress_gradients, self.basis = self.values.gradients, None
        self.point_masses = None
        if point_masses is not None and np.any(point_masses):
            self.point_masses = np.asarray(point_masses, float)
        self._pairs = _PairMap(self.element_dofs, self.free_dofs, self.n_dofs, dim, self.n_nodes) \
            if assembled else None

    # ---------------------------------------------------------------- mass

    @property
    def total_structural_mass(self) -> float:
        """Σ_e ∫ density dV of the solid mesh (every element at ρ = 1, point masses apart)."""
        total = self.mass_scalar.sum()
        return float(total * self.n_elements if self.shared else total)

    def mass_matrix(self, scales: np.ndarray) -> sp.csc_matrix:
        """Lower triangle of the reduced M = Σ_e scales_e M_e + point masses (CSC, K's pattern).
        scales: (n_elements,) the interpolated m(ρ_e)."""
        values = self._pairs.values(self.mass_scalar, scales)
        if self.point_masses is not None:
            values[self._pairs.diagonal] += self.point_masses[self.free_dofs]
        return self._pairs.matrix(values)

    def mass_apply(self, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
        """M x for full-length x (n_dofs[, k]) (element by element; zero at fixed DOFs)."""
        y = self._apply(self.mass_scalar, scales, x)
        if self.point_masses is not None:
            y += self.point_masses.reshape(-1, *([1] * (np.ndim(x) - 1))) * x
        return self._zero_fixed(y)

    def mass_energy(self, phi: np.ndarray) -> np.ndarray:
        """(n_elements,) φ_eᵀ M_e φ_e for one full-length vector phi (n_dofs,): ∂(φᵀMφ)/∂scales
        (in phi's dtype: extended precision for a Rayleigh quotient)."""
        phi_e = phi[self.element_dofs].reshape(self.n_elements, self.n_nodes, self.dim)
        m = (self.mass_scalar[0] if self.shared else self.mass_scalar).astype(phi.dtype)
        if self.shared:
            return np.einsum("eai,ab,ebi->e", phi_e, m, phi_e, optimize=True)
        return np.einsum("eai,eab,ebi->e", phi_e, m, phi_e, optimize=True)

    # ---------------------------------------------------------------- geometric stiffness

    def solid_stresses(self, u: np.ndarray) -> np.ndarray:
        """(n_elements, n_points, n_voigt) σ̂ = D₀ ε(u) of full-length u (n_dofs,): at each
        quadrature point (meshes) or the element centre (grids, n_points = 1)."""
        eps = strains(self.stress_gradients, u[self.element_dofs])
        return eps @ self.D.T

    def solid_stresses_vjp(self, stress_bar: np.ndarray) -> np.ndarray:
        """(n_dofs,) ū for the cotangent stress_bar (n_elements, n_points, n_voigt) of
        :meth:`solid_stresses` (D₀ is symmetric)."""
        u_e_bar = strains_vjp(self.stress_gradients, stress_bar @ self.D)
        return np.bincount(self.element_dofs.ravel(), u_e_bar.ravel(), minlength=self.n_dofs)

    def geometric_scalars(self, scales: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """(n_elements, n_nodes, n_nodes) scales_e g_e(σ̂_e) for stresses (n_elements,
        n_points, n_voigt) of :meth:`solid_stresses`."""
        if self.basis is not None:
            return geometric_matrices(self.values, stress * scales[:, None, None], self.basis)
        return geometric_matrices(self.values, stress * (self.thickness * scales)[:, None, None])

    def geometric_matrix(self, scales: np.ndarray, stress: np.ndarray) -> sp.csc_matrix:
        """Lower triangle of the reduced G = Σ_e scales_e G_e(σ̂_e) (CSC, K's pattern)."""
        return self._pairs.matrix(self._pairs.values(self.geometric_scalars(scales, stress), None))

    def geometric_apply(self, scales: np.ndarray, stress: np.ndarray, x: np.ndarray) -> np.ndarray:
        """G x for full-length x (n_dofs[, k]), element by element; zero at fixed DOFs."""
        return self._zero_fixed(self._apply(self.geometric_scalars(scales, stress), None, x))

    def stress_weights(self, phi: np.ndarray) -> np.ndarray:
        """(n_elements, n_points, n_voigt) q with φᵀ G_e(σ) φ = Σ q_e · σ_e (before scales)
        for one full-length vector phi (n_dofs,): G's quadratic form is linear in σ."""
        return self.thickness * quadratic_stress_weights(self.values, phi[self.element_dofs], per_cell=self.shared)

    # ---------------------------------------------------------------- helpers

    def _apply(self, scalar: np.ndarray, scales, x: np.ndarray) -> np.ndarray:
        """Σ_e scales_e (scalar_e ⊗ I) x_e scattered to full length, x (n_dofs[, k])."""
        block = x.reshape(self.n_dofs, -1)
        k = block.shape[1]
        x_e = block[self.element_dofs].reshape(self.n_elements, self.n_nodes, self.dim * k)
        y_e = np.matmul(scalar, x_e)                                           # (n_el, n, dim·k)
        if scales is not None:
            y_e *= scales[:, None, None]
        y = np.empty((self.n_dofs, k))
        flat = self.element_dofs.ravel()
        y_e = y_e.reshape(self.n_elements, self.n_nodes * self.dim, k)
        for c in range(k):  # a few vectors; bincount sums the shared DOFs
            y[:, c] = np.bincount(flat, y_e[:, :, c].ravel(), minlength=self.n_dofs)
        return y.reshape(x.shape)

    def _zero_fixed(self, y: np.ndarray) -> np.ndarray:
        fixed = np.ones(self.n_dofs, bool)
        fixed[self.free_dofs] = False
        y[fixed] = 0.0
        return y


class _PairMap:
    """Which element entries (e, a, b) of a scalar ⊗ I matrix land on which stored entry
    of the reduced lower triangle: built once with an Assembler of entry codes (the pattern
    is K's), so that a matrix is then one bincount."""

    def __init__(self, element_dofs, free_dofs, n_dofs, dim, n_nodes):
        local = np.arange(dim * n_nodes)
        node, component = np.divmod(local, dim)
        # code of (a, b): 1 + node_a · n + node_b where the components agree, 0 elsewhere
        codes = np.where(component[:, None] == component[None, :],
                         1 + node[:, None] * n_nodes + node[None, :], 0).astype(float)
        codes_assembler = Assembler(element_dofs, codes, free_dofs, n_dofs)
        scatter = codes_assembler.scatter
        entry = np.repeat(np.arange(codes_assembler.nnz), np.diff(scatter.indptr))
        code = scatter.data.astype(np.int64) - 1
        keep = code >= 0
        self.entry = entry[keep]
        self.element = scatter.indices[keep].astype(np.int64)
        self.code = code[keep]
        self.indptr, self.indices = codes_assembler.indptr, codes_assembler.indices
        self.n_free, self.nnz = codes_assembler.n_free, codes_assembler.nnz
        self.n_local = n_nodes * n_nodes
        self.diagonal = self.indptr[:-1]  # the first stored entry of each column (rows sorted)

    def values(self, scalars: np.ndarray, scales) -> np.ndarray:
        """(nnz,) stored values of Σ_e scales_e (scalars_e ⊗ I); scalars (1 or n_el, n, n)."""
        flat = scalars.reshape(len(scalars), -1)
        if len(flat) == 1:
            weights = flat[0][self.code]
        else:
            weights = flat.reshape(-1)[self.element * self.n_local + self.code]
        if scales is not None:
            weights = weights * scales[self.element]
        return np.bincount(self.entry, weights, minlength=self.nnz)

    def matrix(self, values: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((values, self.indices, self.indptr), shape=(self.n_free, self.n_free))
