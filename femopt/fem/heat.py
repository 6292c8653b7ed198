"""Heat conduction (physics: heat): element conduction matrices and the consistent nodal
shares of a volumetric source, vectorized over elements.

One DOF per node, the temperature, in the cell type's local node order. Matrices are for
a unit isotropic conductivity (heat flow per unit temperature difference; topology
optimization scales them per element by k(ρ)); in 2D a plate of ``thickness``.
"""

from __future__ import annotations

import numpy as np

from femopt.element.values import CHUNK_SIZE, CellValues, integrate


def cell_conduction(cell_type, coords: np.ndarray, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """(n_el, n_nodes, n_nodes) K_e = ∫ ∇N ∇Nᵀ dV of every cell for a unit conductivity,
    coords (n_el, n_nodes, dim) in length units; exact with the cell type's own rule, as
    the stiffness is. Raises :class:`femopt.element.InvertedCellError` like
    :func:`femopt.fem.elasticity.cell_stiffness`."""
    n_nodes = coords.shape[1]

    def gradient_products(values, q):
        dN = values.gradients[q]
        return np.matmul(dN, dN.transpose(0, 2, 1))

    return integrate(cell_type, coords, gradient_products, (n_nodes, n_nodes), chunk_size=chunk_size)


def conduction_matrices(mesh, thickness: float = 1.0) -> np.ndarray:
    """Element conduction ∫ ∇N ∇Nᵀ dV of ``mesh`` for a unit conductivity: (n_el, n, n),
    n = nodes per cell, or ONE (n, n) matrix shared by every element of a structured grid
    (for a unit square the 99-line heat code's KE: 2/3 on the diagonal, −1/6 along edges,
    −1/3 across). 2D is a plate of ``thickness``; 3D ignores it.
    :class:`femopt.fem.assembly.Assembler` takes either."""
    if mesh.structured:
        K = cell_conduction(mesh.cell_type, mesh.cell_type.box(mesh.element_size)[None])[0]
    else:
        K = cell_conduction(mesh.cell_type, mesh.node_coords[mesh.cells])
    return K * thickness if mesh.dim == 2 else K


def source_integrals(mesh, thickness: float = 1.0) -> np.ndarray:
    """(n_el, n) ∫ N_a dV of every cell of ``mesh`` (times ``thickness`` in 2D): the
    consistent nodal shares of a unit source per unit volume (exact: N_a det J has at most
    the degree the cell type's rule integrates). A structured grid's are all equal, the
    box's volume / n."""
    if mesh.structured:
        box = mesh.cell_type.box(mesh.element_size)[None]
        shares = np.repeat(CellValues(mesh.cell_type, box).shape_integrals(), mesh.n_elements, axis=0)
    else:
        shares = CellValues(mesh.cell_type, mesh.node_coords[mesh.cells]).shape_integrals()
    return shares * thickness if mesh.dim == 2 else shares
