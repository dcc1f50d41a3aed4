"""Heights -> closed mesh: the solid under a grid of heights, and the cheap checks of it.

Coordinates are millimetres. Looking down from +Z the model reads like the photo: grid
column 0 lies at x = 0 and grid row 0 at the largest y. The mesh is built in one vectorised
pass: a top grid of height samples, a flat bottom at z = 0 and four walls stitched to the
top's border vertices, all wound outward.
"""

from __future__ import annotations

import numpy as np
import trimesh
from numpy.typing import NDArray

from minimaker.kernel.errors import GenerationFailed

#: Faces per block when summing the volume.
_VOLUME_BLOCK = 1 << 18
#: Longest model side along y we make; the x side is bounded by width_mm's own limit.
MAX_LENGTH_MM = 1000.0


def mesh_from_heights(heights: NDArray[np.float64], width_mm: float) -> trimesh.Trimesh:
    """A (rows, cols) grid of heights in mm, all > 0 -> the watertight solid under it."""
    vertices, faces = _closed_grid_mesh(heights, width_mm)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    verify_closed(mesh)
    return mesh


def _closed_grid_mesh(
    heights: NDArray[np.float64], width_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Vertices and outward-wound faces of the solid under a (rows, cols) height grid."""
    rows, cols = heights.shape
    spacing = width_mm / (cols - 1)
    length_mm = (rows - 1) * spacing
    if length_mm > MAX_LENGTH_MM:
        # A sliver of a photo at a printable width would make a model metres long.
        raise GenerationFailed(
            f"the model would be {length_mm:.0f} mm long (limit {MAX_LENGTH_MM:.0f} mm); "
            "choose a smaller width or a less elongated photo"
        )
    ring = _border_ring(rows, cols)
    n_top, n_ring = rows * cols, ring.size

    vertices = np.empty((n_top + n_ring + 1, 3), dtype=np.float64)
    top = vertices[:n_top].reshape(rows, cols, 3)
    top[..., 0] = np.linspace(0.0, width_mm, cols)[np.newaxis, :]
    top[..., 1] = ((rows - 1 - np.arange(rows)) * spacing)[:, np.newaxis]  # row 0 at max y
    top[..., 2] = heights
    vertices[n_top : n_top + n_ring, :2] = vertices[ring, :2]
    vertices[n_top : n_top + n_ring, 2] = 0.0
    # the bottom is a fan from its centre: the ring has collinear runs on every side, so a
    # fan from any ring vertex would make zero-area triangles
    vertices[-1] = (width_mm / 2.0, (rows - 1) * spacing / 2.0, 0.0)

    # One array, filled in place: stacking and concatenating the parts copied the faces
    # twice (the largest allocations of a build, 58 MB each at the largest allowed model).
    n_cells = (rows - 1) * (cols - 1)
    faces = np.empty((2 * n_cells + 3 * n_ring, 3), dtype=np.int64)
    _fill_top_faces(faces[: 2 * n_cells], rows, cols)
    faces[2 * n_cells :] = _wall_and_bottom_faces(ring, n_top)
    return vertices, faces


def _border_ring(rows: int, cols: int) -> NDArray[np.int64]:
    """Top-grid indices of the border, counter-clockwise seen from +Z, each corner once."""
    index = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    return np.concatenate(
        [
            index[-1, :-1],  # front edge (min y), left to right
            index[:0:-1, -1],  # right edge, front to back
            index[0, :0:-1],  # back edge (max y), right to left
            index[:-1, 0],  # left edge, back to front
        ]
    )


def _fill_top_faces(out: NDArray[np.int64], rows: int, cols: int) -> None:
    """Two +Z-facing triangles per grid cell, (a, c, b) and (b, c, d), written into `out`."""
    index = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    cells = out.reshape(rows - 1, cols - 1, 6)
    a = index[:-1, :-1]  # a b   <- row i (larger y)
    cells[..., 0] = a  #   c d   <- row i + 1
    cells[..., 1] = a + cols
    cells[..., 2] = a + 1
    cells[..., 3] = a + 1
    cells[..., 4] = a + cols
    cells[..., 5] = a + cols + 1


def _wall_and_bottom_faces(ring: NDArray[np.int64], n_top: int) -> NDArray[np.int64]:
    """Walls from the top's border down to a copy of it at z = 0, then the bottom fan."""
    n_ring = ring.size
    top0, top1 = ring, np.roll(ring, -1)
    bottom0 = n_top + np.arange(n_ring, dtype=np.int64)
    bottom1 = np.roll(bottom0, -1)
    centre = np.full(n_ring, n_top + n_ring, dtype=np.int64)
    # the ring runs counter-clockwise from above, so outward is to the right of travel
    walls = np.stack([bottom0, bottom1, top1, bottom0, top1, top0], axis=1).reshape(-1, 3)
    bottom = np.stack([centre, bottom1, bottom0], axis=1)
    return np.concatenate([walls, bottom], axis=0)


def verify_closed(mesh: trimesh.Trimesh) -> None:
    """Raise GenerationFailed unless the mesh is a closed, outward-wound, finite solid."""
    vertices, faces = mesh.vertices, mesh.faces
    if not np.isfinite(vertices).all():
        raise GenerationFailed("the height map contains invalid values")
    # trimesh's is_watertight / volume take about 2 s each at 1024 x 1024 (they group rows
    # and compute full mass properties); the numpy checks below decide the same in ~0.4 s
    if not _edges_pair_up_reversed(faces, len(vertices)):
        raise GenerationFailed("the mesh is not closed")
    if not _signed_volume(vertices, faces) > 0:
        raise GenerationFailed("the mesh has no positive volume")


def _edges_pair_up_reversed(faces: NDArray[np.int64], n_vertices: int) -> bool:
    """True iff every edge is in exactly two faces, once in each direction.

    That is trimesh's is_watertight and is_winding_consistent together: each directed edge
    gets the key (undirected edge id, direction bit); sorted, the keys must form the pairs
    (2e, 2e + 1) with no undirected edge id repeated.
    """
    # Built one face corner at a time into one int64 array: no 3F-sized temporaries beside
    # it (each was 58 MB at the largest allowed model).
    n_faces = len(faces)
    keys = np.empty(3 * n_faces, dtype=np.int64)
    for corner in range(3):
        starts, ends = faces[:, corner], faces[:, (corner + 1) % 3]
        key = keys[corner::3]  # a view: the directed edges of face f stay together
        np.minimum(starts, ends, out=key)
        key *= n_vertices  # n_vertices**2 * 2 stays far inside int64
        key += np.maximum(starts, ends)
        key *= 2
        key += starts > ends
    # the faces come in grid order, so the keys hold long sorted runs that timsort exploits
    keys.sort(kind="stable")
    if keys.size == 0 or keys.size % 2:
        return False
    pairs = keys.reshape(-1, 2)
    # a degenerate edge (start == end) has no reversed twin, so it fails the first test
    return bool(np.all(pairs[:, 0] ^ pairs[:, 1] == 1) and np.all(pairs[1:, 0] > pairs[:-1, 1]))


def _signed_volume(vertices: NDArray[np.float64], faces: NDArray[np.int64]) -> float:
    """Enclosed volume by the divergence theorem with the field (0, 0, z); > 0 if wound out."""
    x, y, z = vertices.T
    total = 0.0
    for start in range(0, len(faces), _VOLUME_BLOCK):  # bounded temporaries, not 8 x F floats
        i, j, k = faces[start : start + _VOLUME_BLOCK].T
        twice_projected_area = (x[j] - x[i]) * (y[k] - y[i]) - (x[k] - x[i]) * (y[j] - y[i])
        total += float(np.dot(twice_projected_area, z[i] + z[j] + z[k]))
    return total / 6.0
