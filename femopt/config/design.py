"""The ``design`` section of a problem file: volume, interpolation and filter, projection
(and its robust formulation), passive regions, the overhang filter, symmetry and extrusion,
read into :class:`femopt.config.schema.DesignConfig`."""

from __future__ import annotations

from femopt.config.keys import DESIGN, OVERHANG, PROJECTION, ROBUST, SYMMETRY
from femopt.config.options import _parse_option, _parse_options, _parse_spec
from femopt.config.reader import YamlNode, _alternatives, _num
from femopt.config.schema import (AXES, PASSIVE_TYPES, DesignConfig, OverhangConfig, PassiveRegionConfig,
                                  ProjectionConfig, RobustConfig, Selection)
from femopt.design import FILTERS, INTERPOLATIONS, PASSIVE_SHAPES
from femopt.design.overhang import DIRECTIONS as OVERHANG_DIRECTIONS, SUPPORTS as OVERHANG_SUPPORTS

# Allowed keys per section, in the order they are documented (declared in femopt.config.keys).
_DESIGN_KEYS = DESIGN.names()
_SYMMETRY_KEYS = SYMMETRY.names()
_PROJECTION_KEYS = PROJECTION.names()
_ROBUST_KEYS = ROBUST.names()
_OVERHANG_KEYS = OVERHANG.names()


def _parse_design(node: YamlNode, dim: int) -> DesignConfig:
    node.mapping(_DESIGN_KEYS)
    d = DesignConfig(volume_fraction=1.0)
    volume_fraction = _parse_option(node, "volume_fraction", DESIGN.keys["volume_fraction"], dim)
    interpolation = node.get("interpolation", d.interpolation, lambda n: n.choice(INTERPOLATIONS.names))
    penalty = _parse_option(node, "penalty", INTERPOLATIONS[interpolation].options["penalty"], dim)
    filter_ = node.get("filter", d.filter, lambda n: _parse_spec(n, FILTERS, dim, default=d.filter.type))
    projection = node.get("projection", None, _parse_projection)
    passive = node.get("passive", (), lambda n: tuple(_parse_passive(item, dim)
                                                      for item in n.items("passive region")))
    overhang = node.get("overhang", None, lambda n: _parse_overhang(n, dim))
    symmetry = node.get("symmetry", (), lambda n: _parse_symmetry(n, dim))
    extrusion = node.get("extrusion", None, lambda n: n.choice(AXES[:dim]))
    if overhang is not None:
        _check_overhang_linking(node, overhang, symmetry, extrusion)
    return DesignConfig(volume_fraction, penalty, filter_, interpolation, projection, passive, overhang,
                        symmetry, extrusion)


def _parse_symmetry(node: YamlNode, dim: int) -> tuple[tuple[str, float | None], ...]:
    """``symmetry: [x, y]`` or ``[{axis: x, at: 30.0}, …]`` (one plane per axis)."""
    planes = []
    for item in node.items("mirror plane"):
        if isinstance(item.value, dict):
            item.mapping(_SYMMETRY_KEYS)
            planes.append((item.require("axis").choice(AXES[:dim]), item.get("at", None, lambda n: n.number())))
        else:
            planes.append((item.choice(AXES[:dim]), None))
        if [axis for axis, _ in planes].count(planes[-1][0]) > 1:
            item.fail(f"a second mirror plane normal to {planes[-1][0]} (one per axis)")
    return tuple(planes)


def _check_overhang_linking(node: YamlNode, overhang: OverhangConfig, symmetry, extrusion) -> None:
    """The AM filter commutes with mirrors about planes along the build direction only, and
    with no extrusion (its layers pad the domain's sides with void, which breaks it)."""
    axis = overhang.build_direction[1]
    if axis in [a for a, _ in symmetry]:
        node.child("symmetry").fail(f"a mirror plane normal to the build direction ({axis}) cannot hold "
                                    "with the overhang filter (it prints bottom-up)")
    if extrusion is not None:
        node.child("extrusion").fail("the overhang filter does not keep densities constant along an axis "
                                     "(its smooth minimum and maximum, its void beyond the sides)")


def _parse_overhang(node: YamlNode, dim: int) -> OverhangConfig:
    """``overhang: {build_direction: +y, support: 5, p: 40, epsilon: 1e-4}`` (a generated grid)."""
    node.mapping(_OVERHANG_KEYS)
    directions = OVERHANG_DIRECTIONS[:2 * dim]
    direction_node = node.require("build_direction")
    direction = direction_node.value
    if direction in OVERHANG_DIRECTIONS and direction not in directions:
        direction_node.fail(f"a {dim}D grid has no {direction[1]} axis (use {', '.join(directions)})")
    direction = direction_node.choice(directions)
    counts = OVERHANG_SUPPORTS[dim]
    support = node.get("support", counts[0], lambda n: n.integer())
    if support not in counts:
        node.child("support").fail(
            f"must be {' or '.join(map(str, counts))} on a {dim}D grid ("
            + ("the element below and its two neighbours" if dim == 2 else
               "5: the element below and its 4 edge neighbours, 9: and the 4 corner ones")
            + f"), got {support}")
    # p: Q = p − log2(support) must stay positive; beyond 100, SHIFT = 100·realmin^(1/p)
    # stops being small. epsilon: √ε is the smooth minimum's rounding of the corner.
    p = _parse_option(node, "p", OVERHANG.keys["p"], dim)
    epsilon = _parse_option(node, "epsilon", OVERHANG.keys["epsilon"], dim)
    return OverhangConfig(direction, support, p, epsilon)


def _parse_projection(node: YamlNode) -> ProjectionConfig:
    node.mapping(_PROJECTION_KEYS)
    beta, eta = (_parse_option(node, key, PROJECTION.keys[key], None) for key in ("beta", "eta"))
    return ProjectionConfig(
        beta=beta, eta=eta,
        preserve_volume=_parse_option(node, "preserve_volume", PROJECTION.keys["preserve_volume"], None),
        robust=node.get("robust", None, lambda n: _parse_robust(n, eta)),
    )


def _parse_robust(node: YamlNode, eta: float) -> RobustConfig:
    """``robust: {delta_eta: 0.2, update_every: 20}``; the thresholds η ± Δη must lie in (0, 1)."""
    node.mapping(_ROBUST_KEYS)
    delta_eta = _parse_option(node, "delta_eta", ROBUST.keys["delta_eta"], None)
    if not (0.0 < eta - delta_eta and eta + delta_eta < 1.0):
        node.child("delta_eta").fail(f"the thresholds eta ± delta_eta ({_num(eta)} ± {_num(delta_eta)}) "
                                     "must lie in (0, 1)")
    return RobustConfig(delta_eta, _parse_option(node, "update_every", ROBUST.keys["update_every"], None))


def _parse_passive(node: YamlNode, dim: int) -> PassiveRegionConfig:
    """``{type: solid | void, <shape>: {...}}`` with exactly one shape key."""
    node.mapping(("type",) + PASSIVE_SHAPES.names)
    kind = node.require("type").choice(PASSIVE_TYPES)
    shapes = [key for key in PASSIVE_SHAPES.names if key in node.value]
    usable = _alternatives(PASSIVE_SHAPES.names_for(dim))
    if len(shapes) != 1:
        node.fail(f"give exactly one shape ({usable}), got {len(shapes)}")
    entry = PASSIVE_SHAPES[shapes[0]]
    shape_node = node.child(entry.name)
    if dim not in entry.dims:
        shape_node.fail(f"not available on a {dim}D mesh (use {usable})")
    if list(entry.options) == [entry.name]:  # the shape's value is its one option (box: ranges)
        options = _parse_options(node, entry, dim)
    else:
        options = _parse_options(shape_node.mapping(tuple(entry.options)), entry, dim)
    if isinstance(options.get("box"), Selection) and options["box"].group is not None:
        shape_node.child("group").fail("a box holds coordinates; a group of cells is "
                                       "{type: solid | void, group: NAME}")
    return PassiveRegionConfig(kind, entry.name, options, path=node.path)
