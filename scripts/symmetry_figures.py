"""The symmetry and extrusion figures for docs/problems.md: a design held mirror-symmetric against
the same problem without the constraint, and an extruded 3D design's constancy along its axis.

    python scripts/symmetry_figures.py            # configs/cantilever_symmetric.yaml and
                                                  # configs/cantilever3d_extruded.yaml (~1 minute)
    python scripts/symmetry_figures.py --out out --images docs/images

Runs the 2D config and its twin without ``design.symmetry`` (out/<name>/ and
out/<name>-free/), prints their compliances and max |ρ − mirror(ρ)|, and writes
docs/images/cantilever_symmetric.png (the free design above, the symmetric one below). Runs
the 3D config and prints max |ρ − ρ(z = first layer)|. Exit status 1 unless the symmetric
design is symmetric to 1e-9, the free one asymmetric by more than 0.3, and the extruded one
constant along z to 1e-9.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import femopt  # noqa: E402
from femopt.config import read_yaml  # noqa: E402


def panel(ax, grid, rho, title):
    """rho (n_elements,) of a 2D grid (y fastest) as a grey image, y up."""
    ax.imshow(1.0 - np.clip(rho.reshape(grid).T, 0, 1), cmap="gray", vmin=0, vmax=1, origin="lower",
              interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "out"))
    parser.add_argument("--images", default=str(ROOT / "docs/images"))
    args = parser.parse_args()

    data = read_yaml(ROOT / "configs/cantilever_symmetric.yaml")
    free = copy.deepcopy(data)
    del free["design"]["symmetry"]
    free["problem"] = f"{data['problem']}-free"
    grid = tuple(data["mesh"]["grid"])
    results = {}
    for label, problem in (("symmetric", data), ("free", free)):
        result = femopt.run(problem, Path(args.out) / problem["problem"])
        rho = result.rho.reshape(grid)
        asymmetry = float(np.abs(rho - rho[:, ::-1]).max())
        results[label] = (result, asymmetry)
        print(f"{problem['problem']:28s} compliance {result.objective:9.4f}  iterations {result.iterations:4d}  "
              f"volume {result.volume:.4f}  max |rho - mirror(rho)| {asymmetry:.3g}")

    data3 = read_yaml(ROOT / "configs/cantilever3d_extruded.yaml")
    result3 = femopt.run(data3, Path(args.out) / data3["problem"])
    nx, ny, nz = data3["mesh"]["grid"]
    rho3 = result3.rho.reshape(nz, nx, ny)   # z slowest
    variation = float(np.abs(rho3 - rho3[:1]).max())
    print(f"{data3['problem']:28s} compliance {result3.objective:9.4f}  iterations {result3.iterations:4d}  "
          f"max |rho - rho(first z layer)| {variation:.3g}")

    fig, axes = plt.subplots(2, 1, figsize=(6.0, 6.4))
    (free_result, free_asym), (sym_result, sym_asym) = results["free"], results["symmetric"]
    panel(axes[0], grid, free_result.rho, f"unconstrained: compliance {free_result.objective:.2f}, "
          f"max |ρ − mirror(ρ)| = {free_asym:.2f}")
    panel(axes[1], grid, sym_result.rho, f"symmetry: [y]: compliance {sym_result.objective:.2f}, "
          f"max |ρ − mirror(ρ)| = {sym_asym:.1g}")
    for ax in axes:  # the load, off centre on the free end
        ax.annotate("", xy=(grid[0] - 0.5, 0.75 * grid[1] - 6), xytext=(grid[0] - 0.5, 0.75 * grid[1] + 0.5),
                    arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.5})
    fig.tight_layout()
    Path(args.images).mkdir(parents=True, exist_ok=True)
    image = Path(args.images) / "cantilever_symmetric.png"
    fig.savefig(image, dpi=110)
    print(f"wrote {image}")
    ok = sym_asym <= 1e-9 and free_asym > 0.3 and variation <= 1e-9
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
