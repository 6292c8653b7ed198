"""Meshes (Ferrite.jl's split): geometry and named groups (:class:`Mesh`, the generated
:class:`StructuredMesh`); meshes from files (:func:`read_mesh`). Cell types are
:mod:`femopt.element`'s, DOF numbering :class:`femopt.fem.dofs.DofMap`."""

from femopt.mesh.base import AXES, Mesh
from femopt.mesh.io import read_mesh
from femopt.mesh.structured import StructuredMesh

__all__ = ["AXES", "Mesh", "StructuredMesh", "read_mesh"]
