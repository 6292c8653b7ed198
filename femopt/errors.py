"""Exception types of femopt.

Every error meant for the user derives from :class:`FemoptError`; the command
line prints its message (one line) and exits non-zero.  Anything else that
escapes is a bug.
"""


class FemoptError(Exception):
    """Base class of every user-facing femopt error."""


class ConfigError(FemoptError):
    """The problem description (YAML file or its values) is invalid."""


class SingularStiffnessError(FemoptError):
    """The stiffness matrix is singular, e.g. the supports leave a rigid-body motion free."""


class SolverError(FemoptError):
    """A linear solver failed or is not available."""


class MemoryLimitError(FemoptError):
    """The estimated peak memory of a run exceeds the memory available."""
