"""The discretized problem: DOF numbering (:mod:`~femopt.fem.dofs`), element matrices of
elasticity and heat conduction summed over cell values (:mod:`~femopt.fem.elasticity`,
:mod:`~femopt.fem.heat`), consistent loads (:mod:`~femopt.fem.loads`), assembly into a
pattern built once (:mod:`~femopt.fem.assembly`) and the :class:`Problem` of a run
(:mod:`~femopt.fem.problem`)."""

from femopt.fem.assembly import Assembler, ElementMap
from femopt.fem.dofs import DofMap
from femopt.fem.elasticity import stiffness_matrices
from femopt.fem.heat import conduction_matrices, source_integrals
from femopt.fem.problem import Problem

__all__ = ["Assembler", "DofMap", "ElementMap", "Problem", "conduction_matrices", "source_integrals",
           "stiffness_matrices"]
