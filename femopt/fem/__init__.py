"""The discretized problem: DOF numbering, element matrices, assembly, loads."""
