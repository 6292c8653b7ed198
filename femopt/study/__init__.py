"""Studies: many variants of one problem, run as Dask futures, collected into a table.

    import femopt
    result = femopt.study("studies/mbb-tradeoff.yaml", workers=2)
    result.records, result.failed, result.to_pandas()

Layout: :mod:`~femopt.study.spec` (study file → cases), :mod:`~femopt.study.records`
(one row of the table), :mod:`~femopt.study.case` (one case on a worker),
:mod:`~femopt.study.state` (what is done), :mod:`~femopt.study.runner` (Dask),
:mod:`~femopt.study.cluster` (around Dask: scheduler check, signals, unguarded scripts),
:mod:`~femopt.study.report` (table and plots).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from pathlib import Path


def study(study_or_path, outdir=None, workers: int | None = None, scheduler: str | None = None,
          retry_failed: bool = False, **callbacks):
    """Run a study (a study file's path, its YAML as a dict, or a loaded
    :class:`~femopt.study.spec.StudySpec`) into ``outdir`` (default: out/<study name>) and
    return its :class:`~femopt.study.runner.StudyResult`. See
    :func:`femopt.study.runner.run_study` for the other arguments. Cases with complete
    results in outdir are not run again; failed ones only with ``retry_failed``."""
    # Imported on the first call, not with the package: `import femopt` stays fast.
    from femopt.study.runner import run_study
    from femopt.study.spec import StudySpec, load_study

    spec = study_or_path if isinstance(study_or_path, StudySpec) else load_study(
        study_or_path if isinstance(study_or_path, Mapping) else Path(study_or_path))
    outdir = Path(outdir) if outdir is not None else Path("out") / spec.name
    return run_study(spec, outdir, workers=workers, scheduler=scheduler, retry_failed=retry_failed,
                     **callbacks)


class _CallableModule(types.ModuleType):
    """``femopt.study(...)`` calls :func:`study`: once this package is imported, Python sets
    the attribute ``femopt.study`` to the package itself, which would hide the function
    femopt's lazy API table exports under the same name."""

    def __call__(self, *args, **kwargs):
        return study(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
