"""The keys of a problem file, declared once: for each section its keys with their kind,
default, bounds, allowed values and a one-line description.

The section parsers (:mod:`femopt.config.sections`, :mod:`femopt.config.options`) read
bounds, defaults and the allowed keys from here, and :mod:`femopt.config.describe`
generates ``femopt schema`` (text, JSON Schema, docs/problem-file.md) from the same
declarations, so the checks and the reference cannot drift apart. Defaults are the
dataclasses' own (:mod:`femopt.config.schema`); names of implementations and their
options come from the registries, read when asked (a test may register one more).

A new key of a fixed section: one :class:`Key` here (in documentation order, which is
also the order messages list allowed keys in) and its line in the section's parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from femopt.config.schema import (AXES, PASSIVE_TYPES, PHYSICS, CheckpointConfig, DesignConfig, LoadCaseConfig,
                                  MaterialConfig, MeshConfig, OptimizerConfig, OverhangConfig, ProjectionConfig,
                                  RobustConfig)
from femopt.element import CELL_TYPES
from femopt.design import FILTERS, INTERPOLATIONS, PASSIVE_SHAPES, Schedule
from femopt.design.overhang import DIRECTIONS as OVERHANG_DIRECTIONS, SUPPORTS as OVERHANG_SUPPORTS
from femopt.optimizers import OPTIMIZERS
from femopt.registry import KINDS, REQUIRED, Registry
from femopt.responses import RESPONSES
from femopt.responses.eigen import LOWER_BOUNDS
from femopt.solvers import SOLVERS

# What a key's value is: a kind of registered option (femopt.registry.KINDS), or one of
# these, which only fixed sections use.
KEY_KINDS = KINDS + (
    "name",       # a plain name usable as a folder name
    "path",       # a file path, relative to the problem file's folder
    "grid",       # 2 or 3 positive integers (elements per axis)
    "length",     # a positive length within femopt.mesh.checks.COORDINATE_RANGE
    "vector",     # one value per axis of the mesh, each of the kind ``of`` ("magnitude", "length")
    "extent",     # a grid's length per axis, or one positive length (a CAD file's element size)
    "fix",        # components: x, y, z, a list of them, or all (physics: heat: t)
    "entry",      # the name of an entry of the registry ``of``
    "section",    # a mapping: the Section ``of``
    "list",       # a non-empty list of the Section ``of``
)


@dataclass(frozen=True)
class Key:
    """One key of a section.

    default: its value when left out; REQUIRED when it must be given (None where leaving
    it out means "none", as for projection). default_text: the default in words where it
    is not a plain value. physics: the only physics it applies to (None: every one).
    needs: another key of the section without which it is not allowed. unless: for a
    required key, another key whose presence makes it optional. dims: the mesh
    dimensions it applies to. of: the Section or Registry of "section", "list", "entry",
    the kind of a "vector"'s entries; for "parameter" a Registry whose chosen entry's
    option of this name gives the bounds.
    """

    kind: str
    doc: str
    default: Any = None
    bounds: Mapping[str, float] = field(default_factory=dict)
    choices: tuple = ()
    of: Any = None
    physics: str | None = None
    needs: str | None = None
    unless: str | None = None
    dims: tuple[int, ...] = (2, 3)
    default_text: str | None = None

    def __post_init__(self):
        if self.kind not in KEY_KINDS:
            raise ValueError(f"unknown key kind {self.kind!r}; one of {', '.join(KEY_KINDS)}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Section:
    """A mapping of a problem file: its fixed ``keys``, in documentation order.

    exactly_one: keys of which exactly one must be given (at_most_one: one or none).
    lower_bounds: registry entries bounded from below by one of their options instead of
    the fixed keys (a frequency constraint's min_hz instead of a limit). registry: ``{type: NAME, …}``
    of that registry, the entry's options beside ``keys`` (``type`` may be left out when
    there is a ``type_default``). bare: a key whose value alone may stand for the mapping
    (``NAME`` for ``{type: NAME}``, ``x`` for ``{axis: x}``). shapes: a
    registry whose entry names are keys, exactly one given, each holding the entry's
    options (or the one option itself when it has the entry's name, as box: {x: …}).
    """

    doc: str
    keys: Mapping[str, Key] = field(default_factory=dict)
    exactly_one: tuple[str, ...] = ()
    at_most_one: tuple[str, ...] = ()
    lower_bounds: Mapping[str, str] = field(default_factory=dict)
    registry: Registry | None = None
    type_default: str | None = None
    bare: str | None = None
    shapes: Registry | None = None

    def names(self, physics: str | None = None) -> tuple[str, ...]:
        """The keys, in order; with ``physics`` those that apply to it."""
        return tuple(name for name, key in self.keys.items()
                     if physics is None or key.physics in (None, physics))


SCHEDULE = Section("A continuation schedule: the parameter starts at start and is raised by factor (or step) "
                   "every `every` iterations, or sooner once the design has settled, until end.", {
    "start": Key("number", "the first value (within the parameter's bounds)", REQUIRED),
    "end": Key("number", "the last value, >= start", REQUIRED),
    "every": Key("integer", "iterations between raises", Schedule.every, {"ge": 1}),
    "factor": Key("number", "multiply the value by it at each stage", None, {"gt": 1}),
    "step": Key("number", "add it to the value at each stage", None, {"gt": 0}),
}, exactly_one=("factor", "step"))

MESH = Section("A generated grid (grid, size), a mesh file (file, scale) or a CAD part meshed by gmsh "
               "(file, size, min_size, order).", {
    "grid": Key("grid", "elements along x, y (and z): a generated structured grid"),
    "size": Key("extent", "the grid's physical extent per axis; with a CAD file (.step, .stp, .iges, .igs, "
                ".brep, required there) the element size gmsh aims at", of="length",
                default_text="grid (one length unit per element)"),
    "file": Key("path", "a mesh file meshio reads (gmsh .msh with physical groups, .vtu, …) whose "
                f"cells are of one type: {', '.join(CELL_TYPES.names)}; or a CAD file"),
    "scale": Key("number", "the file's coordinates are multiplied by it (0.001: mm to m)", MeshConfig.scale,
                 {"gt": 0}, needs="file"),
    "min_size": Key("number", "a CAD file's smallest element size (0: no limit; at most size)", 0.0, {"ge": 0},
                    needs="file"),
    "order": Key("integer", "a CAD file's elements: 1 linear (T4, T3), 2 quadratic (T10, T6)", 1,
                 {"ge": 1, "le": 2}, needs="file"),
}, exactly_one=("grid", "file"))

MATERIAL = Section("The solid's material; the void's is Emin (kmin). Every key may be left out.", {
    "E": Key("magnitude", "Young's modulus of the solid", MaterialConfig.E, {"gt": 0}, physics="elasticity"),
    "nu": Key("number", "Poisson's ratio", MaterialConfig.nu, {"gt": -1, "lt": 0.5}, physics="elasticity"),
    "Emin": Key("number", "Young's modulus of void: 0, or < E and at least 1e-30 × E", MaterialConfig.Emin,
                {"ge": 0}, physics="elasticity"),
    "k": Key("magnitude", "conductivity of the solid (power / (length · temperature))", MaterialConfig.k,
             {"gt": 0}, physics="heat"),
    "kmin": Key("number", "conductivity of void: < k and at least 1e-30 × k", MaterialConfig.kmin, {"gt": 0},
                physics="heat"),
    "thickness": Key("magnitude", "out-of-plane thickness (plane stress)", MaterialConfig.thickness, {"gt": 0},
                     dims=(2,)),
    "density": Key("magnitude", "mass per unit volume of the solid (frequency responses)", MaterialConfig.density,
                   {"gt": 0}, physics="elasticity"),
})

SUPPORT = Section("Fixed components of the selected nodes.", {
    "at": Key("selection", "the nodes", REQUIRED),
    "fix": Key("fix", "the fixed components: x, y, z, a list of them, or all (physics: heat: t, the "
               "temperature, held at 0)", REQUIRED),
})

LOAD = Section("One load on the selected nodes or facets: exactly one kind.", {
    "at": Key("selection", "the nodes (a facet group for traction, pressure and flux)", REQUIRED,
              unless="heat_source"),
    "force": Key("vector", of="magnitude", doc="a total force, split equally over the selected nodes (on a facet group: a "
                 "uniform traction of that total)", physics="elasticity"),
    "nodal_force": Key("vector", "this force on each selected node", of="magnitude", physics="elasticity"),
    "traction": Key("vector", "force per unit area of the facets of a facet group", of="magnitude",
                    physics="elasticity"),
    "pressure": Key("magnitude", "force per unit area normal to the facets of a facet group, into the body",
                    physics="elasticity"),
    "heat": Key("magnitude", "a total heat input, split equally over the selected nodes", physics="heat"),
    "nodal_heat": Key("magnitude", "this heat input on each selected node", physics="heat"),
    "flux": Key("magnitude", "heat per unit area flowing in through the facets of a facet group", physics="heat"),
    "heat_source": Key("magnitude", "power per unit volume in the cells of at (the whole mesh without at)",
                       physics="heat"),
}, exactly_one=("force", "nodal_force", "traction", "pressure", "heat", "nodal_heat", "flux", "heat_source"))

LOAD_CASE = Section("One load case: its loads act together.", {
    "weight": Key("magnitude", "compliance sums weight × the case's compliance", LoadCaseConfig.weight,
                  {"gt": 0}),
    "loads": Key("list", "the case's loads", REQUIRED, of=LOAD),
})

SPRING = Section("A grounded linear spring on one component of each selected node, added to K's diagonal "
                 "(independent of the design).", {
    "at": Key("selection", "the nodes", REQUIRED),
    "component": Key("component", "the component it acts on", REQUIRED),
    "stiffness": Key("magnitude", "force per length unit, on each selected node", REQUIRED, {"gt": 0}),
})

FILTER = Section("The density or sensitivity filter (radius in length units).", registry=FILTERS,
                 type_default=DesignConfig.filter.type, bare="type")

ROBUST = Section("The robust formulation: eroded (η + Δη), blueprint (η) and dilated (η − Δη) designs; "
                 "needs optimizer type mma.", {
    "delta_eta": Key("number", "Δη; the thresholds η ± Δη must lie in (0, 1)", RobustConfig.delta_eta,
                     {"gt": 0, "lt": 0.5}),
    "update_every": Key("integer", "iterations between updates of the dilated design's volume limit",
                        RobustConfig.update_every, {"ge": 1}),
})

PROJECTION = Section("Heaviside projection of the filtered densities (a density filter only).", {
    "beta": Key("parameter", "sharpness β: a number or a continuation schedule", ProjectionConfig.beta,
                {"gt": 0}),
    "eta": Key("number", "threshold η (the first guess with preserve_volume)", ProjectionConfig.eta,
               {"gt": 0, "lt": 1}),
    "preserve_volume": Key("boolean", "choose η per evaluation so that the projected volume is the filtered "
                           "volume", ProjectionConfig.preserve_volume),
    "robust": Key("section", "three realizations η ± Δη (minimum length scale)", of=ROBUST,
                  default_text="none"),
})

OVERHANG = Section("The overhang filter (Langelaar's AM filter): every element is supported from below, "
                   "along the build direction, so the part prints without support structures.", {
    "build_direction": Key("choice", "the direction the part grows along", REQUIRED, choices=OVERHANG_DIRECTIONS),
    "support": Key("choice", "grids only: the supporting elements below: 3 in 2D; 5 (a cross) or 9 (a square) in 3D",
                   choices=tuple(sorted({n for counts in OVERHANG_SUPPORTS.values() for n in counts})),
                   default_text=" in 2D, ".join(str(c[0]) for c in OVERHANG_SUPPORTS.values()) + " in 3D"),
    "p": Key("number", "the smooth maximum's exponent", OverhangConfig.p, {"ge": 4, "le": 100}),
    "epsilon": Key("number", "the smooth minimum's regularization", OverhangConfig.epsilon, {"gt": 0, "le": 0.1}),
    "angle": Key("number", "mesh files only: the overhang angle from the baseplate (degrees); the supports of an "
                 "element are the elements of the slice below inside the cone under it", OverhangConfig.angle,
                 {"ge": 10, "lt": 90}),
    "layer": Key("number", "mesh files only: the slice height along the build direction", None, {"gt": 0},
                 default_text="the median element extent along the build direction"),
})

SYMMETRY = Section("A mirror plane normal to an axis.", {
    "axis": Key("choice", "the plane's normal", REQUIRED, choices=AXES),
    "at": Key("number", "the plane's coordinate on that axis", default_text="the bounding box's centre"),
}, bare="axis")

PASSIVE = Section("Elements held at ρ = 1 (solid) or ρ = 0 (void), not design variables: those whose centers "
                  "lie in one shape, or a group of cells.", {
    "type": Key("choice", "what the region holds", REQUIRED, choices=PASSIVE_TYPES),
}, shapes=PASSIVE_SHAPES)

DESIGN = Section("The design parameterization: x → passive regions → filter → projection → interpolation.", {
    "volume_fraction": Key("number", "the volume limit, a fraction of the whole domain (passive solids included)",
                           REQUIRED, {"gt": 0, "le": 1}),
    "penalty": Key("parameter", "SIMP exponent p or RAMP q: a number or a continuation schedule",
                   DesignConfig.penalty, of=INTERPOLATIONS),
    "interpolation": Key("entry", "the material interpolation E(ρ)",
                         DesignConfig.interpolation, of=INTERPOLATIONS),
    "filter": Key("section", "NAME or {type: NAME, radius}", of=FILTER,
                  default_text=f"{{type: {DesignConfig.filter.type}, radius: {DesignConfig.filter.options['radius']}}}"),
    "projection": Key("section", "Heaviside projection", of=PROJECTION, default_text="none"),
    "passive": Key("list", "passive regions", of=PASSIVE, default_text="none"),
    "overhang": Key("section", "the additive-manufacturing overhang filter (grids: Langelaar's layers; mesh files: slices and a cone of supports)", of=OVERHANG,
                    default_text="none"),
    "symmetry": Key("list", "mirror planes: the design is symmetric about each (one per axis)", of=SYMMETRY,
                    default_text="none"),
    "extrusion": Key("choice", "the densities are constant along this axis (a prismatic part)", choices=AXES,
                     default_text="none"),
})

OBJECTIVE = Section("The response to minimize: NAME or {type: NAME, <its options>}.", registry=RESPONSES,
                    bare="type")

CONSTRAINT = Section("A constraint response ≤ limit: {type: NAME, limit, <its options>}; frequency and "
                     "buckling are bounded from below instead (min_hz, min_factor).", {
    "limit": Key("number", "the response's upper limit", REQUIRED, {"gt": 0}),
}, registry=RESPONSES, lower_bounds=LOWER_BOUNDS)

OPTIMIZER = Section("The optimizer and the loop's stopping rule; oc handles compliance with one volume "
                    "constraint only.", {
    "max_iterations": Key("integer", "stop after this many iterations", OptimizerConfig.max_iterations, {"ge": 1}),
    "tolerance": Key("number", "stop when max |Δx| < tolerance (and every schedule has reached its end)",
                     OptimizerConfig.tolerance, {"gt": 0}),
}, registry=OPTIMIZERS, type_default=OptimizerConfig.type)

SOLVER = Section("The linear solver: NAME or {type: NAME, <its options>}.", registry=SOLVERS, bare="type")

CHECKPOINT = Section("A run with an output folder writes a checkpoint every `every` iterations or `seconds` "
                     "seconds, whichever comes first.", {
    "every": Key("integer", "iterations between checkpoints", CheckpointConfig.every, {"ge": 1}),
    "seconds": Key("number", "seconds between checkpoints", CheckpointConfig.seconds, {"gt": 0}),
})

POINT_MASS = Section("Non-structural mass, split equally over the selected nodes (frequency responses).", {
    "at": Key("selection", "the nodes", REQUIRED),
    "mass": Key("magnitude", "the total mass", REQUIRED, {"gt": 0}),
})

PROBLEM = Section("A problem file: one YAML mapping of these sections.", {
    "problem": Key("name", "the problem's name; the default output folder is out/<problem>",
                   default_text="the file's name without .yaml"),
    "physics": Key("choice", "what the field is: displacements (elasticity) or a temperature (heat)",
                   PHYSICS[0], choices=PHYSICS),
    "mesh": Key("section", "the mesh", REQUIRED, of=MESH),
    "material": Key("section", "the material", of=MATERIAL, default_text="the defaults of its keys"),
    "supports": Key("list", "the supports (fixed components)", REQUIRED, of=SUPPORT),
    "loads": Key("list", "the loads of the one load case (a problem with frequency responses only may have none)",
                 of=LOAD),
    "load_cases": Key("list", "several load cases, instead of loads", of=LOAD_CASE),
    "springs": Key("list", "grounded springs", of=SPRING, physics="elasticity", default_text="none"),
    "design": Key("section", "the design parameterization", REQUIRED, of=DESIGN),
    "objective": Key("section", "the response to minimize", "compliance", of=OBJECTIVE),
    "constraints": Key("list", "responses held at or below their limits", of=CONSTRAINT,
                       default_text="[{type: volume, limit: design.volume_fraction}]"),
    "optimizer": Key("section", "the optimizer", OptimizerConfig.type, of=OPTIMIZER),
    "solver": Key("section", "the linear solver", "auto", of=SOLVER),
    "checkpoint": Key("section", "checkpoint frequency", of=CHECKPOINT, default_text="the defaults of its keys"),
    "point_masses": Key("list", "non-structural masses", of=POINT_MASS, physics="elasticity", default_text="none"),
}, at_most_one=("loads", "load_cases"))

__all__ = ["CHECKPOINT", "CONSTRAINT", "DESIGN", "FILTER", "KEY_KINDS", "Key", "LOAD", "LOAD_CASE",
           "MATERIAL", "MESH", "OBJECTIVE", "OPTIMIZER", "OVERHANG", "PASSIVE", "POINT_MASS", "PROBLEM", "PROJECTION", "ROBUST",
           "SCHEDULE", "SOLVER", "SPRING", "SUPPORT", "SYMMETRY", "Section"]
