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
from femopt.output.folder import OutputFolder
from femopt.output.plots import convergence_figure, density_figure
from femopt.output.volume import density_figure_3d, isosurface, isosurface_tetrahedra, write_stl, write_vtu

FILES = ("density.png", "convergence.png", "history.csv", "result.npz", "summary.json")
# 3D meshes add a VTK grid and an STL of the solid (femopt.output.volume); summary.json stays last.
FILES_3D = FILES[:-1] + ("density.vtu", "density.stl", "summary.json")
# Other (unstructured) 2D meshes add the VTK grid; 3D ones write FILES_3D, their STL by
# marching tetrahedra (femopt.output.volume.isosurface_tetrahedra).
FILES_MESH = FILES[:-1] + ("density.vtu", "summary.json")


def files_for(mesh) -> tuple[str, ...]:
    """The file names :func:`write_files` writes for ``mesh``, summary.json last."""
    if mesh.dim == 3:
        return FILES_3D
    return FILES if mesh.structured else FILES_MESH


def expected_bytes(mesh, n_cases: int = 1) -> int:
    """About the size in bytes of what :func:`write_files` writes for ``mesh`` with
    ``n_cases`` load cases: arrays uncompressed, 2 MB for the images, and for 3D the
    VTU and an STL of ~2 triangles per element."""
    size = 8 * (2 * mesh.n_elements + mesh.dim * mesh.n_nodes * n_cases) + 2_000_000
    if mesh.dim == 3:
        size += 48 * mesh.n_nodes + 89 * mesh.n_elements + 100 * mesh.n_elements
    return size


def write_results(outdir, name: str, mesh, result, extra_summary: dict | None = None,
                  material: tuple[float, float] | None = None) -> list[Path]:
    """Publish :func:`write_files` into ``outdir`` through an OutputFolder (preflight,
    lock, staging folder, atomic swap); returns the final paths, in the order written.

    Inside ``with OutputFolder(outdir) as folder:`` call ``folder.publish`` instead:
    this function takes the lock itself.
    """
    n_cases = np.asarray(result.u).reshape(mesh.dim * mesh.n_nodes, -1).shape[1]
    with OutputFolder(outdir, expected_bytes=expected_bytes(mesh, n_cases)) as folder:
        written = folder.publish(
            lambda staging: write_files(staging, name, mesh, result, extra_summary, material))
        return [folder.path / path.name for path in written]


def write_files(directory, name: str, mesh, result, extra_summary: dict | None = None,
                material: tuple[float, float] | None = None) -> list[Path]:
    """Write :func:`files_for` ``mesh`` for ``result`` (a :class:`femopt.topopt.Result`)
    into the existing folder ``directory``, as they are (no temporary names).
    material: (E, ν) of the solid; given, density.vtu holds the cells' von Mises stress
    (:func:`femopt.output.volume.von_mises`).

    Returns their paths, in the order of :func:`files_for`.
    """
    staging = Path(directory)
    title = f"{name}: objective {result.objective:.6g}"
    if mesh.dim == 3:
        _write_volume_files(staging, mesh, result, title, material)
    else:
        _save_figure(density_figure(mesh, result.rho, title=title), staging / "density.png")
        if not mesh.structured:
            write_vtu(staging / "density.vtu", mesh, result.rho, result.x, result.u, material)
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
    np.savez_compressed(staging / "result.npz", x=result.x, rho=result.rho, u=result.u,
                        **_mesh_arrays(mesh), **getattr(result, "fields", {}))  # robust: rho_eroded, rho_dilated
    summary = {
        "problem": name,
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
        **(extra_summary or {}),
    }
    (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return [staging / filename for filename in files_for(mesh)]


def _write_volume_files(staging: Path, mesh, result, title: str, material) -> None:
    """density.vtu, density.stl and the rendered density.png of a 3D result."""
    write_vtu(staging / "density.vtu", mesh, result.rho, result.x, result.u, material)
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
