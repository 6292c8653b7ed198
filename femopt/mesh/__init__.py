"""Meshes (Ferrite.jl's split): geometry and named groups (:class:`Mesh`, the generated
:class:`StructuredMesh`), cell types (:mod:`femopt.mesh.cells`) and DOF numbering
(:class:`DofMap`); meshes from files (:func:`read_mesh`)."""

from femopt.elements import InvertedCellError
from femopt.mesh.base import AXES, Mesh
from femopt.mesh.cells import CELL_TYPES, H8, Q4, T3, T4, CellType, cell_type
from femopt.mesh.dofs import DofMap
from femopt.mesh.io import read_mesh
from femopt.mesh.structured import StructuredMesh

__all__ = ["AXES", "CELL_TYPES", "CellType", "DofMap", "H8", "InvertedCellError", "Mesh", "Q4",
           "StructuredMesh", "T3", "T4", "cell_type", "read_mesh"]
