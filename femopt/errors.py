"""Exception types of femopt.

Every error meant for the user derives from :class:`FemoptError`; the command
line prints its message (one line) and exits non-zero.  Anything else that
escapes is a bug.
"""


class FemoptError(Exception):
    """Base class of every user-facing femopt error.

    exit_code: what the command line exits with: 2 for bad input (the default), 1 for
    a run that failed on good input.
    """

    exit_code = 2


class ConfigError(FemoptError):
    """The problem description (YAML file or its values) is invalid."""


class MeshError(FemoptError):
    """A mesh is invalid: cells that name missing nodes, inverted or degenerate cells."""


class SingularStiffnessError(FemoptError):
    """The stiffness matrix is singular, e.g. the supports leave a rigid-body motion free."""


class OutputError(FemoptError):
    """The output folder cannot be used (not creatable, not writable, locked, full) or written."""


class SolverError(FemoptError):
    """A linear solver failed or is not available."""


class NonFiniteError(FemoptError):
    """The objective or a constraint became NaN or infinite: the run cannot go on."""

    exit_code = 1


class MemoryLimitError(FemoptError):
    """The estimated peak memory of a run exceeds the memory available."""
