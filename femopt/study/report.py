"""The outputs of a study: its table, trade-off plot, montage and summary.

:func:`write_study_outputs` writes into OUTDIR

- ``study.csv``: one row per case (name, every varied parameter in the spec's order,
  objective, volume, iterations, status, wall time, error);
- ``study.parquet``: the same table, only when pyarrow is installed;
- ``study.png``: the trade-off plot named by the spec's ``plot:``;
- ``montage.png``: every case's ``density.png`` in a grid labelled by its parameters;
- ``study.json``: the study's status, its counts, the paths of all of these and one
  entry per case (parameters, results, folder).

A study's outputs are rewritten at every run, so each file is written under a
temporary name in OUTDIR and renamed into place (:func:`_atomic`): a reader sees the
previous file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from femopt.output.atomic import write_atomically  # noqa: E402
from femopt.study.records import CaseRecord  # noqa: E402
from femopt.study.spec import StudySpec  # noqa: E402

#: The result columns of study.csv, after the name and the varied parameters.
RESULT_COLUMNS = ("objective", "volume", "iterations", "status", "wall_time", "error")
#: Result columns that can be an axis of the plot (the numeric ones).
PLOT_COLUMNS = ("objective", "volume", "iterations", "wall_time")
#: What a case folder's density picture is called (femopt.output.files.FILES).
DENSITY_PICTURE = "density.png"


# ------------------------------------------------------------------- entry point


def write_study_outputs(outdir: Path, spec: StudySpec, records: list[CaseRecord]) -> list[Path]:
    """Write study.csv (and study.parquet when pyarrow imports), study.png,
    montage.png and study.json for the ``records`` (CaseRecords, in case order) of
    the study ``spec`` (a StudySpec) into ``outdir``; return the paths written, in
    that order, study.json last."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    records = list(records)
    columns, rows = study_table(spec, records)
    written = [write_csv(outdir / "study.csv", columns, rows)]
    parquet = write_parquet(outdir / "study.parquet", columns, rows)
    if parquet is not None:
        written.append(parquet)
    written.append(write_plot(outdir / "study.png", spec, records))
    written.append(write_montage(outdir / "montage.png", spec, records))
    written.append(write_summary(outdir / "study.json", spec, records, written))
    return written


# ------------------------------------------------------------------- the table


def is_failed(record) -> bool:
    """A case that raised instead of producing a result (CaseRecord.failed)."""
    return record.status == "failed"


def study_table(spec, records: Sequence) -> tuple[list[str], list[list]]:
    """The columns (name, the varied paths in order, RESULT_COLUMNS) and one row of
    Python values per record; a value missing from a record is None."""
    varied = list(spec.varied)
    columns = ["name", *varied, *RESULT_COLUMNS]
    rows = [[record.name,
             *(record.parameters.get(path) for path in varied),
             *(getattr(record, column) for column in RESULT_COLUMNS)]
            for record in records]
    return columns, rows


def csv_cell(value) -> str:
    """A value as study.csv writes it: empty for None, repr-exact floats (so the file
    reads back to the same numbers), lists and mappings as JSON (``[60, 20]``)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def write_csv(path: Path, columns: list[str], rows: list[list]) -> Path:
    """study.csv: a header line, then one line per case."""
    buffer = io.StringIO()
    table = csv.writer(buffer, lineterminator="\n")
    table.writerow(columns)
    table.writerows([csv_cell(value) for value in row] for row in rows)
    return write_atomically(path, lambda temporary: temporary.write_text(buffer.getvalue(), encoding="utf-8"))


def parquet_column(values: list) -> list:
    """A column pyarrow can type: numbers (None allowed) or booleans stay as they are;
    anything else (lists such as mesh.grid, strings, mixtures) becomes text as in the CSV."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, bool) for value in present):
        return values
    if all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in present):
        return values
    return [None if value is None else csv_cell(value) for value in values]


def write_parquet(path: Path, columns: list[str], rows: list[list]) -> Path | None:
    """study.parquet, the table of study.csv, when pyarrow is installed; None (and
    nothing written) otherwise, since parquet is an extra, not a requirement."""
    try:  # pyarrow is optional (the test extra)
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    data = {column: parquet_column([row[i] for row in rows]) for i, column in enumerate(columns)}
    table = pa.table(data)
    return write_atomically(path, lambda temporary: pq.write_table(table, str(temporary)))


# ------------------------------------------------------------------- the plot


def plot_axes(spec) -> tuple[str, str, str | None]:
    """(x, y, series) of the trade-off plot: the spec's ``plot:`` entries, with the
    defaults for those it leaves out: x the first varied path, y the objective,
    series the second varied path (none when only one is varied). StudySpec fills
    these defaults already; they are repeated here for specs made by hand."""
    plot = dict(getattr(spec, "plot", None) or {})
    varied = list(spec.varied)
    x = plot.get("x") or (varied[0] if varied else "objective")
    y = plot.get("y") or "objective"
    if "series" in plot:
        series = plot["series"]  # None: one line, even with a second varied path
    else:
        series = varied[1] if len(varied) > 1 else None
    if series in (x, y):
        series = None
    return x, y, series


def record_value(record, key: str):
    """The value of a result column or a varied path (dotted) of one record."""
    if key in PLOT_COLUMNS or key in RESULT_COLUMNS:
        return getattr(record, key)
    return record.parameters.get(key)


def is_number(value) -> bool:
    """A finite real number (not a bool), i.e. a point a numeric axis can place."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def value_label(value) -> str:
    """A parameter value as the figures print it: grids as 60×20, floats shortly."""
    if isinstance(value, (list, tuple)):
        return "×".join(value_label(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_plot(path: Path, spec, records: Sequence) -> Path:
    """study.png: y against x, one line per value of the series parameter, failed cases
    left out with their count in the title. A non-numeric x (such as mesh.grid) is
    placed at evenly spaced positions in the order of the cases, labelled by value."""
    fig = plot_figure(spec, records)
    return write_atomically(path, lambda temporary: _save(fig, temporary))


def plot_figure(spec, records: Sequence):
    """The figure of :func:`write_plot`."""
    x_key, y_key, series_key = plot_axes(spec)
    # A y that is no number (a missing result, a text parameter) has no place on the axis.
    shown = [r for r in records if not is_failed(r) and is_number(record_value(r, y_key))]
    n_failed = sum(1 for r in records if is_failed(r))
    xs = [record_value(r, x_key) for r in shown]
    numeric_x = all(is_number(x) for x in xs)
    if numeric_x:
        position = {id(r): float(x) for r, x in zip(shown, xs)}
        ticks = None
    else:
        labels = list(dict.fromkeys(value_label(x) for x in xs))  # case order, once each
        position = {id(r): float(labels.index(value_label(x))) for r, x in zip(shown, xs)}
        ticks = labels
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, group in group_series(shown, series_key):
        group = sorted(group, key=lambda r: position[id(r)])
        ax.plot([position[id(r)] for r in group], [float(record_value(r, y_key)) for r in group],
                marker="o", label=label)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    if series_key is not None and shown:
        ax.legend()  # the labels name the series parameter already
    ax.grid(True, alpha=0.3)
    ax.set_title(plot_title(spec, y_key, x_key, n_failed))
    fig.tight_layout()
    return fig


def plot_title(spec, y_key: str, x_key: str, n_failed: int) -> str:
    """"NAME: y against x", and how many failed cases the plot leaves out."""
    title = f"{spec.name}: {y_key} against {x_key}"
    if n_failed:
        # On a line of its own: the paths make the first line long already.
        title += f"\n({n_failed} failed case{'s' if n_failed != 1 else ''} not shown)"
    return title


def group_series(records: Sequence, series_key: str | None) -> list[tuple[str | None, list]]:
    """The records in one group per value of ``series_key`` (sorted when the values are
    numbers, in case order otherwise), each labelled "key = value"; one unlabelled
    group when there is no series."""
    if series_key is None:
        return [(None, list(records))] if records else []
    groups: dict[str, list] = {}
    values: dict[str, object] = {}
    for record in records:
        value = record_value(record, series_key)
        label = value_label(value)
        groups.setdefault(label, []).append(record)
        values.setdefault(label, value)
    order = list(groups)
    if all(is_number(values[label]) for label in order):
        order.sort(key=lambda label: float(values[label]))
    return [(f"{short_name(series_key)} = {label}", groups[label]) for label in order]


# ------------------------------------------------------------------- the montage


def short_name(path: str) -> str:
    """The last part of a dotted path (design.filter.radius → radius), for labels."""
    return path.rsplit(".", 1)[-1]


def case_label(spec, record) -> str:
    """A montage panel's title: one "name = value" line per varied parameter (the
    dotted path's last part, or the whole path where two last parts coincide)."""
    varied = list(spec.varied)
    shorts = [short_name(path) for path in varied]
    lines = [f"{short if shorts.count(short) == 1 else path} = {value_label(record.parameters.get(path))}"
             for path, short in zip(varied, shorts)]
    return "\n".join(lines) or record.name


def density_picture(record):
    """The case's density.png as an image array, or None when the case failed or has
    no picture (no case folder, or a case that ended before writing its files)."""
    if is_failed(record) or not getattr(record, "outdir", None):
        return None
    picture = Path(record.outdir) / DENSITY_PICTURE
    if not picture.is_file():
        return None
    return mpimg.imread(picture)


def montage_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of the montage: up to four columns for a few cases, more for
    many so that the grid stays roughly square."""
    columns = max(1, min(n, 4), math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / columns)), columns


def write_montage(path: Path, spec, records: Sequence) -> Path:
    """montage.png: each case's density picture in a grid, in case order, labelled by
    its parameters; a failed case is an empty panel saying "failed"."""
    fig = montage_figure(spec, records)
    return write_atomically(path, lambda temporary: _save(fig, temporary))


def montage_figure(spec, records: Sequence):
    """The figure of :func:`write_montage`."""
    pictures = [density_picture(record) for record in records]
    rows, columns = montage_shape(len(records))
    aspect = next((p.shape[0] / p.shape[1] for p in pictures if p is not None), 0.5)
    n_lines = max(1, len(list(spec.varied)))
    panel_width = 3.2
    panel_height = panel_width * aspect + 0.22 * n_lines + 0.3  # the picture, its title lines
    fig, axes = plt.subplots(rows, columns, figsize=(panel_width * columns, panel_height * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, record, picture in zip(axes.flat, records, pictures):
        ax.set_title(case_label(spec, record), fontsize=8)
        if picture is not None:
            ax.imshow(picture)
        else:
            # An empty panel of the pictures' shape keeps the grid regular.
            ax.set_xlim(0, 1)
            ax.set_ylim(0, aspect)
            ax.set_aspect("equal")
            ax.text(0.5, aspect / 2, "failed" if is_failed(record) else "no picture",
                    ha="center", va="center", fontsize=12, color="tab:red")
            if getattr(record, "error", None):
                ax.text(0.5, aspect / 2 - 0.12, _shorten(str(record.error), 48),
                        ha="center", va="top", fontsize=6, color="tab:red")
    fig.suptitle(spec.name)
    fig.tight_layout()
    return fig


def _shorten(text: str, width: int) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


# ------------------------------------------------------------------- the summary


def study_status(records: Sequence) -> str:
    """"complete" when every case has a result, else "failed cases: n"."""
    n_failed = sum(1 for record in records if is_failed(record))
    return f"failed cases: {n_failed}" if n_failed else "complete"


def study_counts(records: Sequence) -> dict:
    """The number of cases, of failed ones, and of cases per status."""
    by_status: dict[str, int] = {}
    for record in records:
        by_status[record.status] = by_status.get(record.status, 0) + 1
    return {"cases": len(records), "failed": sum(1 for r in records if is_failed(r)),
            "by_status": by_status}


def write_summary(path: Path, spec, records: Sequence, written: Sequence[Path]) -> Path:
    """study.json: name, source, varied paths, the plot's axes, status, counts, the
    paths of the other outputs, and one entry per case (its name, parameters, results
    and folder; folders relative to OUTDIR where inside it, so the study can be moved)."""
    outdir = path.parent
    summary = {
        "name": spec.name,
        "source": None if getattr(spec, "source", None) is None else str(spec.source),
        "varied": list(spec.varied),
        "plot": dict(zip(("x", "y", "series"), plot_axes(spec))),
        "status": study_status(records),
        "counts": study_counts(records),
        "paths": {**_named_paths(written, outdir), "summary": path.name},
        "cases": [case_entry(spec, record, outdir) for record in records],
    }
    text = json.dumps(summary, indent=2, default=str) + "\n"
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def case_entry(spec, record, outdir: Path) -> dict:
    """One case of study.json: name, the varied parameters, the result columns, outdir."""
    folder = getattr(record, "outdir", None)
    return {"name": record.name,
            "parameters": {path: record.parameters.get(path) for path in spec.varied},
            **{column: getattr(record, column) for column in RESULT_COLUMNS},
            "outdir": _relative(folder, outdir) if folder else None}


def _named_paths(written: Sequence[Path], outdir: Path) -> dict:
    """{"csv": "study.csv", "parquet": …, "plot": "study.png", "montage": "montage.png"}."""
    names = {}
    for p in written:
        p = Path(p)
        key = {".csv": "csv", ".parquet": "parquet"}.get(p.suffix) or (
            "montage" if p.stem == "montage" else "plot")
        names[key] = _relative(p, outdir)
    return names


def _relative(path, outdir: Path) -> str:
    """``path`` relative to ``outdir`` when inside it (the folder can be moved as a
    whole), absolute otherwise."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(outdir.resolve()))
    except ValueError:
        return str(path.resolve())


# ------------------------------------------------------------------- atomic writes


def _save(fig, path: Path) -> None:
    """Save and close a figure as PNG (the temporary name has no .png suffix)."""
    try:
        fig.savefig(path, dpi=100, format="png")
    finally:
        plt.close(fig)
