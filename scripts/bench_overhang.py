"""Time the AM overhang filter (forward map + VJP) on a 3D grid.

    python scripts/bench_overhang.py                  # 100³ = 10⁶ H8 elements, support 5, +z
    python scripts/bench_overhang.py --n 40 --support 9 --direction=-x

Applies :class:`femopt.design.overhang.OverhangFilter` to a random blueprint in [0, 1]
and pulls a random cotangent back (the best of ``--repeat`` runs each), and prints the
seconds and their ratio to one optimization iteration at that size (``--iteration``,
default 12 s: a 10⁶-element H8 iteration with the geometric multigrid solver). The
filter must cost under 10 % of an iteration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from femopt.design.overhang import OverhangFilter


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
    parser.add_argument("--iteration", type=float, default=12.0,
                        help="seconds of one optimization iteration at this size (default 12)")
    args = parser.parse_args()

    grid = (args.n,) * 3
    am = OverhangFilter(grid, args.direction, args.support)
    rng = np.random.default_rng(0)
    blueprint = rng.uniform(0.0, 1.0, am_size(grid))
    cotangent = rng.standard_normal(am_size(grid))
    printed = am.apply(blueprint)
    forward = best_of(args.repeat, lambda: am.apply(blueprint))
    backward = best_of(args.repeat, lambda: am.vjp(blueprint, printed, cotangent))
    total = forward + backward
    print(f"grid {args.n}^3 = {am_size(grid):,} elements, support {args.support}, build direction "
          f"{args.direction}")
    print(f"forward {forward:.3f} s, VJP {backward:.3f} s, forward + VJP {total:.3f} s")
    print(f"ratio to a {args.iteration:g} s iteration: {total / args.iteration:.3f} "
          f"({'under' if total < 0.1 * args.iteration else 'OVER'} the 10 % budget)")


def am_size(grid) -> int:
    return int(np.prod(grid))


if __name__ == "__main__":
    main()
