"""Figurine: the subject cut along its silhouette, inflated front and back, standing on a base.

The solid is the zero level of one field on a voxel grid, meshed by marching cubes
(scikit-image): the inflated silhouette and the base are each a field, their union is the
larger of the two, so the result is one closed body by construction (no mesh booleans).

Printable without supports, standing as it is shown (Z up):
- the silhouette is made solid below its upper outline (each column filled from its highest
  cell down to the base: no overhang, and every piece stands on the base, so a head parted
  from its body by a dark collar stands on a neck) and opened by a disk of MIN_THICKNESS_MM,
  so no arm or strand is thinner;
- front and back rise from the outline with a slope of at most 1 (half_thickness below), so
  no face overhangs by more than 45 degrees; at the outline the body is MIN_THICKNESS_MM thick;
- the base spans the whole figure, so its centre of mass lies over the footprint.
The grid is at most rules.FIGURE_SIDE cells along the silhouette's longer side: bounded memory
(a few MB of field) and time, whatever the photo.
"""

from __future__ import annotations

import math
from functools import reduce

import cv2
import numpy as np
import trimesh
from numpy.typing import NDArray
from skimage.measure import marching_cubes

from minimaker.generation.bas_relief import edge_preserving_base, inside_distance
from minimaker.generation.grid_mesh import MAX_LENGTH_MM, verify_closed
from minimaker.generation.rules import FIGURE_SIDE
from minimaker.generation.subject import centre_ellipse
from minimaker.kernel.errors import GenerationFailed

#: Thinnest wall or feature anywhere in the figurine (FDM with a 0.4 mm nozzle: 3 lines).
MIN_THICKNESS_MM = 1.2
#: The base: at least this thick (base_mm if more), and this deep (front to back) or 30 % of
#: the figure's height.
BASE_MM, BASE_DEPTH_MM = 2.0, 12.0
#: Relief detail on the front, at most (it fades out towards the outline).
DETAIL_MM = 0.6
#: No sample of the field lies closer to the surface than this (mm): the surface moves by less.
OFF_LEVEL_MM = 1e-4


def figurine_mesh(
    luminance: NDArray[np.float64],
    mask: NDArray[np.bool_],
    width_mm: float,
    bulge_mm: float,
    base_mm: float = BASE_MM,
) -> trimesh.Trimesh:
    """A watertight single-body figurine, width_mm wide (base included), Z up, on z = 0,
    on a base max(base_mm, BASE_MM) thick."""
    grey, shape = printable_silhouette(luminance, mask, width_mm)
    rows, cols = shape.shape
    margin = _margin(cols)
    cell = width_mm / (cols + 2 * margin)
    if (rows + 4) * cell > MAX_LENGTH_MM:
        raise GenerationFailed(
            f"the figurine would be {(rows + 4) * cell:.0f} mm tall "
            f"(limit {MAX_LENGTH_MM:.0f} mm); choose a smaller width"
        )
    front, back = _faces(grey, shape, cell, bulge_mm)
    field, spacing = _field(shape, (front, back), cell, margin, max(base_mm, BASE_MM))
    mesh = closed_surface(field, spacing)
    mesh.apply_translation(-mesh.bounds[0])
    verify_closed(mesh)
    return mesh


def closed_surface(
    field: NDArray[np.float32], spacing: tuple[float, float, float]
) -> trimesh.Trimesh:
    """The surface where `field` (negative on its border) crosses 0, by marching cubes: closed,
    wound outwards. Samples within OFF_LEVEL_MM of 0 are moved just outside, in place."""
    # A sample exactly on the level gives marching cubes several vertices at one point, the
    # corners of zero-area faces; merged, they pinched the surface into edges of four faces
    # ("the mesh is not closed": a 300 x 200 photo at grid 256, 5 of 300 random silhouettes).
    field[np.abs(field) < OFF_LEVEL_MM] = -OFF_LEVEL_MM
    if not field.max() > 0:
        raise GenerationFailed("the figurine has nothing to mesh")
    vertices, faces, _, _ = marching_cubes(field, level=0.0, spacing=spacing)  # type: ignore[no-untyped-call]
    # Not processed: marching cubes already shares each vertex between the faces about it, and
    # no two vertices can coincide now, so a vertex merge could only ever fuse what must stay
    # apart.
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def front_heights(
    luminance: NDArray[np.float64], mask: NDArray[np.bool_], width_mm: float, bulge_mm: float
) -> NDArray[np.float64]:
    """The front's distance from the figurine's middle plane on the photo's grid (0 outside):
    what a viewer in front sees, for previews."""
    cell = width_mm / mask.shape[1]
    front, _ = _faces(luminance / 255.0, mask, cell, bulge_mm)
    return np.where(mask, front, 0.0)


def printable_silhouette(
    luminance: NDArray[np.float64], mask: NDArray[np.bool_], width_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The silhouette on at most FIGURE_SIDE cells, cropped to it, solid below its upper
    outline and without parts thinner than MIN_THICKNESS_MM; with its brightness in [0, 1]."""
    rows, cols = mask.shape
    scale = min(1.0, FIGURE_SIDE / max(rows, cols))
    size = (max(2, round(cols * scale)), max(2, round(rows * scale)))
    # resized before any arithmetic: no full-grid float temporaries (a 2048 grid is 4 M)
    grey = np.asarray(
        cv2.resize(luminance.astype(np.float32), size, interpolation=cv2.INTER_AREA),
        dtype=np.float32,
    )
    grey /= 255.0
    small = cv2.resize(mask.view(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 127
    if not small.any():
        small = centre_ellipse(size[1], size[0], 0.45, 0.45)
    grey, small = _cropped(grey, small)
    # the cell only grows as the crop narrows below, so this radius is enough
    cell = width_mm / (small.shape[1] + 2 * _margin(small.shape[1]))
    radius = max(1, math.ceil(MIN_THICKNESS_MM / 2 / cell))
    shape = _filled_below(_opened(_filled_below(_without_specks(small)), radius))
    if not shape.any():
        shape = _filled_below(centre_ellipse(small.shape[0], small.shape[1], 0.45, 0.45))
    grey, shape = _cropped(grey, shape)
    return np.asarray(grey, dtype=np.float64), shape


def _cropped(
    grey: NDArray[np.float32], mask: NDArray[np.bool_]
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    ys, xs = np.nonzero(mask)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return grey[crop], mask[crop]


def _margin(cols: int) -> int:
    """Cells the base reaches beyond the figure on each side."""
    return max(2, round(0.04 * cols))


def _without_specks(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The pieces of at least 2 % of the silhouette (a head parted from its body by a dark
    collar stays; crumbs would each become a pillar)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    areas = np.asarray(stats[1:, cv2.CC_STAT_AREA])
    keep = 1 + np.nonzero(areas >= 0.02 * max(1, int(areas.sum())))[0]
    kept: NDArray[np.bool_] = np.isin(labels, keep) if count > 1 else np.zeros_like(mask)
    return kept


def _filled_below(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Each column solid from its highest cell down: no overhang at all, every piece standing
    on the base (a head on a neck as wide as itself), no holes."""
    filled: NDArray[np.bool_] = np.logical_or.accumulate(mask, axis=0)
    return filled


def _opened(mask: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """Opened by a disk of `radius` cells: no part thinner than it is left."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    opened: NDArray[np.bool_] = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    return opened


def half_thickness(distance_mm: NDArray[np.float64], bulge_mm: float) -> NDArray[np.float64]:
    """Front (or back) height over the middle plane at a distance inside the outline:
    MIN_THICKNESS_MM / 2 at the outline, rising with slope <= 1 towards + bulge_mm."""
    inside = np.maximum(distance_mm, 0.0)
    return MIN_THICKNESS_MM / 2 + bulge_mm * (1.0 - np.exp(-inside / bulge_mm))


def _faces(
    grey: NDArray[np.float64], mask: NDArray[np.bool_], cell: float, bulge_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Front and back heights in mm over the cells: the back smooth, the front with detail."""
    distance = np.maximum(inside_distance(mask) - 0.5, 0.0) * cell
    back = half_thickness(distance, bulge_mm)
    g = grey.astype(np.float32)
    detail = cv2.GaussianBlur(g - edge_preserving_base(g), (0, 0), 1.5)
    spread = float(np.percentile(np.abs(detail[mask]), 95)) + 1e-3 if mask.any() else 1.0
    amplitude = min(DETAIL_MM, 0.5 * bulge_mm) * (back - MIN_THICKNESS_MM / 2) / bulge_mm
    return back + amplitude * np.tanh(detail / spread), back


def _signed_distance(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Cells to the outline, positive inside, the outline halfway between cells."""
    inside = inside_distance(mask)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.where(mask, inside - 0.5, 0.5 - outside)


def _field(
    shape: NDArray[np.bool_],
    faces: tuple[NDArray[np.float64], NDArray[np.float64]],
    cell: float,
    margin: int,
    base_mm: float,
) -> tuple[NDArray[np.float32], tuple[float, float, float]]:
    """The solid's field on voxels [x, y, z], > 0 inside, and the voxel size (mm)."""
    front, back = faces
    rows, cols = shape.shape
    height_mm = rows * cell
    depth_mm = max(BASE_DEPTH_MM, 0.3 * height_mm, 2 * float(front.max()) + 4.0)
    base_cells = max(2, math.ceil(base_mm / cell))
    dy = cell / 2  # finer across: the thinnest walls get several voxels
    # odd, so that the middle plane y = 0 is a layer of samples: the figure is inside there
    # wherever its silhouette is, however thin. Between two layers, a figure thinner than dy
    # (large cells: a small photo made wide, or a low bulge) fell through: a base alone, or
    # a base and loose pieces.
    ny = 2 * math.ceil(depth_mm / dy / 2) + 5
    nx, nz = cols + 2 * margin + 4, rows + base_cells + 4
    # float32 throughout: each voxel-sized temporary is 4 bytes a voxel (a few MB)
    f32 = np.float32
    x = (np.arange(nx, dtype=f32) - 2 - margin)[:, None, None]  # cells from the left column
    y = ((np.arange(ny, dtype=f32) - (ny - 1) / 2) * f32(dy))[None, :, None]  # mm off middle
    z = (np.arange(nz, dtype=f32) - 2 - base_cells)[None, None, :]  # cells above the base
    # the silhouette's rows, flipped so that z grows upwards; outside the figure it is empty
    sd = np.full((nx, nz), -1e3, dtype=f32)
    sd_fig = _signed_distance(shape)[::-1].T * cell
    fx = slice(2 + margin, 2 + margin + cols)
    fz = slice(2 + base_cells, 2 + base_cells + rows)
    sd[fx, fz] = sd_fig
    top, bottom = np.zeros((nx, nz), dtype=f32), np.zeros((nx, nz), dtype=f32)
    top[fx, fz], bottom[fx, fz] = front[::-1].T, back[::-1].T
    figure = np.minimum(sd[:, None, :], np.minimum(top[:, None, :] - y, bottom[:, None, :] + y))
    base = _box(x, y, z, ((-margin - 0.5, cols - 0.5 + margin), depth_mm, base_cells), cell)
    field = np.maximum(figure, base, dtype=f32)
    field[[0, -1], :, :], field[:, [0, -1], :], field[:, :, [0, -1]] = -1.0, -1.0, -1.0
    return field, (cell, dy, cell)


def _box(
    x: NDArray[np.float32],
    y: NDArray[np.float32],
    z: NDArray[np.float32],
    size: tuple[tuple[float, float], float, int],
    cell: float,
) -> NDArray[np.float32]:
    """The base's field: from x0 to x1 (cells), depth_mm deep about y = 0, from base_cells
    under the figure to half a cell into it (so the two overlap and merge)."""
    (x0, x1), depth_mm, base_cells = size
    c = np.float32(cell)
    sides = [
        (x - x0) * c,
        (x1 - x) * c,
        np.float32(depth_mm / 2) - np.abs(y),
        (z + base_cells - 0.5) * c,
        (0.5 - z) * c,
    ]
    return np.asarray(reduce(np.minimum, sides), dtype=np.float32)
