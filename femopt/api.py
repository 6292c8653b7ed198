"""The Python API: ``femopt.load_config``, ``femopt.prepare``, ``femopt.run`` and ``femopt.analyze``.

    import femopt
    result = femopt.run("configs/mbb.yaml")   # or a dict, a ProblemConfig, or a prepared Model
    print(result.objective, result.iterations, result.status)

:func:`run` does everything ``femopt run`` does except printing, :func:`analyze`
everything ``femopt analyze`` does; the command line is a printer over them.
:func:`femopt.optimize` is the lower-level loop for users who build the objects themselves.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from femopt.build import Model, build, build_mesh, check_memory
from femopt.config import ProblemConfig, load_config, with_overrides
from femopt.mesh.cad import copy_mesh
from femopt.output import OutputFolder, checkpoint, expected_bytes, write_files
from femopt.output.checkpoint import CheckpointError
from femopt.loop.analysis import design_variables, evaluate_once, read_design
from femopt.loop.driver import IterationRecord, Result, optimize
from femopt.output.stress import stress_field
from femopt.signals import handling_signals

ConfigLike = str | Path | Mapping | ProblemConfig


def prepare(config: ConfigLike, *, max_iterations: int | None = None,
            solver: str | None = None) -> Model:
    """Validate ``config`` (a problem file's path, its YAML as a dict, or the
    :class:`femopt.config.ProblemConfig` of :func:`femopt.load_config`), apply the
    overrides, and build the :class:`femopt.build.Model` of the run.
    Raises ConfigError (and the other FemoptErrors) with one-line messages."""
    if not isinstance(config, ProblemConfig):
        config = load_config(config)
    return build(with_overrides(config, max_iterations=max_iterations, solver=solver))


def run(config: ConfigLike | Model, outdir: str | Path | None = None, *,
        max_iterations: int | None = None, solver: str | None = None,
        callback: Callable[[IterationRecord], None] | None = None, resume: bool = False,
        on_start: Callable[[Model], None] | None = None, force: bool = False,
        extra_summary: Mapping | None = None) -> Result:
    """Optimize the problem ``config`` (path, dict, ProblemConfig, or a Model from :func:`prepare`)
    and return its :class:`femopt.loop.driver.Result`.

    outdir: write the result files there (nothing is written otherwise). The folder is
    created, proven writable and locked before anything is built
    (:class:`femopt.output.OutputFolder`); the run checkpoints into it (``checkpoint:``
    in the file says how often), SIGINT/SIGTERM write a checkpoint at the end of the
    current iteration and raise :class:`femopt.output.checkpoint.Interrupted`, and the
    files appear together at the end. resume: go on from outdir's checkpoint.
    max_iterations, solver: override the file's ``optimizer.max_iterations`` and
    ``solver`` type. on_start(model) runs once the problem is built, before the first
    iteration; callback(record) after every iteration, and may raise StopIteration to
    stop (status "stopped"). A problem whose estimated memory exceeds what the machine
    has available raises MemoryLimitError before anything large is allocated, unless
    ``force``. extra_summary: entries added to summary.json (a study puts the case's
    parameters and fingerprint there, to know the result is complete and its own).
    """
    if isinstance(config, Model):
        if max_iterations is not None or solver is not None:
            raise TypeError("run: give overrides to prepare(), not with a prepared Model")
        model, config = config, config.config
    else:
        config = with_overrides(config if isinstance(config, ProblemConfig) else load_config(config),
                                max_iterations=max_iterations, solver=solver)
        model = None
        if not force:
            check_memory(config)
    if resume and outdir is None:
        raise CheckpointError("--resume needs the output folder of the interrupted run (-o OUTDIR)")
    if outdir is None:
        return _optimize(model or build(config), on_start, callback)

    mesh = model.mesh if model else build_mesh(config)  # cheap: counts, no arrays yet
    with OutputFolder(outdir, expected_bytes=expected_bytes(mesh, len(config.cases))) as folder:
        model = model or build(config)
        fingerprint = config.fingerprint
        start = (checkpoint.load(folder.checkpoint, fingerprint, config.optimizer.max_iterations)
                 if resume else None)
        checkpointer = checkpoint.Checkpointer(folder.checkpoint, fingerprint,
                                               config.checkpoint.every, config.checkpoint.seconds)
        with _stop_on_signals(checkpointer):
            result = _optimize(model, on_start, callback, checkpoint=checkpointer, resume=start)
        stress = stress_field(model.objective, model.constraints, result.rho, result.u)
        folder.publish(lambda staging: write_files(
            staging, config.name, model.mesh, result,
            extra_summary={"config": config.source, **(extra_summary or {})},
            material=None if config.physics == "heat" else (config.material.E, config.material.nu),
            physics=config.physics, stress=stress) + _cad_mesh_files(config, staging))
        if result.status == "converged":  # nothing left to go on with
            folder.checkpoint.unlink(missing_ok=True)
    return result


def _cad_mesh_files(config: ProblemConfig, staging) -> list:
    """[mesh.msh] for a mesh made from a CAD file (gmsh's mesh of it, femopt.mesh.cad), else []."""
    if not config.mesh.cad:
        return []
    return [copy_mesh(config.mesh.file, staging, **config.mesh.cad_options)]
def analyze(config: ConfigLike | Model, design: str | Path | None = None, outdir: str | Path | None = None, *,
            solver: str | None = None, force: bool = False,
            on_start: Callable[[Model], None] | None = None) -> Result:
    """Every response of ``config`` (path, dict, ProblemConfig, or a Model from
    :func:`prepare`) at one design, without optimizing: the
    :class:`femopt.loop.driver.Result` of one evaluation (status "analyzed").

        result = femopt.analyze("configs/cantilever_modes.yaml")           # the uniform start
        result = femopt.analyze(config, design="out/cc/result.npz", outdir="out/cc-check")
        result.responses, result.fields["eigenfrequencies_hz"]

    design: a result.npz whose ``x`` to evaluate (None: the starting design;
    :func:`femopt.loop.analysis.read_design`). outdir: write the usual files there, as
    :func:`run` does (summary.json, the fields, the plots, and with eigenvalue responses
    modes.png). solver: override the file's solver type. on_start(model): called once
    built. Raises FemoptError subclasses with one-line messages (a design of another
    mesh, an unreadable file, …)."""
    if isinstance(config, Model):
        model, config = config, config.config
    else:
        config = with_overrides(config if isinstance(config, ProblemConfig) else load_config(config), solver=solver)
        model = None
        if not force:
            check_memory(config)
    x_design = None if design is None else read_design(design, build_mesh(config).n_elements)

    def evaluate(model: Model) -> Result:
        if on_start is not None:
            on_start(model)
        x = model.x0
        if x_design is not None:
            x = design_variables(model.problem.passive, model.x0, x_design, model.linking)
        return evaluate_once(model.evaluator(), x, model.continuation().values, model.warnings)

    if outdir is None:
        return evaluate(model or build(config))
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


def _optimize(model: Model, on_start, callback, **options) -> Result:
    """:func:`femopt.loop.driver.optimize` on the model's objects, with its warnings."""
    if on_start is not None:
        on_start(model)
    settings = model.config.optimizer
    result = optimize(model.evaluator(), model.optimizer, model.x0,
                      max_iterations=settings.max_iterations, tolerance=settings.tolerance,
                      continuation=model.continuation(), callback=callback, **options)
    return _with_warnings(result, model)


def _with_warnings(result: Result, model: Model) -> Result:
    """``result`` with the model's warnings and those about the result itself."""
    warnings = list(model.warnings)
    if model.mesh.dim == 3 and not np.any(result.rho > 0.5):
        warnings.append(f"the design has no element with density above 0.5 after {result.iterations} "
                        "iterations: density.stl is empty and the picture blank (run longer?)")
    return replace(result, warnings=tuple(warnings))


def _stop_on_signals(checkpointer):
    """While inside, SIGINT and SIGTERM ask ``checkpointer`` to save and stop after the
    current iteration (a second signal stops at once); the old handlers come back after."""

    def handler(number, frame):
        if checkpointer.stop_signal is not None:  # asked twice: stop now
            signal.default_int_handler(number, frame)
        checkpointer.request_stop(number)

    return handling_signals(handler)
