"""The overhang filter's figures for docs/problems.md: a design printed with the AM filter against
the same problem without it, with their compliances and unsupported elements.

    python scripts/overhang_figures.py                 # configs/mbb_overhang.yaml (~1 minute)
    python scripts/overhang_figures.py CONFIG --out out --images docs/images
    python scripts/overhang_figures.py --no-run        # measure the designs already in out/
    python scripts/overhang_figures.py configs/bridge3d_overhang.yaml   # 3D (~5 minutes)

Runs CONFIG (which has design.overhang) and its twin without the filter (same filter,
projection, optimizer), writing out/<name>/ and out/<name>-no-overhang/ (femopt's usual
files), and prints for each design its compliance and the unsupported elements: solid ones
(ρ > 0.5) above the base layer with no solid element among their supports in the layer
below. Checks that the filtered design has at most 1 % of its solid elements unsupported,
the unfiltered one at least 2 %, and that the filter costs at most 1.3× the compliance
(exit status 1 otherwise). Writes docs/images/<name>.png: the printed design, its blueprint,
and the design without the filter with its unsupported elements in red; in 3D the solid
(ρ ≥ 0.5) of the printed design and of the design without the filter, side by side. CONFIG
may also read a mesh file (the filter's slices and cones, femopt/design/overhang_mesh.py).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import femopt  # noqa: E402
from femopt.build import build_mesh, build_overhang  # noqa: E402
from femopt.config import read_yaml  # noqa: E402
from femopt.output.volume import density_figure_3d  # noqa: E402

LIMITS = {"filtered": 0.01, "unfiltered": 0.02, "cost": 1.3}


def without_overhang(data: dict) -> dict:
    """The problem ``data`` with design.overhang removed (everything else the same)."""
    data = copy.deepcopy(data)
    del data["design"]["overhang"]
    data["problem"] = f"{data.get('problem', 'problem')}-no-overhang"
    return data


def unsupported_fraction(am, rho: np.ndarray) -> tuple[int, int, float]:
    """(unsupported, solid, fraction): solid elements above the base layer (ρ > 0.5) and
    those without a solid support below."""
    solid = int(np.sum((rho > 0.5) & ~am.base_layer()))
    unsupported = int(am.unsupported(rho).sum())
    return unsupported, solid, unsupported / max(solid, 1)


def panel(ax, grid, size, rho, title, marked=None):
    """rho (n_elements,) on the grid as an image, y up; ``marked`` elements in red."""
    image = np.clip(rho.reshape(grid).T, 0.0, 1.0)
    rgb = np.repeat((1.0 - image)[:, :, None], 3, axis=2)
    if marked is not None:
        rgb[marked.reshape(grid).T] = (0.85, 0.1, 0.1)
    ax.imshow(rgb, origin="lower", extent=(0, size[0], 0, size[1]), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def solid_picture(mesh, rho, title) -> np.ndarray:
    """The image (rows, columns, RGBA) of femopt's density.png of a 3D design, cropped."""
    fig = density_figure_3d(mesh, rho)
    fig.axes[0].set_title(title, fontsize=11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    return plt.imread(buffer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs/mbb_overhang.yaml"))
    parser.add_argument("--out", default=str(ROOT / "out"))
    parser.add_argument("--images", default=str(ROOT / "docs/images"))
    parser.add_argument("--no-run", action="store_true", help="measure the results already in --out")
    args = parser.parse_args()

    data = read_yaml(args.config)
    mesh_file = (data.get("mesh") or {}).get("file")
    if mesh_file and not Path(mesh_file).is_absolute():  # relative to the problem file, as femopt reads it
        data["mesh"]["file"] = str((Path(args.config).resolve().parent / mesh_file).resolve())
    config = femopt.load_config(data)
    mesh = build_mesh(config)
    am = build_overhang(config, mesh)
    if am is None:
        sys.exit(f"error: {args.config}: has no design.overhang")
    runs = {"filtered": data, "unfiltered": without_overhang(data)}
    results = {}
    for label, problem in runs.items():
        folder = Path(args.out) / femopt.load_config(problem).name
        if not args.no_run:
            femopt.run(problem, folder)
        arrays = np.load(folder / "result.npz")
        summary = json.loads((folder / "summary.json").read_text())
        results[label] = (summary["objective"], dict(arrays))

    compliance_on, on = results["filtered"]
    compliance_off, off = results["unfiltered"]
    rows = [("with the filter, printed", compliance_on, on["rho"]),
            ("with the filter, blueprint", None, on["rho_blueprint"]),
            ("without the filter", compliance_off, off["rho"])]
    print(f"{config.name}: build direction {config.design.overhang.build_direction}, {mesh.n_elements} "
          + (f"elements, grid {'x'.join(map(str, config.mesh.grid))}" if config.mesh.file is None
             else f"{mesh.cell_type.name} elements, {am.describe()}"))
    for name, compliance, rho in rows:
        unsupported, solid, fraction = unsupported_fraction(am, rho)
        value = f"compliance {compliance:9.4f}" if compliance is not None else " " * 20
        print(f"  {name:28s} {value}  volume {rho.mean():.4f}  unsupported {unsupported:4d} "
              f"of {solid:5d} solid elements ({100 * fraction:.2f} %)")
    ratio = compliance_on / compliance_off
    print(f"  compliance with / without the filter: {ratio:.3f}")

    fraction_on = unsupported_fraction(am, on["rho"])[2]
    fraction_off = unsupported_fraction(am, off["rho"])[2]
    checks = [(fraction_on <= LIMITS["filtered"], f"filtered design: {100 * fraction_on:.2f} % unsupported "
               f"(at most {100 * LIMITS['filtered']:g} %)"),
              (fraction_off >= LIMITS["unfiltered"], f"unfiltered design: {100 * fraction_off:.2f} % "
               f"unsupported (at least {100 * LIMITS['unfiltered']:g} %)"),
              (ratio <= LIMITS["cost"], f"compliance cost {ratio:.3f}x (at most {LIMITS['cost']:g}x)")]
    for ok, text in checks:
        print(f"  {'ok    ' if ok else 'FAILED'} {text}")

    Path(args.images).mkdir(parents=True, exist_ok=True)
    image = Path(args.images) / f"{Path(args.config).stem}.png"
    if config.mesh.dim == 2 and config.mesh.file is None:
        grid, size = config.mesh.grid, config.mesh.size or config.mesh.grid
        fig, axes = plt.subplots(3, 1, figsize=(7.0, 7.6))
        panel(axes[0], grid, size, on["rho"], f"printed (AM filter, build direction "
              f"{config.design.overhang.build_direction}): compliance {compliance_on:.2f}, "
              f"{100 * fraction_on:.1f} % unsupported")
        panel(axes[1], grid, size, on["rho_blueprint"], "its blueprint (the design before the AM filter)")
        panel(axes[2], grid, size, off["rho"], f"without the filter: compliance {compliance_off:.2f}, "
              f"{100 * fraction_off:.1f} % unsupported (red)", marked=am.unsupported(off["rho"]))
        fig.tight_layout()
        fig.savefig(image, dpi=110)
        print(f"  wrote {image}")
    elif config.mesh.dim == 3:
        pictures = [solid_picture(mesh, on["rho"], f"printed (build direction "
                                  f"{config.design.overhang.build_direction}, upwards): compliance "
                                  f"{compliance_on:.2f}, {100 * fraction_on:.1f} % unsupported"),
                    solid_picture(mesh, off["rho"], f"without the filter: compliance {compliance_off:.2f}, "
                                  f"{100 * fraction_off:.1f} % unsupported")]
        fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
        for ax, picture in zip(axes, pictures):
            ax.imshow(picture)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(image, dpi=90)
        # 64 colours (PIL comes with matplotlib): a third of the size, the same picture
        Image.open(image).convert("RGB").quantize(colors=64).save(image, optimize=True)
        print(f"  wrote {image}")
    sys.exit(0 if all(ok for ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
