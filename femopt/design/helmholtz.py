"""The Helmholtz (PDE) filter of Lazarov & Sigmund (2011) on any mesh.

The filtered field is the solution of (−r_pde² ∇² + 1) ρ̃ = ρ with natural boundary
conditions (∂ρ̃/∂n = 0), discretized with the mesh's own cell type and a scalar
unknown per node (a :class:`~femopt.mesh.DofMap` with one component):

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

from femopt.fem.assembly import Assembler
from femopt.design.filters import IdentityFilter
from femopt.fem.elasticity import physical_gradients
from femopt.fem.dofs import DofMap
from femopt.solvers import make_solver

R_PDE_PER_RADIUS = 1 / (2 * np.sqrt(3))  # r_pde = r / (2√3), Lazarov & Sigmund (2011), eq. 20


def element_matrices(cell_type, coords: np.ndarray):
    """Scalar element matrices of cells with node coordinates coords (n_el, n_nodes, dim):

    laplacian (n_el, n_nodes, n_nodes): ∫ ∇N_a · ∇N_b dV (length^(dim−2));
    mass (n_el, n_nodes, n_nodes): ∫ N_a N_b dV (length^dim);
    load (n_el, n_nodes): ∫ N_a dV (length^dim), the rows of the mass matrix summed.

    Integrated with :func:`mass_quadrature`, exact for the mass of straight-sided cells.
    """
    points, weights = mass_quadrature(cell_type)
    N = cell_type.shape_functions(points)                    # (n_q, n_nodes)
    n_el, n_nodes, _ = coords.shape
    laplacian = np.zeros((n_el, n_nodes, n_nodes))
    mass = np.zeros((n_el, n_nodes, n_nodes))
    load = np.zeros((n_el, n_nodes))
    for Nq, gradient, weight in zip(N, cell_type.shape_gradients(points), weights):
        dN, det = physical_gradients(coords, gradient)              # (n_el, n_nodes, dim), (n_el,)
        dV = weight * det                                           # (n_el,)
        laplacian += np.matmul(dN, dN.transpose(0, 2, 1)) * dV[:, None, None]
        mass += np.outer(Nq, Nq)[None] * dV[:, None, None]
        load += Nq[None] * dV[:, None]
    return laplacian, mass, load


def mass_quadrature(cell_type) -> tuple[np.ndarray, np.ndarray]:
    """(points (n_q, dim), weights (n_q,)) exact for products of two shape functions.

    The cell types' own rules are chosen for the stiffness: a linear simplex's single
    centroid point would give a rank-one mass matrix. Here a simplex (reference nodes in
    the unit simplex) gets a collapsed Gauss rule and a box cell ([-1, 1]^dim) a
    tensor Gauss rule, with order + 1 points per axis (order + 2 on a simplex, for the
    collapse's Jacobian); order is 1 for cells with dim + 1 (simplex) or 2^dim (box)
    nodes and 2 otherwise (quadratic cells).
    """
    reference = cell_type.reference_nodes
    dim = cell_type.dim
    simplex = np.all(reference >= -1e-12) and np.all(reference.sum(axis=1) <= 1 + 1e-12)
    order = 1 if cell_type.n_nodes in (dim + 1, 2**dim) else 2
    n = order + 2 if simplex else order + 1
    x, w = np.polynomial.legendre.leggauss(n)
    grid = np.stack(np.meshgrid(*[x] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    weights = np.prod(np.stack(np.meshgrid(*[w] * dim, indexing="ij"), axis=-1).reshape(-1, dim), axis=1)
    if not simplex:
        return grid, weights
    # Duffy's collapse of [0, 1]^dim onto the simplex: ξ_k = t_k Π_{j<k} (1 − t_j), with
    # Jacobian Π_k (1 − t_k)^(dim − 1 − k); n points integrate its extra degree exactly.
    t = (grid + 1) / 2
    weights = weights / 2**dim
    points = np.empty_like(t)
    remaining = np.ones(len(t))
    for k in range(dim):
        points[:, k] = t[:, k] * remaining
        weights = weights * (1 - t[:, k]) ** (dim - 1 - k)
        remaining = remaining * (1 - t[:, k])
    return points, weights


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
