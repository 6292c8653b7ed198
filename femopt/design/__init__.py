"""Design parameterization: filters and material interpolation, each with its VJP."""

from femopt.design.filters import DensityFilter, IdentityFilter, SensitivityFilter, make_filter
from femopt.design.interpolation import SIMP

__all__ = ["DensityFilter", "IdentityFilter", "SensitivityFilter", "make_filter", "SIMP"]
