"""Design parameterization: passive regions, filters, projection and material
interpolation, each with its VJP; continuation schedules for their parameters."""

from femopt.design.continuation import Continuation, Schedule
from femopt.design.filters import FILTERS, DensityFilter, IdentityFilter, SensitivityFilter, make_filter
from femopt.design.helmholtz import HelmholtzFilter
from femopt.design.interpolation import INTERPOLATIONS, RAMP, SIMP
from femopt.design.passive import PASSIVE_SHAPES, DesignSpace, region_mask
from femopt.design.projection import HeavisideProjection, IdentityProjection, grayness

__all__ = ["Continuation", "Schedule", "FILTERS", "DensityFilter", "HelmholtzFilter", "IdentityFilter",
           "SensitivityFilter", "make_filter",
           "INTERPOLATIONS", "RAMP", "SIMP", "PASSIVE_SHAPES", "DesignSpace", "region_mask",
           "HeavisideProjection", "IdentityProjection", "grayness"]
