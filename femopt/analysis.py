"""``femopt analyze``: every response of a problem at one design, without optimizing.

    result = femopt.analyze("configs/cantilever_modes.yaml")           # the uniform start
    result = femopt.analyze(config, design="out/cc/result.npz", outdir="out/cc-check")
    result.responses, result.fields["eigenfrequencies_hz"]

The design is the problem's starting design (the uniform ``volume_fraction``, passive
regions fixed) or the ``x`` of an earlier result.npz of the same mesh. One evaluation runs
exactly as an optimization iteration would (filter, projection, interpolation, solve,
responses, eigenvalues), and with ``outdir`` the usual files are written: summary.json (its
``status`` is "analyzed"), the fields, the plots, and with eigenvalue responses modes.png.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from femopt.errors import FemoptError
from femopt.topopt import PHASES, IterationRecord, PhaseTimer, Result


def analyze(config, design: str | Path | None = None, outdir: str | Path | None = None, *,
            solver: str | None = None, force: bool = False, on_start=None) -> Result:
    """The :class:`femopt.topopt.Result` of one evaluation of ``config`` (a path, dict,
    Config or a Model from :func:`femopt.prepare`) at ``design`` (a result.npz; None: the
    starting design). outdir: write the result files there (as :func:`femopt.run` does).
    solver: override the file's solver type. on_start(model): called once built.
    Raises FemoptError subclasses with one-line messages (a design of another mesh, an
    unreadable file, …)."""
    from femopt.build import Model, build, build_mesh, check_memory
    from femopt.config import ProblemConfig, load_config, with_overrides

    if isinstance(config, Model):
        model, config = config, config.config
    else:
        config = config if isinstance(config, ProblemConfig) else load_config(config)
        config = with_overrides(config, solver=solver)
        model = None
        if not force:
            check_memory(config)
    x_design = None if design is None else read_design(design, build_mesh(config).n_elements)

    def evaluate(model):
        if on_start is not None:
            on_start(model)
        timer = PhaseTimer()
        evaluator = model.evaluator(timer)
        x = model.x0 if x_design is None else design_variables(model, x_design)
        start = time.perf_counter()
        evaluator.set_parameters(**model.continuation().values)
        evaluator.start_iteration()
        ev = evaluator(x)
        seconds = time.perf_counter() - start
        volume = evaluator.volume(ev.rho)
        solver = evaluator.solver
        result = Result(x=evaluator.space.embed(x), rho=ev.rho, u=ev.u, objective=ev.objective, volume=volume,
                        iterations=0, status="analyzed",
                        history=[IterationRecord(0, ev.objective, volume, 0.0, seconds)],
                        timings={phase: timer.totals[phase] for phase in PHASES}, wall_time=seconds,
                        solver=solver.name, factorizations=solver.n_factorizations,
                        parameters=model.continuation().values, responses=dict(ev.responses),
                        fields=dict(ev.fields))
        return replace(result, warnings=tuple(model.warnings))

    if outdir is None:
        return evaluate(model or build(config))

    from femopt.output import OutputFolder, expected_bytes, write_files
    from femopt.output.stress import stress_field

    mesh = model.mesh if model else build_mesh(config)
    with OutputFolder(outdir, expected_bytes=expected_bytes(mesh, len(config.cases))) as folder:
        model = model or build(config)
        result = evaluate(model)
        stress = stress_field(model.objective, model.constraints, result.rho, result.u)
        extra = {"config": config.source, "design": str(design) if design is not None else "initial"}
        folder.publish(lambda staging: write_files(
            staging, config.name, model.mesh, result, extra_summary=extra,
            material=None if config.physics == "heat" else (config.material.E, config.material.nu),
            physics=config.physics, stress=stress))
    return result


def read_design(path: str | Path, n_elements: int) -> np.ndarray:
    """(n_elements,) the design ``x`` of a result.npz (passive elements included); a
    FemoptError naming the file when it is unreadable, has no x, or is of another mesh."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise FemoptError(f"--design: {path} holds no design 'x' (a femopt result.npz has one)")
            x = np.asarray(data["x"], float).ravel()
    except FemoptError:
        raise
    except (OSError, ValueError) as exc:
        raise FemoptError(f"--design: cannot read {path}: {exc}") from None
    if len(x) != n_elements:
        raise FemoptError(f"--design: {path} holds a design of {len(x)} elements; this problem's mesh has "
                          f"{n_elements}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise FemoptError(f"--design: {path}: the design must lie in [0, 1]")
    return x


def design_variables(model, x_full: np.ndarray) -> np.ndarray:
    """The optimizer's variables of the full design x_full (n_elements,): its designable
    entries, and a bound formulation's extra variables at their starting values."""
    from femopt.design import DesignSpace

    space = DesignSpace(model.problem.passive, model.mesh.n_elements)
    x = space.restrict(x_full)
    return np.concatenate([x, np.asarray(model.x0)[space.n_variables:]])
