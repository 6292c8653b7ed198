"""Time the AM overhang filter (forward map + VJP) on a 3D grid.

    python scripts/bench_overhang.py                  # 100³ = 10⁶ H8 elements, support 5, +z
    python scripts/bench_overhang.py --n 40 --support 9 --direction=-x
    python scripts/bench_overhang.py --mesh H8        # the mesh-file method on the same grid
    python scripts/bench_overhang.py --mesh T4 --n 55 # ... on 6·55³ ≈ 10⁶ jittered tetrahedra

Applies :class:`femopt.design.overhang.OverhangFilter` to a random blueprint in [0, 1]
and pulls a random cotangent back (the best of ``--repeat`` runs each), and prints the
seconds and their ratio to one optimization iteration at that size (``--iteration``,
default 12 s: a 10⁶-element H8 iteration with the geometric multigrid solver). The
filter must cost under 10 % of an iteration. ``--mesh`` times the mesh-file method
(:class:`femopt.design.overhang_mesh.MeshOverhangFilter`, 45° cone) instead, on the grid's
centroids (H8) or on those of its cubes split into 6 tetrahedra each and jittered by up to
0.1 element sizes (T4), and also prints the time to find the slices and supports (once per run).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from femopt.design.overhang import OverhangFilter
from femopt.design.overhang_mesh import MeshOverhangFilter

# Kuhn's split of a cube (VTK corner order) into 6 tetrahedra, as tests/mesh_helpers.py
_CORNERS = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float)
_KUHN = np.array([[0, 1, 2, 6], [0, 1, 5, 6], [0, 3, 2, 6], [0, 3, 7, 6], [0, 4, 5, 6], [0, 4, 7, 6]])


def best_of(repeat: int, function) -> float:
    """The shortest wall-clock seconds of ``repeat`` calls of ``function()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="elements per axis (default 100)")
    parser.add_argument("--support", type=int, default=5, choices=(5, 9))
    parser.add_argument("--direction", default="+z", help="build direction (default +z)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mesh", choices=("H8", "T4"), help="time the mesh-file method on these cells")
    parser.add_argument("--iteration", type=float, default=12.0,
                        help="seconds of one optimization iteration at this size (default 12)")
    args = parser.parse_args()

    grid = (args.n,) * 3
    setup = None
    if args.mesh is None:
        am = OverhangFilter(grid, args.direction, args.support)
    else:
        centroids = mesh_centroids(args.n, args.mesh)
        start = time.perf_counter()
        am = MeshOverhangFilter(centroids, np.ones(len(centroids)), 0.0, args.direction)
        setup = time.perf_counter() - start
    n = len(am.slices) if args.mesh else am_size(grid)
    rng = np.random.default_rng(0)
    blueprint = rng.uniform(0.0, 1.0, n)
    cotangent = rng.standard_normal(n)
    printed = am.apply(blueprint)
    forward = best_of(args.repeat, lambda: am.apply(blueprint))
    backward = best_of(args.repeat, lambda: am.vjp(blueprint, printed, cotangent))
    total = forward + backward
    if args.mesh is None:
        print(f"grid {args.n}^3 = {n:,} elements, support {args.support}, build direction {args.direction}")
    else:
        print(f"mesh method: {n:,} {args.mesh} centroids, 45° cone, build direction {args.direction}, "
              f"median {int(np.median(am.n_supports))} supports; slices and supports found in {setup:.2f} s")
    print(f"forward {forward:.3f} s, VJP {backward:.3f} s, forward + VJP {total:.3f} s")
    print(f"ratio to a {args.iteration:g} s iteration: {total / args.iteration:.3f} "
          f"({'under' if total < 0.1 * args.iteration else 'OVER'} the 10 % budget)")


def mesh_centroids(n: int, cells: str) -> np.ndarray:
    """(n_elements, 3) centroids of n³ unit cubes (H8) or of their Kuhn tetrahedra, jittered (T4)."""
    origins = np.stack(np.meshgrid(*(np.arange(n, dtype=float),) * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    if cells == "H8":
        return (origins + 0.5).reshape(-1, 3)
    centroids = (origins + _CORNERS[_KUHN].mean(axis=1)[None]).reshape(-1, 3)
    return centroids + np.random.default_rng(1).uniform(-0.1, 0.1, centroids.shape)


def am_size(grid) -> int:
    return int(np.prod(grid))


if __name__ == "__main__":
    main()
