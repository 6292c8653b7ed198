"""Command line: ``femopt run``, ``analyze``, ``validate``, ``check-grad``, ``study``, ``schema``: printers over the Python API
(:mod:`femopt.api`). Errors become one line and exit code 2."""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import click

from femopt import __version__
from femopt.errors import FemoptError
from femopt.loop.gradcheck import MAX_STEP as MAX_GRADIENT_STEP
from femopt.solvers import SOLVERS


def _user_errors(command):
    """Print a FemoptError as ``error: <message>`` on stderr and exit with its code (2 for
    bad input), with no traceback; Ctrl-C anywhere in the command is :func:`_interrupted`
    (a command with something to say catches KeyboardInterrupt itself)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FemoptError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _interrupted()

    return wrapper


def _not_nan(param, value):
    """A float option's value, refused as click refuses a value out of its range when NaN
    (which FloatRange lets through: every comparison with NaN is false)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number", param=param)
    return value


def _interrupted(hint: str | None = None) -> NoReturn:
    """Ctrl-C (KeyboardInterrupt): ``interrupted[; hint]`` on stderr and exit 130 (128 +
    SIGINT, the shell's convention) — instead of click's "Aborted!" and exit 1."""
    click.echo("interrupted" + (f"; {hint}" if hint else ""), err=True)
    sys.exit(130)


def _go_on(config_path, outdir, options: list[str]) -> str:
    """The hint after an interrupted ``femopt run``: the command that goes on, with
    ``--resume`` when OUTDIR holds a checkpoint to go on from (else it starts over)."""
    words = ["femopt", "run", str(config_path), *(["-o", str(outdir)] if outdir else []), *options]
    if outdir and (Path(outdir) / "checkpoint.npz").is_file():
        words.append("--resume")
    return f"go on with: {shlex.join(words)}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="femopt")
def main():
    """femopt: finite-element topology optimization from a YAML problem file."""


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@_user_errors
def validate(config_path):
    """Check CONFIG (the YAML and its node selections) without running it."""
    # Imported here, not at the top: `femopt --version` and `--help` stay fast.
    from femopt.build import (build_design_linking, build_problem, build_responses, check_memory,
                              design_warnings, merged_nodes_notice, robust_notice)
    from femopt.config import load_config
    from femopt.mesh.cad import describe_faces

    config = load_config(config_path)
    estimate = check_memory(config)  # before the mesh is built: a huge grid stops here
    warnings, selections = [], []
    problem = build_problem(config, warnings, selections)
    build_responses(config, problem)
    linking = build_design_linking(config, problem)  # an asymmetric mesh stops here
    mesh = problem.mesh
    for warning in warnings + design_warnings(config, problem):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{config_path}: ok — {config.name}, {mesh.dim}D, "
               f"{mesh.n_elements} elements, {len(problem.free_dofs)} free DOFs; "
               f"memory {estimate} with solver {estimate.solver}")
    for path, description in selections:
        click.echo(f"  {path}: {description}")
    for notice in (merged_nodes_notice(mesh), robust_notice(config, mesh.dim)):
        if notice is not None:
            click.echo(notice)
    if linking is not None:
        linked = ([f"mirror-symmetric about {', '.join(a for a, _ in config.design.symmetry)}"]
                  * bool(config.design.symmetry)
                  + [f"extruded along {config.design.extrusion}"] * (config.design.extrusion is not None))
        click.echo(f"  design: {linking.n_variables} design variables for {mesh.n_elements} elements "
                   f"({'; '.join(linked)})")
    if config.mesh.cad:  # the CAD faces, to choose `at: {group: face-N}` from
        click.echo(f"faces of {Path(config.mesh.file).name} (groups for `at: {{group: ...}}`):")
        for line in describe_faces(config.mesh.file, **config.mesh.cad_options, scale=config.mesh.scale):
            click.echo(f"  {line}")


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("-o", "--outdir", type=click.Path(file_okay=False),
              help="Output folder (default: out/<problem name>).")
@click.option("--max-iterations", type=int, help="Override optimizer.max_iterations.")
@click.option("--solver", type=click.Choice(SOLVERS.names), help="Linear solver type (default: from CONFIG, else auto); CONFIG's solver options stay.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the final summary.")
@click.option("--resume", is_flag=True, help="Go on from the checkpoint in OUTDIR of an interrupted run.")
@click.option("--force", is_flag=True, help="Run even when the memory estimate exceeds the memory available.")
@_user_errors
def run(config_path, outdir, max_iterations, solver, quiet, resume, force):
    """Optimize the structure described in CONFIG and write its result files."""
    if outdir is not None and not outdir.strip():
        raise FemoptError("-o/--outdir: an empty folder name; leave the option out for out/<problem>")
    options = [*(["--max-iterations", str(max_iterations)] if max_iterations is not None else []),
               *(["--solver", solver] if solver else []), *(["--force"] if force else [])]
    try:  # imported here, not at the top: `femopt --version` and `--help` stay fast
        import femopt
        from femopt.output.checkpoint import Interrupted

        config = femopt.load_config(config_path)
    except KeyboardInterrupt:
        _interrupted(_go_on(config_path, outdir, options))
    projecting = config.design.projection is not None  # then a column shows β's continuation
    started = []

    def header(model):
        started.append(model)
        _print_notes(model)
        if not quiet:
            click.echo(f"{config.name}: {model.mesh.n_elements} elements, "
                       f"{len(model.problem.free_dofs)} free DOFs, solver {model.solver.name}, "
                       f"optimizer {model.config.optimizer.type}")
            click.echo(f"{'it':>5} {'objective':>14} {'volume':>8} {'change':>8} {'seconds':>8}"
                       + (f" {'beta':>6}" if projecting else ""))

    def progress(record):
        if not quiet:
            click.echo(f"{record.iteration:5d} {record.objective:14.6g} {record.volume:8.4f} "
                       f"{record.change:8.4f} {record.seconds:8.3f}"
                       + (f" {record.parameters['beta']:6g}" if projecting else ""))

    outdir = Path(outdir) if outdir else Path("out") / config.name
    try:
        result = femopt.run(config, outdir, max_iterations=max_iterations, solver=solver,
                            resume=resume, on_start=header, callback=progress, force=force)
    except Interrupted as exc:  # exit 128 + signal number, the shell's convention (130, 143)
        click.echo(f"{exc}; {_go_on(config_path, outdir, options)}", err=True)
        sys.exit(128 + exc.signal)
    except KeyboardInterrupt:  # in start-up, setup or while writing the results
        _interrupted(_go_on(config_path, outdir, options))
    for warning in result.warnings[len(started[0].warnings):]:  # those about the result
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{config.name}: objective {result.objective:.6g}, volume {result.volume:.4f}, "
               f"{result.iterations} iterations ({result.message}), {result.wall_time:.2f} s; "
               f"results in {outdir}/")


@main.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--design", type=click.Path(dir_okay=False),
              help="A result.npz whose design x to analyze (default: the uniform starting design).")
@click.option("-o", "--outdir", type=click.Path(file_okay=False),
              help="Output folder (default: out/<problem name>-analysis).")
@click.option("--solver", type=click.Choice(SOLVERS.names), help="Linear solver type (default: from CONFIG, else auto).")
@click.option("--force", is_flag=True, help="Run even when the memory estimate exceeds the memory available.")
@_user_errors
def analyze(config_path, design, outdir, solver, force):
    """Evaluate every response of CONFIG at one design, without optimizing; write its files."""
    import femopt  # here, not at the top: `femopt --version` and `--help` stay fast

    if outdir is not None and not outdir.strip():
        raise FemoptError("-o/--outdir: an empty folder name; leave the option out for out/<problem>-analysis")
    config = femopt.load_config(config_path)
    outdir = Path(outdir) if outdir else Path("out") / f"{config.name}-analysis"
    result = femopt.analyze(config, design, outdir, solver=solver, force=force, on_start=_print_notes)
    click.echo(f"{config.name}: {'design ' + str(design) if design else 'starting design'}, "
               f"volume {result.volume:.4f}, solver {result.solver}")
    for name, value in result.responses.items():
        click.echo(f"  {name}: {value:.6g}")
    click.echo(f"results in {outdir}/")


@main.command("check-grad")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--samples", default=5, show_default=True, type=click.IntRange(min=1),
              help="Random directions of the Taylor test; as many random components and directions "
                   "in the finite-difference table.")
@click.option("--step", type=click.FloatRange(min=0, min_open=True),
              callback=lambda ctx, param, value: _not_nan(param, value),
              help="The table's finite-difference step in design-variable units (fourth-order central "
                   "differences); default 1e-3, growing as sqrt(n/300) for n > 300 design variables.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random design and probes.")
@click.option("--tolerance", default=0.1, show_default=True, type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              help="How far below 2 the Taylor remainder's convergence rate may be (a wrong gradient "
                   "gives 1); exit code 1 below 2 - TOLERANCE.")
@_user_errors
def check_grad(config_path, samples, step, seed, tolerance):
    """Test the adjoint gradients of CONFIG's objective and constraints: the Taylor remainder
    |f(x + h d) - f(x) - h grad f . d| must fall as h^2 along random directions d."""
    # Imported here, not at the top: `femopt --version` and `--help` stay fast.
    from femopt.build import build
    from femopt.config import load_config
    from femopt.design import Schedule
    from femopt.loop.gradcheck import (check_gradients, default_step, sample_lines, summary_line, taylor_check,
                                       taylor_header, taylor_row, verdict_lines, verdicts)

    if not 0 <= tolerance < 1:  # nan passes FloatRange; 1 or more would pass a wrong gradient (rate 1)
        raise FemoptError(f"--tolerance: must be in (0, 1), got {tolerance:g}")
    if step is not None and step > MAX_GRADIENT_STEP:  # the probes must stay densities: x ± 2·step in [0, 1]
        raise FemoptError(f"--step: {step:g} would move the random design (0.2 to 0.9) outside "
                          f"[0, 1]; use at most {MAX_GRADIENT_STEP:g}")
    config = load_config(config_path)
    # The check is of the adjoint formulas: iterative solvers solve to round-off here, since
    # their gradients are only as accurate as their tolerance (docs/adjoint.md).
    model = build(config, rtol=1e-12)
    _print_notes(model)
    evaluate = model.evaluator()
    labels = getattr(evaluate, "labels", None) or [f"objective ({config.objective.type})"] + [
        f"{c.path} ({c.type})" for c in config.constraint_list]  # robust: the bound formulation's
    if config.design.filter.type == "sensitivity":
        click.echo("note: the sensitivity filter's smoothing is a heuristic, not a derivative; "
                   "checking the exact gradient")
    if config.design.projection is not None or isinstance(config.design.penalty, Schedule):
        click.echo("note: continuation parameters (beta, penalty) held at their start values")
    n = evaluate.n_variables
    min_rate = 2.0 - tolerance
    click.echo(f"Taylor test at a random design (seed {seed}): r(h) = |f(x + h·d) − f(x) − h·∇f·d| along "
               f"{samples} random directions d (max |d_e| = 1),\nh halving from 0.1 × the room to the bounds; "
               "r falls as h² (rate 2) when ∇f is right, as h (rate 1) when it is not")
    click.echo(taylor_header())
    results = taylor_check(evaluate, n, labels, samples, seed, min_rate,
                           callback=lambda result: click.echo(taylor_row(result)))
    if samples > n:
        click.echo(f"note: --samples {samples} capped at the {n} design variables in the table's components")
    step = step or default_step(n)
    click.echo(f"finite differences (information; error over ‖∇f‖∞ for x[e], ‖∇f‖₂ for a unit "
               f"direction), step {step:g}:")
    for line in sample_lines(check_gradients(evaluate, n, labels, samples, step, seed)):
        click.echo(line)
    found = verdicts(results)
    for line in verdict_lines(found, min_rate):
        click.echo(line)
    failed = any(v.status == "FAILED" for v in found)
    click.echo(summary_line(found, tolerance))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("study_path", metavar="STUDY", type=click.Path(dir_okay=False))
@click.option("-o", "--outdir", type=click.Path(file_okay=False),
              help="Output folder (default: out/<study name>); each case's result is in OUTDIR/cases/<case>/.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Local worker processes (default: one per core, fewer if the cases' memory estimate says so).")
@click.option("--scheduler", metavar="ADDRESS", help="Use the Dask scheduler at ADDRESS (tcp://host:8786) and its workers.")
@click.option("--retry-failed", is_flag=True, help="Run the cases that failed before again.")
@click.option("--dry-run", is_flag=True, help="List the cases and their memory estimates; run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the final summary.")
@_user_errors
def study(study_path, outdir, workers, scheduler, retry_failed, dry_run, quiet):
    """Run the cases of the study STUDY (variants of one problem) and tabulate them.

    Cases with complete results in OUTDIR are not run again; exit code 1 if a case failed.
    """
    try:
        _study(study_path, outdir, workers, scheduler, retry_failed, dry_run, quiet)
    except KeyboardInterrupt:  # outside the study's own handling (e.g. importing): no imports here
        _study_interrupted("interrupted; finished cases are kept", 130, study_path, outdir)


def _study_interrupted(message: str, exit_code: int, study_path: str, outdir: str | None) -> None:
    """The one line of an interrupted study, and its exit code (130 for Ctrl-C)."""
    again = f"femopt study {shlex.quote(study_path)}" + (f" -o {shlex.quote(outdir)}" if outdir else "")
    click.echo(f"{message}; go on with: {again}", err=True)
    sys.exit(exit_code)


def _study(study_path, outdir_option, workers, scheduler, retry_failed, dry_run, quiet):
    # Imported here, not at the top: `femopt --version` and `--help` stay fast.
    from femopt.output.folder import check_name_lengths
    from femopt.study.runner import StudyInterrupted, memory_estimates, run_study, worker_count
    from femopt.study.spec import load_study

    if outdir_option is not None and not outdir_option.strip():
        raise FemoptError("-o/--outdir: an empty folder name; leave the option out for out/<study>")
    spec = load_study(study_path)
    outdir = Path(outdir_option) if outdir_option else Path("out") / spec.name
    check_name_lengths(outdir)
    if dry_run:
        estimates = memory_estimates(spec)
        for case in spec.cases:
            values = ", ".join(f"{path}={value}" for path, value in case.values.items())
            click.echo(f"{case.name}: {values}; memory {estimates[case.name]}")
        if scheduler:
            where = f"the scheduler at {scheduler}"
        else:
            n, note = worker_count(spec, spec.cases, workers)
            if note is not None:
                click.echo(f"note: {note}", err=True)
            where = f"{n} local worker{'s' if n != 1 else ''}"
        click.echo(f"{spec.name}: {len(spec.cases)} cases, would run on {where} into {outdir}/")
        return

    def started(cases, n, where):
        if not quiet:
            click.echo(f"{spec.name}: {len(spec.cases)} cases, {len(cases)} to run on {where}")

    def finished(record, progress):
        if quiet:
            return
        seconds = f"{record.wall_time:.2f} s" if record.wall_time is not None else "-"
        if record.failed:
            click.echo(f"{record.name}: failed ({seconds}): {record.error}")
        else:
            click.echo(f"{record.name}: objective {record.objective:.6g}, {record.iterations} iterations, "
                       f"{record.status}, {seconds}")
        eta = f", ETA {progress.eta:.0f} s" if progress.running or progress.queued else ""
        click.echo(f"  [{progress.done} done ({progress.failed} failed), {progress.running} running, "
                   f"{progress.queued} queued; {progress.elapsed:.1f} s{eta}]")

    try:
        result = run_study(spec, outdir, workers=workers, scheduler=scheduler, retry_failed=retry_failed,
                           on_start=started, on_case=finished,
                           on_note=lambda note: click.echo(f"note: {note}", err=True))
    except StudyInterrupted as exc:
        _study_interrupted(str(exc), exc.exit_code, study_path, outdir_option)
    reused = len(result.records) - len(result.ran)
    failed = result.failed
    click.echo(f"{spec.name}: {len(result.records) - len(failed)} of {len(result.records)} cases done"
               f" ({len(result.ran)} run now, {reused} from before)"
               + (f", {len(failed)} failed: {', '.join(r.name for r in failed)}" if failed else "")
               + f"; results in {outdir}/")
    if failed:
        if quiet:  # the lines of the failures were not printed as they came
            for record in failed:
                click.echo(f"{record.name}: failed: {record.error}", err=True)
        if not retry_failed and any(name not in result.ran for name in (r.name for r in failed)):
            click.echo("note: failures recorded before are not run again without --retry-failed", err=True)
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON Schema (draft-07) for editors (yaml-language-server).")
@click.option("--markdown", is_flag=True, help="Print the reference page (docs/problem-file.md).")
@_user_errors
def schema(as_json, markdown):
    """Print every key of a problem file with its type, default, bounds and allowed names."""
    # Imported here, not at the top: `femopt --version` and `--help` stay fast.
    from femopt.config import describe

    if as_json and markdown:
        raise FemoptError("--json and --markdown: give at most one")
    click.echo(describe.json_text() if as_json else describe.markdown() if markdown else describe.text(), nl=False)


def _print_notes(model) -> None:
    """The model's notices and warnings, one line each on stderr."""
    for notice in model.notices:
        click.echo(notice, err=True)
    for warning in model.warnings:
        click.echo(f"warning: {warning}", err=True)


if __name__ == "__main__":
    main()
