"""The Python API: ``femopt.load_config``, ``femopt.prepare`` and ``femopt.run``.

    import femopt
    result = femopt.run("configs/mbb.yaml")            # or a dict, or a loaded Config
    print(result.objective, result.iterations, result.status)

:func:`run` does everything ``femopt run`` does except printing; the command line
is a printer over it. :func:`femopt.optimize` is the lower-level loop for users who
build the objects themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from femopt.build import Model, build
from femopt.config import ProblemConfig, load_config, with_overrides
from femopt.topopt import IterationRecord, Result, optimize

ConfigLike = str | Path | Mapping | ProblemConfig


def prepare(config: ConfigLike, *, max_iterations: int | None = None,
            solver: str | None = None) -> Model:
    """Validate ``config`` (a problem file's path, its YAML as a dict, or a loaded Config),
    apply the overrides, and build the :class:`femopt.build.Model` of the run.
    Raises ConfigError (and the other FemoptErrors) with one-line messages."""
    if not isinstance(config, ProblemConfig):
        config = load_config(config)
    return build(with_overrides(config, max_iterations=max_iterations, solver=solver))


def run(config: ConfigLike | Model, outdir: str | Path | None = None, *,
        max_iterations: int | None = None, solver: str | None = None,
        callback: Callable[[IterationRecord], None] | None = None) -> Result:
    """Optimize the problem ``config`` (path, dict, Config, or a Model from :func:`prepare`)
    and return its :class:`femopt.topopt.Result`; write the result files into ``outdir``
    when given (nothing is written otherwise).

    max_iterations, solver: override the file's ``optimizer.max_iterations`` and
    ``solver`` type. callback(record) runs after every iteration and may raise
    StopIteration to stop (status "stopped").
    """
    if isinstance(config, Model):
        if max_iterations is not None or solver is not None:
            raise TypeError("run: give overrides to prepare(), not with a prepared Model")
        model = config
    else:
        model = prepare(config, max_iterations=max_iterations, solver=solver)
    optimizer = model.config.optimizer
    result = optimize(model.evaluator(), model.optimizer, model.x0,
                      max_iterations=optimizer.max_iterations, tolerance=optimizer.tolerance,
                      continuation=model.continuation(), callback=callback)
    if outdir is not None:
        from femopt.output import write_results  # matplotlib only when writing

        write_results(outdir, model.config.name, model.mesh, result,
                      extra_summary={"config": model.config.source})
    return result
