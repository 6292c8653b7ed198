"""Reference elements: cell types (shape functions, quadrature rules, facets)."""

from femopt.element.cells import CELL_TYPES, H8, Q4, T3, T4, T6, T10, CellType, cell_type
from femopt.fem.elasticity import InvertedCellError

__all__ = ["CELL_TYPES", "CellType", "H8", "InvertedCellError", "Q4", "T3", "T4", "T6", "T10", "cell_type"]
