"""``density.vti`` of a large 3D grid: a VTK ImageData file instead of density.vtu.

A grid needs no points or cells in the file: ImageData stores its extent, origin and
spacing, and then only the data, here float32 in one raw appended block (ParaView opens
it). At 10⁷ elements that is about 0.2 GB for ρ, x, the von Mises stress and u, against
a VTU's points, connectivity, offsets and types (about 1.4 GB, written through a meshio
mesh that holds them all in memory at once).

The rule (:func:`femopt.output.files.writes_image`): a structured 3D grid of more than
MAX_VTU_ELEMENTS (200,000) elements writes density.vti; smaller grids and every other
mesh keep density.vtu.

Every array is written a z-layer at a time (ImageData runs x fastest, then y, then z;
femopt's grids run y fastest, then x, then z), so nothing of full size is built beyond
what the caller passes; the von Mises stress is computed a layer at a time too, from
slices of the nodal displacements (no (n_elements, 24) DOF table).
"""

from __future__ import annotations

import numpy as np

from femopt.mesh.structured import _CORNERS_3D
from femopt.responses.stress import CentreStress, von_mises_form


def write_vti(path, mesh, rho: np.ndarray, x: np.ndarray, u: np.ndarray,
              material: tuple[float, float] | None = None, point_field: str = "u",
              cells: dict | None = None) -> None:
    """Write the 3D grid ``mesh`` as ImageData with cell data rho, x (n_elements,), the
    point data u (n_nodes, 3) of the first load case of u (3 · n_nodes[, n_cases]) — or
    with point_field="temperature" the temperatures (n_nodes[, n_cases]) —, given
    ``material`` = (E, ν) the cell data von_mises of that case, and the extra cell data
    ``cells`` (name → (n_elements,)). The same fields as :func:`femopt.output.volume.write_vtu`,
    in float32."""
    nx, ny, nz = mesh.grid
    field_cells = {"rho": rho, "x": x}
    if point_field == "temperature":
        nodal = np.asarray(u, float).reshape(mesh.n_nodes, -1)[:, 0].reshape(nz + 1, nx + 1, ny + 1, 1)
    else:
        nodal = np.asarray(u, float).reshape(mesh.n_nodes * 3, -1)[:, 0].reshape(nz + 1, nx + 1, ny + 1, 3)
        if material is not None:
            field_cells["von_mises"] = _LayerStress(mesh, *material, nodal)
    field_cells.update(cells or {})

    arrays = [(point_field, nodal, nodal.shape[3], "PointData")]
    arrays += [(name, values, 1, "CellData") for name, values in field_cells.items()]
    header, offset = [], 0
    for name, values, components, kind in arrays:
        count = (nx + 1) * (ny + 1) * (nz + 1) if kind == "PointData" else nx * ny * nz
        header.append((kind, f'<DataArray type="Float32" Name="{name}" NumberOfComponents="{components}" '
                             f'format="appended" offset="{offset}"/>'))
        offset += 8 + 4 * components * count
    lower = mesh.bounds[0]
    extent = f"0 {nx} 0 {ny} 0 {nz}"
    xml = ['<?xml version="1.0"?>',
           '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
           f'<ImageData WholeExtent="{extent}" Origin="{" ".join(f"{v:.17g}" for v in lower)}" '
           f'Spacing="{" ".join(f"{v:.17g}" for v in mesh.element_size)}">',
           f'<Piece Extent="{extent}">']
    for kind in ("PointData", "CellData"):
        xml += [f"<{kind}>", *[line for k, line in header if k == kind], f"</{kind}>"]
    xml += ["</Piece>", "</ImageData>", '<AppendedData encoding="raw">']
    with open(path, "wb") as f:
        f.write(("\n".join(xml) + "\n_").encode())
        for name, values, components, kind in arrays:
            layers = nz + 1 if kind == "PointData" else nz
            f.write(np.uint64(4 * components * layers * _layer_size(mesh, kind)).tobytes())
            for k in range(layers):
                f.write(_layer(values, k, mesh, kind).astype("<f4").tobytes())
        f.write(b"\n</AppendedData>\n</VTKFile>\n")


def _layer_size(mesh, kind: str) -> int:
    nx, ny, _ = mesh.grid
    return (nx + 1) * (ny + 1) if kind == "PointData" else nx * ny


def _layer(values, k: int, mesh, kind: str) -> np.ndarray:
    """Layer z = k of ``values`` in ImageData's order: (y, x[, components]), x fastest."""
    nx, ny, _ = mesh.grid
    if kind == "PointData":
        return values[k].transpose(1, 0, 2)                      # (ny + 1, nx + 1, c)
    if isinstance(values, _LayerStress):
        return values.layer(k).reshape(nx, ny).T
    return np.asarray(values)[k * nx * ny:(k + 1) * nx * ny].reshape(nx, ny).T


class _LayerStress:
    """The solid's von Mises stress at the element centres of one z-layer at a time,
    from the nodal displacements (nz + 1, nx + 1, ny + 1, 3): the values of
    :func:`femopt.responses.stress.centre_von_mises` without its (n_elements, 24) DOF table."""

    def __init__(self, mesh, E: float, nu: float, nodal: np.ndarray):
        self.grid, self.nodal = mesh.grid, nodal
        nx, ny, _ = mesh.grid
        # One layer's element DOFs would do as well, but the grid's matrix is all we need.
        self.S = CentreStress(mesh, E, nu, np.zeros((0, 24), int)).matrices   # (6, 24)
        self.V = von_mises_form(3)

    def layer(self, k: int) -> np.ndarray:
        """(nx · ny,) the von Mises stress of layer k's elements, y fastest."""
        nx, ny, _ = self.grid
        # u_e (nx, ny, 8 corners, 3): corner (i, j, k) offsets of the local order, node-major DOFs.
        u_e = np.stack([self.nodal[k + ck, ci:ci + nx, cj:cj + ny] for ci, cj, ck in _CORNERS_3D], axis=2)
        s = u_e.reshape(nx * ny, 24) @ self.S.T                   # (nx · ny, 6)
        return np.sqrt(np.maximum(np.einsum("ev,vw,ew->e", s, self.V, s), 0.0))
