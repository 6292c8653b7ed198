"""Shared test helpers: the 88-line code's MBB beam (as YAML data and as built objects),
fourth-order central differences, small assembled problems, the finite-element loss
gradient and a work-counting clock.

Imported as ``from helpers import ...`` (pyproject.toml puts tests/ on the path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

import femopt
from femopt import adjoint
from femopt.fem.assembly import Assembler
from femopt.build import build_problem
from femopt.design import FILTERS, SIMP
from femopt.fem.elasticity import q4_stiffness
from femopt.errors import ConfigError
from femopt.mesh import StructuredMesh
from femopt.responses import Volume
from femopt.optimizers import OC
from femopt.solvers import make_solver
from femopt.loop.driver import optimize
from femopt.loop.evaluator import Constraint, Evaluator
from femopt.fem.dofs import DofMap

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


# ---------------------------------------------------------------- the half MBB beam


def mbb_data(nx=60, ny=20, filter_type="sensitivity", radius=1.5, **optimizer):
    """The 88-line code's half MBB beam (top88(nx, ny, 0.5, 3, radius, ·)) as YAML data;
    ``optimizer`` entries override the OC section."""
    return {
        "problem": "mbb-beam",
        "mesh": {"grid": [nx, ny], "size": [float(nx), float(ny)]},
        "material": {"E": 1.0, "nu": 0.3, "Emin": 1e-9, "thickness": 1.0},
        "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": nx, "y": 0}, "fix": ["y"]}],
        "loads": [{"at": {"x": 0, "y": ny}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "penalty": 3.0,
                   "filter": {"type": filter_type, "radius": radius}},
        "optimizer": {"type": "oc", "move": 0.2, "max_iterations": 1000, "tolerance": 0.01, **optimizer},
    }


def mbb_problem(nx=60, ny=20):
    """The half MBB beam's :class:`femopt.fem.problem.Problem`, built from :func:`mbb_data`."""
    return build_problem(femopt.load_config(mbb_data(nx, ny)))


def mbb_evaluator(nx=12, ny=5, filter_type="density", radius=1.5, solver="auto", problem=None, **kwargs):
    """An Evaluator on the half MBB beam (or on ``problem``) with SIMP p = 3, the given
    filter and, unless ``constraints`` is given, the volume constraint V ≤ 0.5."""
    problem = problem or mbb_problem(nx, ny)
    kwargs.setdefault("constraints", [Constraint(Volume(), 0.5, "constraints[0]")])
    return Evaluator(problem, make_solver(solver) if isinstance(solver, str) else solver,
                     filter=FILTERS.create(filter_type, problem.mesh, radius=radius),
                     material=SIMP(problem.E, problem.Emin, 3.0), **kwargs)


def run_oc(evaluator, x0=None, **kwargs):
    """The 88-line code's loop on ``evaluator``: OC with move 0.2 from x = 0.5, until
    max |Δx| < 0.01."""
    x0 = np.full(evaluator.n_variables, 0.5) if x0 is None else x0
    return optimize(evaluator, OC(move=0.2), x0, **{"max_iterations": 1000, "tolerance": 0.01, **kwargs})


# ---------------------------------------------------------------- numerics


def central_difference(function, x, direction, h=1e-3):
    """Fourth-order central difference of ``function`` (scalar or vector valued) at x along
    ``direction``: truncation O(h⁴) stays far below the round-off of the solves
    (~1e-13 relative), which a tiny h would amplify."""
    f = {t: np.asarray(function(x + t * h * direction)) for t in (-2, -1, 1, 2)}
    return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)


def mbb_assembler(nx=6, ny=3, seed=0):
    """(mesh, assembler, element scales in [0.1, 1]) of a small MBB half-beam: x fixed on
    the left edge, y at the bottom-right node."""
    mesh = StructuredMesh((nx, ny), (float(nx), float(ny)))
    dofmap = DofMap(mesh, mesh.dim)
    left = mesh.select_nodes([("x", 0.0, 0.0)])
    corner = mesh.select_nodes([("x", nx, nx), ("y", 0.0, 0.0)])
    free = np.setdiff1d(np.arange(dofmap.n_dofs), np.union1d(2 * left, 2 * corner + 1))
    assembler = Assembler(dofmap.element_dofs, q4_stiffness(1.0, 0.3), free, dofmap.n_dofs)
    scales = np.random.default_rng(seed).uniform(0.1, 1.0, mesh.n_elements)
    return mesh, assembler, scales


def loss_gradient(assembler, solver, u, u_bar, lam=None):
    """(n_elements,) dL/ds through K(s) u = f for any loss with ∂L/∂u = ``u_bar``, by the
    driver's path: :func:`femopt.adjoint.adjoint_solution` (one solve with the factor in
    ``solver``; skipped when ``lam`` is known, e.g. λ = u for compliance), then
    :func:`femopt.adjoint.stiffness_pullback`. u, u_bar: (n_dofs[, n_cases]) full length."""
    if lam is None:
        lam = adjoint.adjoint_solution(assembler, solver, u_bar)
    return adjoint.stiffness_pullback(assembler, lam, u)


def full_symmetric(lower):
    """The full symmetric matrix (CSC) of a lower triangle."""
    return (lower + sp.tril(lower, -1, format="csc").T).tocsc()


class WorkClock:
    """A fake clock for :class:`femopt.solvers.reuse.ReuseSolver` whose time is the work
    done: ``factorization`` units per Cholesky factorization and one per solve with the
    factor (a CG iteration's preconditioner, or a direct solve). The reuse decisions then
    depend on the work, not on the machine's speed."""

    def __init__(self, factorization: float = 50.0):
        self.factorization = factorization
        self.solves = 0
        self.solver = None

    def __call__(self) -> float:
        return self.factorization * self.solver.n_factorizations + self.solves


def reuse_solver(factorization_cost: float = 50.0, **options):
    """A ReuseSolver timed by a :class:`WorkClock` (a factorization costs
    ``factorization_cost`` solves)."""
    from femopt.solvers.reuse import ReuseSolver

    clock = WorkClock(factorization_cost)
    solver = clock.solver = ReuseSolver(clock=clock, **options)
    factor = solver._cholmod  # count the solves with the factor, whoever asks for them
    solve = factor.solve

    def counted(b):
        clock.solves += 1
        return solve(b)

    factor.solve = counted
    return solver


# ---------------------------------------------------------------- robust designs: member widths


def ball(radius: float, dim: int) -> np.ndarray:
    """(2k+1,)*dim bool: the grid points within ``radius`` (in elements) of the centre, a
    digital disk (2D) or ball (3D) of real radius."""
    reach = int(np.floor(radius))
    offsets = np.meshgrid(*[np.arange(-reach, reach + 1)] * dim, indexing="ij")
    return sum(o**2 for o in offsets) <= radius**2 + 1e-9


def opening_loss(phase: np.ndarray, radius: float) -> float:
    """The share of ``phase`` (a bool image or volume of one material, one pixel per element)
    that a morphological opening with a disk (ball) of ``radius`` elements removes: 0 when
    every member of the phase is at least 2·radius wide (scikit-image, a dependency).

    The domain's edges do not erode (scikit-image's mode "ignore"): the filter there is
    renormalized over the elements inside, so a member along an edge is as if cut from a
    wider one.
    """
    from skimage.morphology import opening  # slow to import: only the tests that use it pay

    phase = np.asarray(phase, bool)
    if not phase.any():
        return 0.0
    opened = opening(phase, ball(radius, phase.ndim), mode="ignore")
    return float(np.count_nonzero(phase & ~opened) / np.count_nonzero(phase))


# ---------------------------------------------------------------- files and messages


def write_yaml(directory, data, name="problem.yaml") -> Path:
    """Write ``data`` (a dict, or YAML text) to directory/name; returns the path."""
    path = Path(directory) / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def config_error(data, source="p.yaml") -> str:
    """The one-line ConfigError message of validating ``data``."""
    from femopt.config import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(data, source=source)
    message = str(info.value)
    assert "\n" not in message
    return message
