"""Reference elements: cell types (reference geometry, shape functions, quadrature rules,
facets), and cell values (shape functions, physical gradients and dV of the cells of a
mesh at the quadrature points, computed once), from which every element integral is
summed. Nothing here knows about materials, mesh groups or solvers.

CELL_TYPES registers the cell types a mesh may have by name (here, as every extension
point's registry lives in its package's ``__init__``).
"""

from femopt.element.cells import H8, Q4, T3, T4, T6, T10, CellType
from femopt.element.values import CellValues, InvertedCellError, integrate, jacobians
from femopt.registry import Registry

CELL_TYPES = Registry("cell type")
for _cell in (Q4, H8, T3, T4, T6, T10):
    CELL_TYPES.register(_cell.name, lambda cell=_cell: cell)


def cell_type(name_or_cell) -> CellType:
    """The CellType named ``name_or_cell`` ("Q4", "H8", "T3", "T4", "T6", "T10"), or the
    CellType itself."""
    if isinstance(name_or_cell, CellType):
        return name_or_cell
    return CELL_TYPES.create(name_or_cell)


__all__ = ["CELL_TYPES", "CellType", "CellValues", "H8", "InvertedCellError", "Q4", "T3", "T4", "T6", "T10",
           "cell_type", "integrate", "jacobians"]
