"""Write a run's files: :func:`write_files` into a folder as it is, :func:`write_results`
through an :class:`~femopt.output.folder.OutputFolder` (all files appear together,
replacing the previous result, or none do).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from femopt import __version__
from femopt.output.files import IMAGE_FILE, files_for, writes_image
from femopt.output.image import write_vti
from femopt.output.folder import OutputFolder
from femopt.output.modes import has_modes, mode_point_data, mode_summary, modes_figure
from femopt.output.plots import convergence_figure, density_figure, temperature_figure
from femopt.output.stress import stress_figure
from femopt.output.volume import density_figure_3d, isosurface, isosurface_tetrahedra, write_stl, write_vtu


def expected_bytes(mesh, n_cases: int = 1) -> int:
    """About the size in bytes of what :func:`write_files` writes for ``mesh`` with
    ``n_cases`` load cases: arrays uncompressed, 2 MB for the images, and for 3D the
    VTU and an STL of ~2 triangles per element."""
    size = 8 * (2 * mesh.n_elements + mesh.dim * mesh.n_nodes * n_cases) + 2_000_000
    if mesh.dim == 3 and writes_image(mesh):  # float32 ρ, x, von Mises and u; the STL
        size += 12 * mesh.n_nodes + 12 * mesh.n_elements + 100 * mesh.n_elements
    elif mesh.dim == 3:
        size += 48 * mesh.n_nodes + 89 * mesh.n_elements + 100 * mesh.n_elements
    return size


def write_results(outdir, name: str, mesh, result, extra_summary: dict | None = None,
                  material: tuple[float, float] | None = None, physics: str = "elasticity",
                  stress=None) -> list[Path]:
    """Publish :func:`write_files` into ``outdir`` through an OutputFolder (preflight,
    lock, staging folder, atomic swap); returns the final paths, in the order written.

    Inside ``with OutputFolder(outdir) as folder:`` call ``folder.publish`` instead:
    this function takes the lock itself.
    """
    n_cases = np.asarray(result.u).reshape(_components(mesh, physics) * mesh.n_nodes, -1).shape[1]
    with OutputFolder(outdir, expected_bytes=expected_bytes(mesh, n_cases)) as folder:
        written = folder.publish(
            lambda staging: write_files(staging, name, mesh, result, extra_summary, material, physics,
                                        stress))
        return [folder.path / path.name for path in written]


def write_files(directory, name: str, mesh, result, extra_summary: dict | None = None,
                material: tuple[float, float] | None = None, physics: str = "elasticity",
                stress=None) -> list[Path]:
    """Write :func:`files_for` ``mesh`` for ``result`` (a :class:`femopt.loop.driver.Result`)
    into the existing folder ``directory``, as they are (no temporary names).
    material: (E, ν) of the solid; given, density.vtu holds the cells' von Mises stress
    (:func:`femopt.responses.stress.centre_von_mises`). physics: "heat" when result.u holds
    temperatures (n_nodes, n_cases): result.npz and density.vtu then hold ``temperature``
    instead of ``u``, and 2D meshes get temperature.png. stress: a
    :class:`femopt.output.stress.StressField` (a run with a stress response): its arrays,
    picture and summary entry are written too.

    Returns their paths, in the order of :func:`files_for`.
    """
    staging = Path(directory)
    title = f"{name}: objective {result.objective:.6g}"
    point_field = "temperature" if physics == "heat" else "u"
    cells = {} if stress is None else {"von_mises_relaxed": stress.relaxed[:, 0]}
    modes = has_modes(result.fields)
    points = mode_point_data(mesh, result.fields) if modes else None
    if modes:
        _save_figure(modes_figure(mesh, result.rho, result.fields, title=f"{name}: modes"), staging / "modes.png")
    if mesh.dim == 3:
        _write_volume_files(staging, mesh, result, title, material, point_field, cells, points)
    else:
        _save_figure(density_figure(mesh, result.rho, title=title), staging / "density.png")
        if physics == "heat":
            first_case = np.asarray(result.u).reshape(mesh.n_nodes, -1)[:, 0]
            _save_figure(temperature_figure(mesh, first_case, title=f"{name}: temperature"),
                         staging / "temperature.png")
        if not mesh.structured or modes:
            write_vtu(staging / "density.vtu", mesh, result.rho, result.x, result.u, material, point_field,
                      cells, points)
    if stress is not None:
        peak = stress.maximum[0]
        limit = f" (limit {stress.limit:.4g})" if stress.limit is not None else ""
        _save_figure(stress_figure(mesh, result.rho, stress, f"{name}: max relaxed stress {peak:.4g}{limit}"),
                     staging / "stress.png")
    history = result.history
    _save_figure(convergence_figure(np.array([h.objective for h in history]),
                                    np.array([h.volume for h in history]), title=name),
                 staging / "convergence.png")
    with open(staging / "history.csv", "w", newline="") as f:
        # One column per continuation parameter (penalty, and beta with projection).
        rows = [{**{k: v for k, v in asdict(h).items() if k != "parameters"}, **h.parameters}
                for h in history]
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    np.savez_compressed(staging / "result.npz", x=result.x, rho=result.rho, **{point_field: result.u},
                        **_mesh_arrays(mesh), **({} if stress is None else stress.arrays()),
                        **result.fields)  # robust: rho_eroded, rho_dilated
    summary = {
        "problem": name,
        "physics": physics,
        "objective": result.objective,
        "volume": result.volume,
        "iterations": result.iterations,
        "converged": result.converged,
        "wall_time_s": result.wall_time,
        "timings_s": result.timings,
        "solver": result.solver,
        "factorizations": result.factorizations,
        "parameters": result.parameters,
        "status": result.status,
        "responses": result.responses,
        "warnings": list(result.warnings),
        **_mesh_summary(mesh),
        "femopt_version": __version__,
        **({} if stress is None else {"stress": stress.summary(mesh)}),
        **mode_summary(result.fields),
        **(extra_summary or {}),
    }
    (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return [staging / filename for filename in files_for(mesh, physics, stress is not None, modes)]


def _components(mesh, physics: str) -> int:
    """Values per node of the result's field: 1 (temperature) or dim (displacements)."""
    return 1 if physics == "heat" else mesh.dim


def _write_volume_files(staging: Path, mesh, result, title: str, material, point_field: str = "u",
                        cells=None, points=None) -> None:
    """density.vtu (with the extra cell data ``cells`` and point data ``points``; density.vti
    on a large grid without point data: :func:`femopt.output.files.writes_image`),
    density.stl and the rendered density.png of a 3D result."""
    if writes_image(mesh, modes=points is not None):
        write_vti(staging / IMAGE_FILE, mesh, result.rho, result.x, result.u, material, point_field, cells)
    else:
        write_vtu(staging / "density.vtu", mesh, result.rho, result.x, result.u, material, point_field, cells,
                  points)
    surface = isosurface if mesh.structured else isosurface_tetrahedra
    write_stl(staging / "density.stl", *surface(mesh, result.rho))
    _save_figure(density_figure_3d(mesh, result.rho, title=title), staging / "density.png")


def _mesh_arrays(mesh) -> dict:
    """The mesh in result.npz: grid and size of a structured mesh, else nodes and cells."""
    if mesh.structured:
        return {"grid": np.asarray(mesh.grid), "size": np.asarray(mesh.size)}
    return {"node_coords": mesh.node_coords, "cells": mesh.cells}


def _mesh_summary(mesh) -> dict:
    """The mesh in summary.json: a structured mesh's grid, else its cell type and counts."""
    if mesh.structured:
        return {"grid": list(mesh.grid)}
    return {"mesh": {"cell_type": mesh.cell_type.name, "elements": mesh.n_elements, "nodes": mesh.n_nodes}}


def _save_figure(fig, path: Path) -> None:
    fig.savefig(path, dpi=120)
    plt.close(fig)
