"""The names of the files in a run's output folder: what the writer writes, and all that
the folder may hold besides (the checkpoint, femopt's temporary files)."""

from __future__ import annotations

FILES = ("density.png", "convergence.png", "history.csv", "result.npz", "summary.json")
# 3D meshes add a VTK grid and an STL of the solid (femopt.output.volume); summary.json stays last.
FILES_3D = FILES[:-1] + ("density.vtu", "density.stl", "summary.json")
# 3D grids of more than MAX_VTU_ELEMENTS elements write ImageData instead of the VTU
# (femopt.output.image: no points or cells in the file, float32 data).
IMAGE_FILE = "density.vti"
MAX_VTU_ELEMENTS = 200_000
# Other (unstructured) 2D meshes add the VTK grid; 3D ones write FILES_3D, their STL by
# marching tetrahedra (femopt.output.volume.isosurface_tetrahedra).
FILES_MESH = FILES[:-1] + ("density.vtu", "summary.json")
# physics: heat adds a picture of the temperature on 2D meshes (3D: in density.vtu).
HEAT_FILES = ("temperature.png",)
# A run with a stress response adds its picture (femopt.output.stress).
STRESS_FILES = ("stress.png",)
# A mesh made from a CAD file adds gmsh's mesh of it (femopt.mesh.cad, copied by femopt.api).
CAD_FILES = ("mesh.msh",)
# A run with a frequency or buckling response adds the picture of its modes, and the mode
# shapes as point data of density.vtu (written on 2D grids too then: femopt.output.modes).
MODE_FILES = ("modes.png",)
# The checkpoint (femopt.output.checkpoint), carried across publishing (femopt.output.folder).
CHECKPOINT = "checkpoint.npz"
# The prefix of femopt's temporary files inside OUTDIR (probes, files such as the
# checkpoint being written by femopt.output.atomic, the old writer's staging folders);
# a run removes those of dead runs.
TEMPORARY = (".femopt-",)


def files_for(mesh, physics: str = "elasticity", stress: bool = False, modes: bool = False) -> tuple[str, ...]:
    """The file names :func:`femopt.output.writer.write_files` writes for ``mesh`` (with a
    stress field: ``stress``; with eigenmodes: ``modes``), summary.json last."""
    if mesh.dim == 3:
        files = FILES_3D
        if writes_image(mesh, modes):
            files = tuple(IMAGE_FILE if name == "density.vtu" else name for name in files)
    else:
        files = FILES if mesh.structured else FILES_MESH
        files = files[:1] + HEAT_FILES + files[1:] if physics == "heat" else files
    files = files[:-1] + STRESS_FILES + files[-1:] if stress else files
    if modes:
        files = files[:-1] + MODE_FILES + (() if "density.vtu" in files else ("density.vtu",)) + files[-1:]
    return files


def writes_image(mesh, modes: bool = False) -> bool:
    """True when ``mesh``'s result goes to density.vti instead of density.vtu: a 3D
    structured grid of more than MAX_VTU_ELEMENTS elements, without mode shapes (``modes``:
    they are point data, which the VTU holds)."""
    return bool(mesh.structured and mesh.dim == 3 and mesh.n_elements > MAX_VTU_ELEMENTS and not modes)


def femopt_file(name: str) -> bool:
    """True for a name femopt writes into an output folder: a result file or the checkpoint."""
    return name in {*FILES, *FILES_3D, *FILES_MESH, IMAGE_FILE, *HEAT_FILES, *STRESS_FILES, *CAD_FILES, *MODE_FILES,
                    CHECKPOINT}
