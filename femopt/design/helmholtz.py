"""The Helmholtz (PDE) filter of Lazarov & Sigmund (2011) on any mesh.

The filtered field is the solution of (−r_pde² ∇² + 1) ρ̃ = ρ with natural boundary
conditions (∂ρ̃/∂n = 0), discretized with the mesh's own cell type and a scalar
unknown per node (a :class:`~femopt.fem.dofs.DofMap` with one component):

    K_f ρ_n = W ρ          K_f = Σ_e ∫_e (r_pde² ∇Nᵀ∇N + NᵀN) dV      (n_nodes, n_nodes)
    ρ̃_e = (Wᵀ ρ_n)_e / V_e                W[n, e] = ∫_e N_n dV          (n_nodes, n_elements)

so ρ̃ = V⁻¹ Wᵀ K_f⁻¹ W ρ: element densities go to the nodes weighted by the element
integral of each shape function, and come back as the element average of the nodal
field. r_pde = r / (2√3) gives a kernel whose width matches the density filter's
cone of radius r. K_f does not change during the optimization, so it is assembled
and factorized once; each apply and each VJP is one forward/backward substitution.

A constant field maps to itself exactly: W 1 = M 1 (the shape functions sum to one)
and K_f 1 = M 1 (the Laplacian annihilates constants), so ρ_n = 1 and ρ̃ = 1.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from femopt.design.filters import IdentityFilter
from femopt.element import CellValues
from femopt.element.quadrature import mass_quadrature
from femopt.fem.assembly import Assembler
from femopt.fem.dofs import DofMap
from femopt.solvers import make_solver

R_PDE_PER_RADIUS = 1 / (2 * np.sqrt(3))  # r_pde = r / (2√3), Lazarov & Sigmund (2011), eq. 20


def element_matrices(cell_type, coords: np.ndarray):
    """Scalar element matrices of cells with node coordinates coords (n_el, n_nodes, dim):

    laplacian (n_el, n_nodes, n_nodes): ∫ ∇N_a · ∇N_b dV (length^(dim−2));
    mass (n_el, n_nodes, n_nodes): ∫ N_a N_b dV (length^dim);
    load (n_el, n_nodes): ∫ N_a dV (length^dim), the rows of the mass matrix summed.

    Integrated over the cell values of :func:`femopt.element.quadrature.mass_quadrature`,
    exact for the mass of straight-sided cells.
    """
    values = CellValues(cell_type, coords, mass_quadrature(cell_type))
    N, dN = values.N, values.gradients
    laplacian = values.integrate(lambda q: np.matmul(dN[q], dN[q].transpose(0, 2, 1)))
    mass = values.integrate(lambda q: np.outer(N[q], N[q])[None])
    load = values.integrate(lambda q: N[q][None])
    return laplacian, mass, load


class HelmholtzFilter(IdentityFilter):
    """ρ̃ = V⁻¹ Wᵀ K_f⁻¹ W ρ, the PDE filter (module docstring) with r_pde = radius / (2√3).

    mesh: any mesh (StructuredMesh or general, any cell type). radius: the density
    filter's radius it stands in for (length units). solver: a femopt solver name;
    "auto" is CHOLMOD when installed, else SuperLU. K_f is factorized once here.

    ``apply`` and ``vjp`` cost one solve each; ``smooth_gradient`` is the identity
    (inherited): the gradient through ``vjp`` is exact.
    """

    def __init__(self, mesh, radius: float, solver: str = "auto"):
        self.radius = float(radius)
        self.r_pde = self.radius * R_PDE_PER_RADIUS
        dofmap = DofMap(mesh, 1)
        coords = mesh.node_coords[mesh.element_nodes]
        if mesh.structured:
            # Equal boxes: one element's matrices serve every element (the assembler's fast path).
            laplacian, mass, load = element_matrices(mesh.cell_type, coords[:1])
            matrix = (self.r_pde**2 * laplacian + mass)[0]
            load = np.broadcast_to(load, (mesh.n_elements, load.shape[1]))
        else:
            laplacian, mass, load = element_matrices(mesh.cell_type, coords)
            matrix = self.r_pde**2 * laplacian + mass
        n = dofmap.n_dofs
        assembler = Assembler(dofmap.element_dofs, matrix, np.arange(n), n)
        self.matrix = assembler.matrix(np.ones(mesh.n_elements))   # lower triangle of K_f (CSC)
        # W (n_nodes, n_elements): column e holds ∫_e N_n dV at the element's nodes.
        rows = dofmap.element_dofs.ravel()
        cols = np.repeat(np.arange(mesh.n_elements), dofmap.element_dofs.shape[1])
        self.W = sp.csr_matrix((np.ravel(load), (rows, cols)), shape=(n, mesh.n_elements))
        self._Wt = self.W.T.tocsr()
        self.volumes = np.asarray(self.W.sum(axis=0)).ravel()   # V_e = Σ_n ∫_e N_n dV
        self.solver = make_solver(solver)
        self.solver.factorize(self.matrix)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n_elements,) ρ̃ of element densities x (n_elements,)."""
        return self._Wt @ self.solver.solve(self.W @ x) / self.volumes

    def vjp(self, rho_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) x̄ = Wᵀ K_f⁻¹ W (ρ̄ / V): the exact transpose of :meth:`apply`
        (K_f is symmetric)."""
        return self._Wt @ self.solver.solve(self.W @ (rho_bar / self.volumes))
