"""femopt: finite-element structural optimization with an exact, sparse adjoint."""

__version__ = "0.1.0"
