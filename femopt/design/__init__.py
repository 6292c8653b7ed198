"""Design parameterization: passive regions, filters, projection and material
interpolation, each with its VJP; continuation schedules for their parameters.

The registries of the design stages live here, as every extension point's registry lives
in its package's ``__init__``: the modules hold the implementations, this file names them
and lists their options (what a problem file may write, :mod:`femopt.config`).
"""

from femopt.design.continuation import Continuation, Schedule
from femopt.design.filters import DensityFilter, IdentityFilter, SensitivityFilter
from femopt.design.helmholtz import HelmholtzFilter
from femopt.design.interpolation import RAMP, SIMP
from femopt.design.passive import DesignSpace, in_ball, in_box, in_group, on_centers
from femopt.design.projection import HeavisideProjection, IdentityProjection, grayness
from femopt.registry import Option, Registry

# Filters: factories take (mesh, radius); radius in length units.
FILTERS = Registry("filter")
_RADIUS = Option(1.5, bounds={"gt": 0}, doc="filter radius in length units")
FILTERS.register("sensitivity", SensitivityFilter, radius=_RADIUS,
                 doc="smooths the sensitivities (a heuristic; the densities stay unfiltered)")
FILTERS.register("density", DensityFilter, radius=_RADIUS,
                 doc="weighted average of the densities within radius (cone weights)")
FILTERS.register("none", lambda mesh, radius: IdentityFilter(), radius=_RADIUS, doc="no filter")
FILTERS.register("helmholtz", HelmholtzFilter, radius=_RADIUS,
                 doc="PDE filter: solves -r² ∇²ρ̃ + ρ̃ = ρ (r = radius / 2√3)")

# Interpolations: factories take (E0, Emin, penalty). The penalty is ``design.penalty`` in a
# problem file, a number or a continuation schedule; a SIMP exponent below 1 would favour
# intermediate densities, while RAMP's q = 0 is still linear.
INTERPOLATIONS = Registry("interpolation")
INTERPOLATIONS.register("simp", SIMP, penalty=Option(3.0, "parameter", bounds={"ge": 1}, doc="the exponent p"),
                        doc="E = Emin + ρ^p (E0 − Emin)")
INTERPOLATIONS.register("ramp", RAMP, penalty=Option(3.0, "parameter", bounds={"ge": 0}, doc="q"),
                        doc="E = Emin + ρ / (1 + q (1 − ρ)) (E0 − Emin)")

# Passive shapes: factories take (mesh, **options) and return the mask (n_elements,). A shape
# whose one option has the shape's name (box, group) takes the shape's value itself.
PASSIVE_SHAPES = Registry("passive shape")
_CENTER, _SIZE = Option(kind="point", doc="the center"), Option(bounds={"gt": 0}, doc="the radius")
PASSIVE_SHAPES.register("box", on_centers(in_box), box=Option(kind="selection", doc="coordinate ranges"),
                        doc="element centers in coordinate ranges: box: {x: [0, 10], y: [38, 40]}")
PASSIVE_SHAPES.register("circle", on_centers(in_ball), dims=(2,), center=_CENTER, radius=_SIZE,
                        doc="element centers in a disk")
PASSIVE_SHAPES.register("sphere", on_centers(in_ball), dims=(3,), center=_CENTER, radius=_SIZE,
                        doc="element centers in a ball")
PASSIVE_SHAPES.register("cylinder", on_centers(in_ball), dims=(3,), center=_CENTER, radius=_SIZE,
                        axis=Option(kind="component", doc="the axis direction"),
                        doc="element centers in an infinite cylinder; center is a point on its axis")
PASSIVE_SHAPES.register("group", in_group, group=Option(kind="group", doc="a cell group's name"),
                        doc="the cells of a named group of the mesh file: group: NAME")


def make_filter(kind: str, mesh, radius: float):
    """Filter by name (one of FILTERS): ``"sensitivity"``, ``"density"``, ``"helmholtz"`` or ``"none"``."""
    return FILTERS.create(kind, mesh, radius=radius)


def region_mask(mesh, shape: str, **options):
    """(n_elements,) True where the element's center lies in the region (boundary included).

    shape: one of PASSIVE_SHAPES, with its options — ``box`` (``box``: (axis, lo, hi)
    ranges), ``circle`` (2D) / ``sphere`` (3D) with ``center`` and ``radius``,
    ``cylinder`` (3D) with ``center`` (a point on its axis), ``radius`` and ``axis``
    (0, 1, 2), unbounded along the axis, or ``group`` (the name of one of the mesh's
    cell groups: its elements, wherever their centers are). A point within 0.1 % of
    the element size of the boundary counts as inside.
    """
    return PASSIVE_SHAPES.create(shape, mesh, **options)


__all__ = ["Continuation", "Schedule", "FILTERS", "DensityFilter", "HelmholtzFilter", "IdentityFilter",
           "SensitivityFilter", "make_filter",
           "INTERPOLATIONS", "RAMP", "SIMP", "PASSIVE_SHAPES", "DesignSpace", "region_mask",
           "HeavisideProjection", "IdentityProjection", "grayness"]
