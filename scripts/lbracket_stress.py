"""The L-bracket figures of docs/physics.md "Stress constraints": the stress-constrained design
(configs/lbracket_stress.yaml) and its compliance-only twin at the same volume
(configs/lbracket_stress_twin.yaml, its volume fraction set to what the first reached).

    python scripts/lbracket_stress.py [--outdir out] [--images docs/images] [--reuse]
    python scripts/lbracket_stress.py --bench       # the cost of one evaluation, both configs

Writes both result folders, recomputes the maximum relaxed stress of each from its
result.npz with the formula of docs/physics.md (plain numpy, not femopt.responses.stress), prints one table
row per design and copies density.png and stress.png into --images (if given).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import femopt  # noqa: E402


def relaxed_stress(folder: Path, E: float = 1.0, nu: float = 0.3, q: float = 0.5) -> np.ndarray:
    """(n_elements,) ρ^q σ_vm from result.npz of a 2D grid: Q4 boxes, B at the centre."""
    data = np.load(folder / "result.npz")
    nx, ny = data["grid"]
    hx, hy = data["size"] / data["grid"]
    dNdx, dNdy = np.array([-1, 1, 1, -1]) / (2 * hx), np.array([-1, -1, 1, 1]) / (2 * hy)
    i, j = np.divmod(np.arange(nx * ny), ny)
    nodes = np.stack([i * (ny + 1) + j, (i + 1) * (ny + 1) + j, (i + 1) * (ny + 1) + j + 1,
                      i * (ny + 1) + j + 1], axis=1)
    u = data["u"][:, 0].reshape(-1, 2)[nodes]
    exx, eyy, gxy = u[:, :, 0] @ dNdx, u[:, :, 1] @ dNdy, u[:, :, 0] @ dNdy + u[:, :, 1] @ dNdx
    c = E / (1 - nu**2)
    sx, sy, txy = c * (exx + nu * eyy), c * (eyy + nu * exx), c * (1 - nu) / 2 * gxy
    # ρ clipped at 0, as femopt does: a density filter's round-off can leave −1e-17.
    return np.maximum(data["rho"], 0.0) ** q * np.sqrt(sx**2 - sx * sy + sy**2 + 3 * txy**2)


def design_region(folder: Path) -> np.ndarray:
    """(n_elements,) bool: not in the passive void and not touching the loaded nodes
    (x = 100, 30 ≤ y ≤ 40) — what the stress constraint covers."""
    data = np.load(folder / "result.npz")
    nx, ny = data["grid"]
    h = data["size"] / data["grid"]
    i, j = np.divmod(np.arange(nx * ny), ny)
    x, y = (i + 0.5) * h[0], (j + 0.5) * h[1]
    void = (x >= 40) & (y >= 40)
    patch = (i == nx - 1) & (j * h[1] < 40) & ((j + 1) * h[1] > 30 - 1e-9)
    return ~void & ~patch


def _stress_picture(folder: Path, limit: float, title: str) -> None:
    """stress.png of a result without a stress response, as femopt draws it for one."""
    import matplotlib.pyplot as plt

    from femopt.mesh import StructuredMesh
    from femopt.output.stress import StressField, stress_figure

    data = np.load(folder / "result.npz")
    mesh = StructuredMesh(tuple(int(n) for n in data["grid"]), tuple(float(s) for s in data["size"]))
    relaxed = relaxed_stress(folder)[:, None]
    field = StressField(relaxed / np.maximum(data["rho"][:, None], 1e-300) ** 0.5, relaxed,
                        design_region(folder), 0.5, 8.0, limit, "twin")
    stress_figure(mesh, data["rho"], field, title).savefig(folder / "stress.png", dpi=120)
    plt.close("all")


def bench(repeats: int = 20) -> None:
    """Milliseconds per evaluation (a renormalizing one, as each optimizer iteration's) of
    both configs at one random design, per phase, in one process, twice each."""
    from femopt.loop.evaluator import PhaseTimer

    for name in ("lbracket_stress", "lbracket_stress_twin") * 2:
        timer = PhaseTimer()
        evaluator = femopt.prepare(ROOT / "configs" / f"{name}.yaml").evaluator(timer)
        x = np.random.default_rng(0).uniform(0.2, 0.9, evaluator.n_variables)
        evaluator(x)
        timer.totals.clear()
        start = time.perf_counter()
        for k in range(repeats):
            evaluator.start_iteration()
            evaluator(x + 1e-6 * (k + 1))  # a new design each time: nothing cached
        wall = (time.perf_counter() - start) / repeats * 1000
        phases = {phase: round(seconds / repeats * 1000, 2) for phase, seconds in timer.totals.items()}
        ratio = wall / (phases["factorization"] + phases["solve"])
        print(f"{name}: {wall:.1f} ms per evaluation, {phases}, evaluation / (factorization + solves) {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="out", type=Path)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--reuse", action="store_true", help="take the results already in --outdir")
    parser.add_argument("--bench", action="store_true", help="only time one evaluation of each config")
    args = parser.parse_args()
    if args.bench:
        return bench()
    limit = 0.6
    rows = []
    volume = None
    for name in ("lbracket_stress", "lbracket_stress_twin"):
        config = femopt.load_config(ROOT / "configs" / f"{name}.yaml")
        if volume is not None:  # the twin: the stress design's volume
            from dataclasses import replace
            config = replace(config, design=replace(config.design, volume_fraction=round(volume, 4)))
        folder = args.outdir / name
        if not (args.reuse and (folder / "summary.json").exists()):
            femopt.run(config, folder)
        summary = json.loads((folder / "summary.json").read_text())
        sigma = relaxed_stress(folder)[design_region(folder)]
        compliance = float(np.load(folder / "result.npz")["u"][:, 0] @ femopt.prepare(config).problem.forces[:, 0])
        rows.append((name, summary["volume"], compliance, sigma.max(), sigma.max() / limit, summary["iterations"],
                     summary["status"], summary["wall_time_s"]))
        if "stress" in summary:
            assert abs(summary["stress"]["max_relaxed"] - sigma.max()) < 1e-9 * sigma.max()
        volume = summary["volume"] if volume is None else volume
        if args.images:
            shutil.copy(folder / "density.png", args.images / f"{name}.png")
            if not (folder / "stress.png").exists():  # the twin has no stress response: draw it here
                _stress_picture(folder, limit, f"{config.name}: max relaxed stress {sigma.max():.4g} "
                                f"(limit {limit:g})")
            shutil.copy(folder / "stress.png", args.images / f"{name}_stress.png")
    print("| config | volume | compliance | max ρ^q σ_vm (no load patch) | / limit 0.6 | iterations | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, vol, comp, peak, ratio, iterations, status, seconds in rows:
        print(f"| `{name}.yaml` | {vol:.4f} | {comp:.2f} | {peak:.4f} | {ratio:.3f} | {iterations} ({status}) "
              f"| {seconds:.0f} |")


if __name__ == "__main__":
    main()
