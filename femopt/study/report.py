"""Stand-in for the study report (the real one, with parquet and plots, is written on
branch ``study-report`` and replaces this file): ``study.csv`` and ``study.json``.

Interface: ``write_study_outputs(outdir, spec, records) -> list[Path]``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from femopt.study.records import CaseRecord
from femopt.study.spec import StudySpec

COLUMNS = ("objective", "volume", "iterations", "status", "wall_time", "error", "outdir")


def write_study_outputs(outdir: Path, spec: StudySpec, records: list[CaseRecord]) -> list[Path]:
    """Write OUTDIR/study.csv (one row per record: name, the varied paths, the results)
    and OUTDIR/study.json; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [{"name": r.name, **{path: r.parameters.get(path) for path in spec.varied},
             **{column: getattr(r, column) for column in COLUMNS}} for r in records]
    for row in rows:
        row["outdir"] = str(row["outdir"])
    table = outdir / "study.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", *spec.varied, *COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    summary = outdir / "study.json"
    summary.write_text(json.dumps({"study": spec.name, "source": spec.source, "varied": spec.varied,
                                   "plot": spec.plot, "cases": rows}, indent=2, default=str) + "\n")
    return [table, summary]
