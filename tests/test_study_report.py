"""A study's outputs (femopt.study.report): study.csv, study.parquet, study.png,
montage.png and study.json, from hand-made CaseRecords and tiny pictures."""

import csv
import json
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest

import femopt
from femopt.study import report
from femopt.study.records import CaseRecord
from femopt.study.report import write_study_outputs
from femopt.study.spec import StudySpec

from helpers import mbb_data

VF, RADIUS = "design.volume_fraction", "design.filter.radius"


def make_spec(varied=(VF, RADIUS), plot=None, name="tradeoff"):
    """A StudySpec as the engine makes it, without cases (the report never reads them)."""
    return StudySpec(name=name, source="study.yaml", varied=list(varied), cases=[],
                     plot={} if plot is None else plot)


def make_record(tmp_path, name, parameters, objective, status="converged", error=None,
                picture=True):
    """A CaseRecord whose folder holds a tiny density.png (a 6×12 gradient) unless not
    ``picture``; a failed one has no result numbers."""
    outdir = tmp_path / "cases" / name
    outdir.mkdir(parents=True)
    if picture and status != "failed":
        mpimg.imsave(outdir / "density.png", np.linspace(0, 1, 72).reshape(6, 12), cmap="gray_r")
    failed = status == "failed"
    return CaseRecord(name=name, parameters=parameters,
                      objective=None if failed else objective,
                      volume=None if failed else parameters.get(VF, 0.5),
                      iterations=None if failed else 40, status=status,
                      wall_time=None if failed else 0.25, error=error, outdir=outdir)


@pytest.fixture
def records(tmp_path):
    """Five cases of volume fraction × radius; the fifth failed."""
    return [
        make_record(tmp_path, "vf=0.3,r=1.5", {VF: 0.3, RADIUS: 1.5}, 300.5),
        make_record(tmp_path, "vf=0.3,r=3", {VF: 0.3, RADIUS: 3.0}, 320.25),
        make_record(tmp_path, "vf=0.5,r=1.5", {VF: 0.5, RADIUS: 1.5}, 200.125, status="iteration_limit"),
        make_record(tmp_path, "vf=0.5,r=3", {VF: 0.5, RADIUS: 3.0}, 210.0),
        make_record(tmp_path, "vf=0.7,r=1.5", {VF: 0.7, RADIUS: 1.5}, None, status="failed",
                    error="ConfigError: boom"),
    ]


@pytest.fixture
def no_pyarrow(monkeypatch):
    """pyarrow made unimportable (a None entry in sys.modules raises ImportError)."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------- the table


def test_csv_has_one_row_per_case_with_parameters_in_varied_order(tmp_path, records, no_pyarrow):
    out = tmp_path / "study"
    write_study_outputs(out, make_spec(varied=(RADIUS, VF)), records)
    header, *rows = read_csv(out / "study.csv")
    assert header == ["name", RADIUS, VF, "objective", "volume", "iterations", "status",
                      "wall_time", "error"]
    assert [row[0] for row in rows] == [r.name for r in records]
    first = dict(zip(header, rows[0]))
    assert (float(first[RADIUS]), float(first[VF])) == (1.5, 0.3)
    assert float(first["objective"]) == 300.5  # floats written exactly
    assert (first["iterations"], first["status"], first["error"]) == ("40", "converged", "")
    assert dict(zip(header, rows[2]))["status"] == "iteration_limit"


def test_failed_case_is_a_csv_row_with_its_error_and_no_numbers(tmp_path, records, no_pyarrow):
    out = tmp_path / "study"
    write_study_outputs(out, make_spec(), records)
    header, *rows = read_csv(out / "study.csv")
    failed = dict(zip(header, rows[-1]))
    assert failed["status"] == "failed"
    assert failed["error"] == "ConfigError: boom"
    assert failed["objective"] == failed["volume"] == failed["wall_time"] == ""


def test_list_values_are_json_in_the_csv():
    assert report.csv_cell([60, 20]) == "[60, 20]"
    assert report.csv_cell(None) == ""
    assert report.csv_cell(0.1 + 0.2) == "0.30000000000000004"


# ------------------------------------------------------------------- parquet


def test_no_parquet_without_pyarrow(tmp_path, records, no_pyarrow):
    out = tmp_path / "study"
    written = write_study_outputs(out, make_spec(), records)
    assert not (out / "study.parquet").exists()
    assert [p.name for p in written] == ["study.csv", "study.png", "montage.png", "study.json"]
    assert "parquet" not in json.loads((out / "study.json").read_text())["paths"]


def test_parquet_is_the_csv_table_when_pyarrow_imports(tmp_path, records):
    import pandas as pd  # pandas and pyarrow are in the test extra

    out = tmp_path / "study"
    written = write_study_outputs(out, make_spec(), records)
    assert [p.name for p in written] == ["study.csv", "study.parquet", "study.png", "montage.png",
                                         "study.json"]
    frame = pd.read_parquet(out / "study.parquet")
    header, *rows = read_csv(out / "study.csv")
    assert list(frame.columns) == header
    assert frame[VF].tolist() == [0.3, 0.3, 0.5, 0.5, 0.7]
    assert frame["objective"].tolist()[:4] == [300.5, 320.25, 200.125, 210.0]
    assert pd.isna(frame["objective"].iloc[4]) and frame["error"].iloc[4] == "ConfigError: boom"
    assert frame["status"].tolist() == [row[header.index("status")] for row in rows]
    assert json.loads((out / "study.json").read_text())["paths"]["parquet"] == "study.parquet"


def test_parquet_columns_pyarrow_can_type():
    assert report.parquet_column([1, 2.5, None]) == [1, 2.5, None]
    assert report.parquet_column([[60, 20], [120, 40]]) == ["[60, 20]", "[120, 40]"]
    assert report.parquet_column(["a", 1, None]) == ["a", "1", None]


def test_real_parquet_reads_back(tmp_path, records):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "study"
    write_study_outputs(out, make_spec(), records)
    table = pq.read_table(out / "study.parquet").to_pydict()
    assert table["objective"] == [300.5, 320.25, 200.125, 210.0, None]
    assert table["error"][-1] == "ConfigError: boom"


# ------------------------------------------------------------------- summary, files


def test_summary_has_status_counts_and_paths(tmp_path, records, no_pyarrow):
    out = tmp_path / "study"
    written = write_study_outputs(out, make_spec(), records)
    summary = json.loads((out / "study.json").read_text())
    assert summary["status"] == "failed cases: 1"
    assert summary["counts"] == {"cases": 5, "failed": 1,
                                 "by_status": {"converged": 3, "iteration_limit": 1, "failed": 1}}
    assert summary["paths"]["csv"] == "study.csv"
    assert summary["paths"]["plot"] == "study.png"
    assert summary["paths"]["montage"] == "montage.png"
    assert summary["paths"]["summary"] == "study.json"
    assert summary["varied"] == [VF, RADIUS]
    assert [case["name"] for case in summary["cases"]] == [r.name for r in records]
    assert summary["cases"][0] == {"name": "vf=0.3,r=1.5", "parameters": {VF: 0.3, RADIUS: 1.5},
                                   "objective": 300.5, "volume": 0.3, "iterations": 40,
                                   "status": "converged", "wall_time": 0.25, "error": None,
                                   # outside this OUTDIR here, so absolute
                                   "outdir": str(records[0].outdir.resolve())}
    assert (summary["cases"][4]["status"], summary["cases"][4]["error"]) == ("failed", "ConfigError: boom")
    assert all(p.is_file() and p.parent == out for p in written)
    # Both pictures are PNGs (written under a temporary name without the suffix).
    assert (out / "study.png").read_bytes()[:8] == (out / "montage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_complete_study_and_case_folders_inside_outdir(tmp_path, records, no_pyarrow):
    ok = records[:4]
    write_study_outputs(tmp_path, make_spec(), ok)  # the case folders are tmp_path/cases/…
    summary = json.loads((tmp_path / "study.json").read_text())
    assert summary["status"] == "complete"
    assert summary["cases"][3]["outdir"] == "cases/vf=0.5,r=3"


def test_outputs_are_replaced_whole_and_no_temporary_file_remains(tmp_path, records, no_pyarrow,
                                                                  monkeypatch):
    out = tmp_path / "study"
    write_study_outputs(out, make_spec(), records)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write_study_outputs(out, make_spec(), records[:2])  # a rerun rewrites every output
    assert len(read_csv(out / "study.csv")) == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(before)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(report.plt.Figure, "savefig", disk_full)
    after_rerun = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OSError, match="No space"):
        write_study_outputs(out, make_spec(), records)
    # study.csv was replaced whole; the pictures and study.json are the previous ones.
    assert (out / "study.png").read_bytes() == after_rerun["study.png"]
    assert (out / "study.json").read_bytes() == after_rerun["study.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no .femopt-* left


# ------------------------------------------------------------------- the plot


def test_plot_defaults_first_path_against_objective_series_by_second():
    assert report.plot_axes(make_spec()) == (VF, "objective", RADIUS)
    assert report.plot_axes(make_spec(varied=[VF])) == (VF, "objective", None)
    assert report.plot_axes(make_spec(plot={"x": "volume"})) == ("volume", "objective", RADIUS)
    # A series on the plot's own axis would be one point per line: none.
    assert report.plot_axes(make_spec(plot={"x": "volume", "y": RADIUS})) == ("volume", RADIUS, None)
    # An explicit "series: null" (as StudySpec writes for one line) is kept.
    assert report.plot_axes(make_spec(plot={"x": VF, "y": "objective", "series": None})) == \
        (VF, "objective", None)


def test_plot_draws_one_line_per_series_without_failed_cases(records):
    fig = report.plot_figure(make_spec(), records)
    ax = fig.axes[0]
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines}
    assert lines == {"radius = 1.5": ([0.3, 0.5], [300.5, 200.125]),
                     "radius = 3": ([0.3, 0.5], [320.25, 210.0])}
    assert ax.get_title() == "tradeoff: objective against design.volume_fraction\n(1 failed case not shown)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == (VF, "objective")
    report.plt.close(fig)


def test_plot_x_may_be_a_result_column_and_y_a_varied_path(records):
    fig = report.plot_figure(make_spec(plot={"x": "objective", "y": VF, "series": None}), records)
    (line,) = fig.axes[0].lines
    assert list(line.get_xdata()) == [200.125, 210.0, 300.5, 320.25]  # sorted along x
    assert list(line.get_ydata()) == [0.5, 0.5, 0.3, 0.3]
    assert fig.axes[0].get_title() == "tradeoff: design.volume_fraction against objective\n(1 failed case not shown)"
    report.plt.close(fig)


def test_plot_of_grids_places_them_in_case_order(tmp_path):
    grid = "mesh.grid"
    records = [make_record(tmp_path, name, {grid: g, RADIUS: r}, obj)
               for name, g, r, obj in [("coarse", [30, 10], 0.75, 190.0),
                                       ("medium", [60, 20], 1.5, 200.0),
                                       ("fine", [120, 40], 3.0, 205.0)]]
    fig = report.plot_figure(make_spec(varied=[grid, RADIUS], plot={"x": grid, "y": "objective",
                                                                    "series": None}), records)
    ax = fig.axes[0]
    (line,) = ax.lines
    assert list(line.get_xdata()) == [0.0, 1.0, 2.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["30×10", "60×20", "120×40"]
    assert ax.get_title() == "tradeoff: objective against mesh.grid"
    report.plt.close(fig)


def test_plot_leaves_out_points_without_a_number(tmp_path):
    records = [make_record(tmp_path, "a", {"design.filter.type": "density"}, 1.0),
               make_record(tmp_path, "b", {"design.filter.type": "sensitivity"}, 2.0)]
    spec = make_spec(varied=["design.filter.type"], plot={"x": "objective", "y": "design.filter.type"})
    fig = report.plot_figure(spec, records)  # a text y: nothing to place, and no error
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == []
    report.plt.close(fig)


# ------------------------------------------------------------------- the montage


def test_montage_shows_each_picture_and_a_failed_panel(records):
    fig = report.montage_figure(make_spec(), records)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 5
    assert [len(ax.images) for ax in panels] == [1, 1, 1, 1, 0]
    assert panels[0].get_title() == "volume_fraction = 0.3\nradius = 1.5"
    assert [t.get_text() for t in panels[4].texts] == ["failed", "ConfigError: boom"]
    assert panels[0].images[0].get_array().shape[:2] == (6, 12)  # the case's density.png
    report.plt.close(fig)


def test_montage_panel_of_a_case_without_picture(tmp_path):
    record = make_record(tmp_path, "a", {VF: 0.3, RADIUS: 1.5}, 1.0, picture=False)
    fig = report.montage_figure(make_spec(), [record])
    (panel,) = [ax for ax in fig.axes if ax.get_title()]
    assert (len(panel.images), [t.get_text() for t in panel.texts]) == (0, ["no picture"])
    report.plt.close(fig)


def test_montage_grid_shape():
    assert report.montage_shape(1) == (1, 1)
    assert report.montage_shape(3) == (1, 3)
    assert report.montage_shape(8) == (2, 4)
    assert report.montage_shape(25) == (5, 5)


def test_labels_keep_whole_paths_where_last_parts_coincide(tmp_path):
    record = make_record(tmp_path, "a", {"design.filter.radius": 2.0, "projection.radius": 1.0}, 1.0)
    spec = make_spec(varied=["design.filter.radius", "projection.radius"])
    assert report.case_label(spec, record) == "design.filter.radius = 2\nprojection.radius = 1"


# ------------------------------------------------------------------- real results


def test_outputs_of_two_real_runs(tmp_path, no_pyarrow):
    """Two tiny MBB runs with femopt.run into case folders: the montage reads their
    density.png, the table holds their results."""
    records = []
    for vf in (0.4, 0.6):
        data = mbb_data(12, 4)
        data["design"]["volume_fraction"] = vf
        outdir = tmp_path / "cases" / f"vf={vf}"
        result = femopt.run(data, outdir, max_iterations=3)
        records.append(CaseRecord(name=f"vf={vf}", parameters={VF: vf}, objective=result.objective,
                                  volume=float(np.mean(result.rho)), iterations=result.iterations,
                                  status=result.status, wall_time=0.1, error=None, outdir=outdir))
    spec = make_spec(varied=[VF])
    write_study_outputs(tmp_path, spec, records)
    header, *rows = read_csv(tmp_path / "study.csv")
    assert [float(row[header.index("objective")]) for row in rows] == [r.objective for r in records]
    assert [row[header.index("status")] for row in rows] == ["iteration_limit"] * 2
    fig = report.montage_figure(spec, records)
    assert [len(ax.images) for ax in fig.axes if ax.get_title()] == [1, 1]
    report.plt.close(fig)
    assert mpimg.imread(tmp_path / "montage.png").ndim == 3


def test_a_study_without_records_still_writes_every_output(tmp_path, no_pyarrow):
    written = write_study_outputs(tmp_path, make_spec(), [])
    assert [p.name for p in written] == ["study.csv", "study.png", "montage.png", "study.json"]
    assert read_csv(tmp_path / "study.csv") == [["name", VF, RADIUS, *report.RESULT_COLUMNS]]
    assert json.loads((tmp_path / "study.json").read_text())["counts"]["cases"] == 0
