"""The robust design's figures for docs/problems.md: a robust run against the plain projection
design with the same filter, each measured as blueprint (η = 0.5) and as its eroded and
dilated versions, with the morphological length-scale check and pictures.

    python scripts/robust_figures.py mbb            # configs/mbb_robust.yaml, 150 x 50 (~ minutes)
    python scripts/robust_figures.py cantilever3d   # configs/cantilever3d_robust.yaml
    python scripts/robust_figures.py CONFIG --max-iterations 100 --out out/robust

Runs CONFIG (which has design.projection.robust) and its plain twin (robust: removed;
same filter, β schedule, optimizer), then evaluates both final designs at the final β with
the three thresholds. Writes out/<name>/ and out/<name>-plain/ (femopt's usual files) and
docs/images/<name>.png (rows: plain, robust; columns: eroded, blueprint, dilated; 2D
only; 3D: docs/images/<name>-<design>-<realization>.png, one rendering each).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # opening_loss: the tests' measure of member widths

import femopt  # noqa: E402
from femopt.config import read_yaml  # noqa: E402
from femopt.design.continuation import schedule_end  # noqa: E402
from femopt.design.robust import RobustThresholds, length_scales  # noqa: E402
from helpers import opening_loss  # noqa: E402

SHORT = {"mbb": ROOT / "configs/mbb_robust.yaml", "cantilever3d": ROOT / "configs/cantilever3d_robust.yaml"}


def plain_twin(data: dict) -> dict:
    """The problem ``data`` with the robust formulation removed (same filter, β, optimizer)."""
    data = copy.deepcopy(data)
    del data["design"]["projection"]["robust"]
    data["problem"] = f"{data.get('problem', 'problem')}-plain"
    return data


def realizations(data: dict, x: np.ndarray, thresholds: RobustThresholds) -> dict:
    """{name: (compliance, rho)} of the design x (n_elements,) projected with each threshold
    at the end value of data's β schedule (a plain evaluator: the same filter and SIMP)."""
    data = plain_twin(data) if "robust" in data["design"]["projection"] else copy.deepcopy(data)
    data["design"]["projection"]["beta"] = schedule_end(femopt.load_config(data).design.projection.beta)
    model = femopt.prepare(data)
    evaluator = model.evaluator()
    x = evaluator.space.restrict(x)  # the designable elements' entries of the full field
    values = {}
    for name, eta in zip(("eroded", "blueprint", "dilated"), thresholds.all):
        evaluator.set_parameters(eta=eta)
        ev = evaluator(x)
        values[name] = (ev.objective, ev.rho)
    return values


def grid_image(mesh, rho: np.ndarray) -> np.ndarray:
    """rho (n_elements,) as an image/volume indexed like the grid: (nx, ny) or (nz, nx, ny)."""
    grid = mesh.grid
    return rho.reshape(grid[0], grid[1]) if mesh.dim == 2 else rho.reshape(grid[2], grid[0], grid[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="mbb, cantilever3d, or a robust problem file")
    parser.add_argument("--max-iterations", type=int)
    parser.add_argument("--out", default=str(ROOT / "out"))
    parser.add_argument("--images", default=str(ROOT / "docs/images"))
    parser.add_argument("--no-run", action="store_true",
                        help="measure the designs already in the output folders (result.npz's x)")
    args = parser.parse_args()
    path = SHORT.get(args.config, Path(args.config))
    data = read_yaml(path)
    if args.max_iterations:
        data.setdefault("optimizer", {})["max_iterations"] = args.max_iterations
    config = femopt.load_config(data)
    robust = config.design.projection.robust
    thresholds = RobustThresholds(robust.delta_eta, config.design.projection.eta)
    radius = config.design.filter.options["radius"]
    mesh_dim = len(config.mesh.grid)
    solid_width, void_width = length_scales(radius, thresholds, mesh_dim)
    element = config.mesh.size[0] / config.mesh.grid[0]  # the grids here have square elements

    rows = {}
    for label, problem in (("plain", plain_twin(data)), ("robust", data)):
        outdir = Path(args.out) / femopt.load_config(problem).name
        if args.no_run:
            summary = json.loads((outdir / "summary.json").read_text())
            x = np.load(outdir / "result.npz")["x"]
        else:
            result = femopt.run(problem, outdir)
            summary = {"iterations": result.iterations, "status": result.status,
                       "wall_time_s": result.wall_time}
            x = result.x
        values = realizations(data, x, thresholds)
        mesh = femopt.prepare(problem).mesh
        blueprint = grid_image(mesh, values["blueprint"][1]) > 0.5
        rows[label] = {
            "iterations": summary["iterations"], "status": summary["status"],
            "seconds": round(summary["wall_time_s"], 1),
            "volume blueprint": float(np.mean(values["blueprint"][1])),
            **{f"compliance {name}": values[name][0] for name in values},
            "opening loss solid": opening_loss(blueprint, solid_width / 2 / element),
            "opening loss void": opening_loss(~blueprint, void_width / 2 / element),
            "images": {name: grid_image(mesh, values[name][1]) for name in values},
        }
    print(f"{path.name}: filter radius {radius:g}, thresholds {thresholds.all}, minimum widths "
          f"{solid_width:.4g} (solid) / {void_width:.4g} (void) length units; opening disk radius "
          f"{solid_width / 2 / element:.3g} / {void_width / 2 / element:.3g} elements")
    table = {label: {k: v for k, v in row.items() if k != "images"} for label, row in rows.items()}
    print(json.dumps(table, indent=2))
    mesh = femopt.prepare(data).mesh
    fig, axes = plt.subplots(2, 3, figsize=(12, 3.2) if mesh_dim == 2 else (15, 6.5))
    for r, (label, row) in enumerate(rows.items()):
        for c, name in enumerate(("eroded", "blueprint", "dilated")):
            ax, title = axes[r, c], f"{label}, {name}: c = {row[f'compliance {name}']:.4g}"
            image = row["images"][name]
            if mesh_dim == 3:  # femopt's rendering of the solid, as a picture in the grid
                image = render_3d(mesh, image.reshape(-1))
            ax.imshow(1 - image.T if mesh_dim == 2 else image, cmap="gray", origin="lower" if mesh_dim == 2
                      else "upper", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    Path(args.images).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(args.images) / f"{config.name}.png", dpi=100)
    print(f"picture: {Path(args.images) / f'{config.name}.png'}")


def render_3d(mesh, rho: np.ndarray) -> np.ndarray:
    """(height, width, 4) RGBA pixels of femopt's 3D picture of rho (density.png's view)."""
    import io

    from femopt.output.volume import density_figure_3d

    fig = density_figure_3d(mesh, rho)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    return plt.imread(buffer)


if __name__ == "__main__":
    main()
