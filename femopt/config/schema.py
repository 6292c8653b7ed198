"""The validated problem: frozen dataclasses, one per section of a problem file, as
:func:`femopt.config.parse_config` returns them (numbers, names and selections; turning
selections into nodes is :mod:`femopt.build`'s job)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from femopt.config.reader import _num, config_error
from femopt.design import Schedule
from femopt.errors import ConfigError
from femopt.optimizers import OPTIMIZERS

AXES = ("x", "y", "z")
PASSIVE_TYPES = ("solid", "void")
PHYSICS = ("elasticity", "heat")   # what the field is: displacements, or a temperature


@dataclass(frozen=True)
class Selection:
    """Nodes whose coordinates lie in every ``(axis, lo, hi)`` range (bounds included)
    and, with ``group``, that belong to the mesh's group of that name.

    ``x: 0`` is stored as ``("x", 0.0, 0.0)``.  Axes appear at most once, in
    x, y, z order; axes not mentioned are unconstrained.
    """

    ranges: tuple[tuple[str, float, float], ...]
    group: str | None = None  # a named group of a mesh file (gmsh physical group, meshio set)

    def __str__(self) -> str:
        parts = [f"{a}: {_num(lo)}" if lo == hi else f"{a}: [{_num(lo)}, {_num(hi)}]"
                 for a, lo, hi in self.ranges]
        if self.group is not None:
            parts.insert(0, f"group: {self.group}")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class MeshConfig:
    """A generated grid (``grid``, ``size``) or a mesh file (``file``, ``scale``)."""

    grid: tuple[int, ...] = ()    # elements per axis: (nx, ny) or (nx, ny, nz); () for a file
    size: tuple[float, ...] = ()  # physical extent per axis, same length as grid
    file: str | None = None       # the mesh file's absolute path
    scale: float = 1.0            # the file's coordinates are multiplied by it (0.001: mm -> m)
    file_dim: int = 0             # the file mesh's dimension, read when the problem is parsed
    digest: str = ""              # sha256 of the file's bytes: the fingerprint follows its contents
    # A CAD file's mesh options {size, min_size, order} (femopt.mesh.cad); out of the repr so
    # that the fingerprints of other meshes stay as they were (fingerprint adds it when set).
    cad: tuple = field(default=(), repr=False)

    @property
    def cad_options(self) -> dict:
        """Keyword arguments of :func:`femopt.mesh.read_mesh` for a CAD file ({} otherwise)."""
        return dict(self.cad)

    @property
    def dim(self) -> int:
        return self.file_dim if self.file is not None else len(self.grid)


@dataclass(frozen=True)
class MaterialConfig:
    E: float = 1.0
    nu: float = 0.3
    Emin: float = 1e-9
    thickness: float = 1.0    # 2D only
    k: float = 1.0            # physics: heat: conductivity of the solid (power / (length · temperature))
    kmin: float = 1e-3        # physics: heat: conductivity of void (> 0 keeps K nonsingular)
    density: float = 1.0      # mass per unit volume of the solid (frequency responses)


@dataclass(frozen=True)
class SupportConfig:
    at: Selection
    fix: tuple[int, ...]      # fixed components, sorted: 0 = x, 1 = y, 2 = z
    path: str = ""            # e.g. "supports[1]", for later messages


@dataclass(frozen=True)
class LoadConfig:
    """One load: ``force`` (a total; on a facet group a uniform traction of that total),
    ``nodal_force`` (``per_node``), ``traction`` or ``pressure`` — exactly one."""

    at: Selection
    force: tuple[float, ...] = ()  # one entry per axis; () for a traction or pressure
    per_node: bool = False    # False: total force split equally over the nodes; True: on each node
    path: str = ""            # e.g. "loads[0]"
    traction: tuple[float, ...] = ()  # force per unit area of the facets, one entry per axis
    pressure: float | None = None     # force per unit area normal to the facets, into the body
    # physics: heat: heat / nodal_heat are force = (q,), flux is traction = (q,) (heat per unit
    # area flowing in), and this is a heat_source: power per unit volume in the cells of ``at``.
    source: float | None = None


@dataclass(frozen=True)
class LoadCaseConfig:
    """One load case: its loads act together; compliance sums ``weight`` × the case's compliance."""

    loads: tuple[LoadConfig, ...]
    weight: float = 1.0
    path: str = ""            # e.g. "load_cases[1]"


@dataclass(frozen=True)
class SpringConfig:
    """A grounded linear spring of ``stiffness`` on component ``component`` of each selected node,
    added to K's diagonal (independent of the design)."""

    at: Selection
    component: int            # 0 = x, 1 = y, 2 = z
    stiffness: float          # force per length unit, on each selected node
    path: str = ""            # e.g. "springs[0]"


@dataclass(frozen=True)
class PointMassConfig:
    """A non-structural mass (frequency responses), split equally over the selected nodes and
    acting in every direction."""

    at: Selection
    mass: float
    path: str = ""            # e.g. "point_masses[0]"


@dataclass(frozen=True)
class Spec:
    """A registered implementation chosen by name, with its options (defaults filled in).

    ``filter: {type: density, radius: 2}`` is ``Spec("density", {"radius": 2.0})``.
    """

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectionConfig:
    """Heaviside projection of the filtered densities (:mod:`femopt.design.projection`)."""

    beta: float | Schedule = 1.0      # sharpness, a constant or a Schedule
    eta: float = 0.5                  # threshold (first guess when preserve_volume)
    preserve_volume: bool = False     # choose η per evaluation: projected volume = filtered volume
    robust: RobustConfig | None = None  # three realizations η ± Δη (femopt.loop.robust)


@dataclass(frozen=True)
class RobustConfig:
    """The robust formulation (:mod:`femopt.loop.robust`): eroded η + Δη, blueprint η, dilated η − Δη."""

    delta_eta: float = 0.2            # in (0, 0.5), and η ± Δη in (0, 1)
    update_every: int = 20            # iterations between updates of the dilated volume limit


@dataclass(frozen=True)
class OverhangConfig:
    """The additive-manufacturing overhang filter (:mod:`femopt.design.overhang`)."""

    build_direction: str = "+y"       # +x, -x, +y, -y (+z, -z in 3D): the part grows along it
    support: int = 3                  # supporting elements below: 3 in 2D; 5 (cross) or 9 (square) in 3D
    p: float = 40.0                   # the smooth maximum's exponent
    epsilon: float = 1.0e-4           # the smooth minimum's regularization


@dataclass(frozen=True)
class PassiveRegionConfig:
    """Elements whose centers lie in a region, held at ``type`` (solid: ρ = 1, void: ρ = 0).

    shape: one of PASSIVE_SHAPES; options: that shape's (e.g. center, radius).
    """

    type: str                         # one of PASSIVE_TYPES
    shape: str
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""                    # e.g. "design.passive[0]"


@dataclass(frozen=True)
class DesignConfig:
    volume_fraction: float
    penalty: float | Schedule = 3.0   # SIMP exponent p or RAMP q; a constant or a Schedule
    filter: Spec = Spec("density", {"radius": 1.5})
    interpolation: str = "simp"       # one of INTERPOLATIONS
    projection: ProjectionConfig | None = None
    passive: tuple[PassiveRegionConfig, ...] = ()
    overhang: OverhangConfig | None = None
    # Mirror planes (axis, at) (at None: the bounding box's centre) and the extrusion axis
    # ("x", "y", "z" or None): :mod:`femopt.design.linking`.
    symmetry: tuple[tuple[str, float | None], ...] = ()
    extrusion: str | None = None


@dataclass(frozen=True)
class OptimizerConfig:
    type: str = "oc"          # one of OPTIMIZERS
    options: Mapping[str, Any] = field(default_factory=lambda: dict(OPTIMIZERS["oc"].defaults))
    max_iterations: int = 1000
    tolerance: float = 0.01   # stop when max |Δx| < tolerance


@dataclass(frozen=True)
class ResponseConfig:
    """An objective or constraint: one of RESPONSES with its options (``at`` as a
    Selection). ``limit``: constraints only, L ≤ limit."""

    type: str = "compliance"
    options: Mapping[str, Any] = field(default_factory=dict)
    limit: float | None = None
    path: str = "objective"


@dataclass(frozen=True)
class CheckpointConfig:
    """A run with an output folder writes a checkpoint every ``every`` iterations or
    ``seconds`` seconds, whichever comes first."""

    every: int = 10
    seconds: float = 60.0


@dataclass(frozen=True)
class ProblemConfig:
    name: str
    mesh: MeshConfig
    material: MaterialConfig
    supports: tuple[SupportConfig, ...]
    loads: tuple[LoadConfig, ...]
    design: DesignConfig
    optimizer: OptimizerConfig
    solver: Spec              # one of SOLVERS with its options
    source: str               # the file it came from, or "<string>"
    objective: ResponseConfig = ResponseConfig()
    constraints: tuple[ResponseConfig, ...] = ()   # empty: volume ≤ design.volume_fraction
    load_cases: tuple[LoadCaseConfig, ...] = ()    # used instead of ``loads`` when given
    springs: tuple[SpringConfig, ...] = ()
    checkpoint: CheckpointConfig = CheckpointConfig()
    physics: str = "elasticity"   # one of PHYSICS
    point_masses: tuple[PointMassConfig, ...] = ()

    @property
    def cases(self) -> tuple[LoadCaseConfig, ...]:
        """The load cases; a plain ``loads`` list is one case of weight 1."""
        return self.load_cases or (LoadCaseConfig(self.loads, 1.0, "loads"),)

    @property
    def constraint_list(self) -> tuple[ResponseConfig, ...]:
        """The constraints, with the default volume constraint filled in."""
        return self.constraints or (ResponseConfig("volume", limit=self.design.volume_fraction,
                                                   path="constraints[0]"),)

    @property
    def fingerprint(self) -> str:
        """A hash of what determines the optimization's path: everything but the file's
        name, the iteration limit and the checkpoint settings (checkpoints carry it, so a
        changed problem is not resumed)."""
        essential = replace(self, source="", checkpoint=CheckpointConfig(),
                            mesh=replace(self.mesh, file=None),  # its digest stands for it
                            optimizer=replace(self.optimizer, max_iterations=0))
        # A user's loss file counts by its contents too, and a CAD file's mesh options (each
        # appended only when there is one, so that other problems keep their fingerprints).
        files = "".join(f"|{name}:{digest}" for name, digest in _python_file_digests(self))
        cad = repr(self.mesh.cad) if self.mesh.cad else ""
        return hashlib.sha256((repr(essential) + cad + files).encode()).hexdigest()[:16]

    def error(self, path: str, reason: str) -> ConfigError:
        """A ConfigError about ``path`` of this problem, e.g. ``error("supports[1].at", "selects no node")``."""
        return config_error(self.source, path, reason)


def python_file(source: str, where: str) -> Path:
    """The file of a user function ``file.py:name`` (``where`` = "file.py"): relative to the
    problem file's folder (the current folder for a problem given as data)."""
    return Path(source).parent / where


def _python_file_digests(config: ProblemConfig) -> list[tuple[str, str]]:
    """(option path, sha256 of the file's bytes, or "unreadable") of every ``file.py:name``
    a response names (``objective: {type: python, function: "myloss.py:loss"}``)."""
    digests = []
    for response in (config.objective, *config.constraints):
        for key, value in sorted(response.options.items()):
            where = value.rpartition(":")[0] if isinstance(value, str) else ""
            if where.endswith(".py"):
                try:
                    digest = hashlib.sha256(python_file(config.source, where).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                digests.append((f"{response.path}.{key}", digest))
    return digests
