"""Time the AMG path on an unstructured T4 cantilever made with gmsh, per phase, and print the figures.

    python scripts/bench_amg.py --cells 1e5                  # ~10^5 tetrahedra, 3 iterations
    python scripts/bench_amg.py --cells 1e6                  # the million-cell figure (minutes, ~GBs)
    python scripts/bench_amg.py --cells 2e5 --profile prof.out   # cProfile of setup + loop

The mesh is a 2 × 1 × 1 box (metres, say) meshed by gmsh (the ``gmsh`` package,
``femopt[mesh]``) with a uniform size chosen for about ``--cells`` tetrahedra, written
as MSH 4.1 (ASCII, what gmsh writes by default) under ``--cache`` (default: the
system's temp folder, ``femopt-bench-amg/``) and reused by later runs. Physical groups:
``domain`` (the cells), ``clamp`` (the x = 0 face), ``tip`` (the x = 2 face).

The problem: clamped at x = 0, a unit downward force spread over the tip face, volume
fraction 0.3, density filter of radius 1.5 mesh sizes, OC, ``--solver`` (default amg).
It runs femopt's Python API (``femopt.prepare`` then ``femopt.run`` without an output
folder) and prints:

- setup seconds: mesh reading (meshio + femopt's checks), the rest of the build
  (``femopt.prepare``: selections, element matrices, filter, solver) and the
  evaluator (the assembly pattern and scatter, built by ``run``), each on its own;
- seconds per iteration of each phase (the Result's ``timings`` / iterations) and
  their total; the CG iterations per solve;
- beside each wall-clock figure the process's CPU time (``time.process_time``, every
  thread's): on a machine shared with other jobs the wall clock also counts their turns;
- the peak resident memory (``resource.getrusage``: the process's high-water mark) and
  the load average of the machine while it ran (a shared machine's figures are slower).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import femopt
from femopt.loop.evaluator import PHASES
from femopt.mesh.io import read_mesh

SIZE = (2.0, 1.0, 1.0)          # box lengths along x, y, z
CELLS_PER_VOLUME = 3.9          # gmsh's tetrahedra per h³ at a uniform size h (HXT, gmsh 4.15: 3.9 at 10⁶, 4.3 at 2·10⁴)


def make_mesh(cells: int, cache: Path) -> Path:
    """The cached MSH file of the box with about ``cells`` tetrahedra (generated once)."""
    h = (CELLS_PER_VOLUME * math.prod(SIZE) / cells) ** (1 / 3)
    path = cache / f"box_{SIZE[0]:g}x{SIZE[1]:g}x{SIZE[2]:g}_h{h:.5f}.msh"
    if path.exists():
        return path
    import gmsh  # here: only for a mesh not in the cache

    cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)     # deterministic
        gmsh.model.add("box")
        box = gmsh.model.occ.addBox(0, 0, 0, *SIZE)
        gmsh.model.occ.synchronize()
        faces = gmsh.model.getBoundary([(3, box)], oriented=False)
        x0 = [t for d, t in faces if abs(gmsh.model.occ.getCenterOfMass(d, t)[0]) < 1e-9]
        x1 = [t for d, t in faces if abs(gmsh.model.occ.getCenterOfMass(d, t)[0] - SIZE[0]) < 1e-9]
        gmsh.model.addPhysicalGroup(3, [box], name="domain")
        gmsh.model.addPhysicalGroup(2, x0, name="clamp")
        gmsh.model.addPhysicalGroup(2, x1, name="tip")
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)     # HXT: fast at 10⁶ cells
        gmsh.model.mesh.generate(3)
        partial = path.with_suffix(".part.msh")
        gmsh.write(str(partial))
        partial.replace(path)                               # a complete file or none
    finally:
        gmsh.finalize()
    print(f"gmsh: {path} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def peak_rss_mb() -> float:
    """The process's resident high-water mark so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def problem(mesh_file: Path, h: float, iterations: int, solver: str) -> dict:
    """The cantilever's problem file as a dict (see the module docstring)."""
    return {
        "problem": f"amg-box-{mesh_file.stem}",
        "mesh": {"file": str(mesh_file)},
        "material": {"E": 1.0, "nu": 0.3, "Emin": 1e-9},
        "supports": [{"at": {"group": "clamp"}, "fix": "all"}],
        "loads": [{"at": {"group": "tip"}, "force": [0.0, -1.0, 0.0]}],
        "design": {"volume_fraction": 0.3, "filter": {"type": "density", "radius": 1.5 * h}},
        "optimizer": {"type": "oc", "max_iterations": iterations, "tolerance": 1e-9},
        "solver": solver,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=float, default=1e5, help="about how many tetrahedra (default 1e5)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--solver", default="amg")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "femopt-bench-amg")
    parser.add_argument("--seed", type=int, help="seed numpy's global generator first (pyamg draws the "
                        "start of its spectral-radius estimates from it): runs then repeat to the last bit")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the build and the loop here")
    args = parser.parse_args(argv)

    mesh_file = make_mesh(int(args.cells), args.cache)
    if args.seed is not None:
        np.random.seed(args.seed)
    h = (CELLS_PER_VOLUME * math.prod(SIZE) / int(args.cells)) ** (1 / 3)
    # CPU time, not wall time: on a shared machine the wall clock counts other jobs' turns.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler:
        profiler.enable()
    start, cpu = time.perf_counter(), time.process_time()
    mesh = read_mesh(mesh_file)                 # cached by femopt: the build reads it again for free
    read_s, read_cpu = time.perf_counter() - start, time.process_time() - cpu
    peaks = {"read": peak_rss_mb()}
    start, cpu = time.perf_counter(), time.process_time()
    model = femopt.prepare(problem(mesh_file, h, args.iterations, args.solver))
    build_s, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    peaks["build"] = peak_rss_mb()
    setup = {}
    build_evaluator = model.evaluator

    def timed_evaluator(*args, **kwargs):  # the assembly pattern: built by run, before the loop
        start, cpu = time.perf_counter(), time.process_time()
        evaluator = build_evaluator(*args, **kwargs)
        setup["evaluator"] = (time.perf_counter() - start, time.process_time() - cpu)
        setup["loop_cpu_start"] = time.process_time()
        peaks["evaluator"] = peak_rss_mb()
        return evaluator

    model.evaluator = timed_evaluator
    result = femopt.run(model)
    loop_cpu = time.process_time() - setup["loop_cpu_start"]
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    load = os.getloadavg()
    peaks["loop"] = peak_rss_mb()

    n = result.iterations
    solver = model.solver
    print(f"{mesh.n_elements} T4 cells, {mesh.n_nodes} nodes ({mesh_file}), solver {solver.name}, "
          f"{n} iterations")
    print(f"setup: mesh read {read_s:.2f} s (CPU {read_cpu:.2f} s), build {build_s:.2f} s (CPU {build_cpu:.2f} s), "
          f"evaluator (assembly pattern) {setup['evaluator'][0]:.2f} s (CPU {setup['evaluator'][1]:.2f} s)")
    print("seconds per iteration:")
    loop = [p for p in PHASES if p != "analysis"]
    for phase in loop:
        print(f"  {phase:>13} {result.timings[phase] / n:8.3f}")
    print(f"  {'total':>13} {sum(result.timings[p] for p in loop) / n:8.3f}   (process CPU time: "
          f"{loop_cpu / n:.3f} s per iteration)")
    cg = getattr(solver, "total_iterations", None)
    if cg is not None:
        print(f"CG iterations: {cg} in all, {cg / max(solver.n_factorizations, 1):.1f} per design")
    print(f"compliance after {n} iterations: {result.objective!r}")
    print(f"peak RSS {peaks['loop']:.0f} MB (the high-water mark after each phase: "
          + ", ".join(f"{phase} {mb:.0f}" for phase, mb in peaks.items()) + " MB)")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs (figures measured under that load)")


if __name__ == "__main__":
    sys.exit(main())
