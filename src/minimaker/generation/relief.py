"""Photo -> closed relief mesh: brightness becomes height above a solid base.

Coordinates are millimetres. Looking down from +Z the model reads like the photo: image
column 0 lies at x = 0 and image row 0 at the largest y. The mesh is built in one vectorised
pass: a top grid of height samples, a flat bottom at z = 0 and four walls stitched to the
top's border vertices, all wound outward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image

from minimaker.generation.rules import grid_size, scaled_size
from minimaker.kernel.errors import GenerationFailed, ValidationFailed

# Inclusive bounds; each one keeps the result printable and the computation bounded.
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "width_mm": (5.0, 1000.0),
    "base_mm": (0.2, 50.0),
    "max_relief_mm": (0.1, 100.0),
}
INT_BOUNDS: dict[str, tuple[int, int]] = {"max_resolution": (2, 2048)}

_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
#: EXIF orientation -> the turn that shows the photo upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Faces per block when summing the volume.
_VOLUME_BLOCK = 1 << 18
#: Source pixels converted to float at once while downsampling (4 bytes each: 8 MB).
_STRIP_PIXELS = 2 * 1024 * 1024


#: Longest model side along y we make; the x side is bounded by width_mm's own limit.
MAX_LENGTH_MM = 1000.0


@dataclass(frozen=True)
class ReliefParams:
    """How a photo becomes a relief; invalid values raise ValidationFailed on construction."""

    width_mm: float = 100.0  # model extent along x (image columns)
    base_mm: float = 2.0  # solid base under the relief
    max_relief_mm: float = 3.0  # height added at full brightness (full darkness if lithophane)
    max_resolution: int = 512  # cap on grid samples along the longer image side
    lithophane: bool = False  # dark -> thick, for backlit prints

    def __post_init__(self) -> None:
        for name, (low, high) in FLOAT_BOUNDS.items():
            value = getattr(self, name)
            # bool is an int subclass, but True is never meant as a length
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationFailed(name, "must be a number")
            if not low <= value <= high:  # also rejects NaN
                raise ValidationFailed(name, f"must be between {low:g} and {high:g}")
            object.__setattr__(self, name, float(value))
        for name, (low, high) in INT_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationFailed(name, "must be an integer")
            if not low <= value <= high:
                raise ValidationFailed(name, f"must be between {low} and {high}")
        if not isinstance(self.lithophane, bool):
            raise ValidationFailed("lithophane", "must be true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ReliefParams:
        """Strictly build params from untrusted input: unknown keys or wrong types are refused."""
        known = {f.name for f in fields(cls)}
        unknown = [key for key in data if key not in known]
        if unknown:
            # the keys themselves are caller input, so they are counted, never echoed
            raise ValidationFailed(
                "params",
                f"{len(unknown)} unknown parameter(s); allowed: {', '.join(sorted(known))}",
            )
        return cls(**data)  # type: ignore[arg-type]  # __post_init__ checks every type

    def to_dict(self) -> dict[str, float | int | bool]:
        """Plain JSON-ready values; from_mapping(to_dict()) gives back equal params."""
        return asdict(self)


def relief_from_image(image: Image.Image, params: ReliefParams) -> trimesh.Trimesh:
    """Photo -> watertight relief mesh, upright as the photo's EXIF orientation says."""
    return relief_from_luminance(luminance_grid(image, params.max_resolution), params)


def relief_from_luminance(luminance: NDArray[np.float64], params: ReliefParams) -> trimesh.Trimesh:
    """Upright luminance samples in [0, 255] -> watertight relief mesh."""
    fraction = luminance / 255.0
    if params.lithophane:
        fraction = 1.0 - fraction
    heights = params.base_mm + fraction * params.max_relief_mm
    vertices, faces = _closed_grid_mesh(heights, params.width_mm)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    _verify_closed(mesh)
    return mesh


# --- photo -> luminance samples -----------------------------------------------------------


def luminance_grid(image: Image.Image, max_resolution: int) -> NDArray[np.float64]:
    """Upright luminance in [0, 255], at most max_resolution along its longer side, >= 2x2."""
    try:
        turn = _UPRIGHT.get(image.getexif().get(0x0112, 1))
        grey = _to_grey(image)
    except OSError as exc:  # truncated or corrupt pixel data surfaces only on decode
        raise GenerationFailed("the image data could not be decoded") from exc
    # Turned after downsampling, not before: a box average commutes with quarter turns and
    # flips, and turning the small grid costs nothing where the full photo cost a copy.
    grey = _fit(grey, max_resolution)
    if turn is not None:
        grey = grey.transpose(turn)
    return np.asarray(grey, dtype=np.float64)


def _to_grey(image: Image.Image) -> Image.Image:
    """One channel, "L" or "F", on the 0..255 scale; transparency is composited on white."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit greys (PNG and TIFF decode as I;16, 16-bit PGM as I) keep their precision
        samples = np.clip(np.asarray(image, dtype=np.float32), 0.0, 65535.0)
        return Image.fromarray(samples * np.float32(255.0 / 65535.0))
    if mode == "F":
        samples = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        return Image.fromarray(np.clip(samples, 0.0, 255.0))
    if mode in _ALPHA_MODES or "transparency" in image.info:
        # Pillow converts premultiplied La only to LA, not straight to RGBA
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")
        # Composited in one band (grey over white by alpha), not as RGBA over an RGBA white:
        # three 1-byte images instead of three 4-byte ones; the grey is linear in R, G, B.
        grey, alpha = rgba.convert("L"), rgba.getchannel("A")
        del rgba
        return Image.composite(grey, Image.new("L", grey.size, 255), alpha)
    if mode == "L":
        return image
    if mode == "LAB":
        return image.getchannel("L")  # lightness already; Pillow cannot convert LAB to RGB
    try:
        return image.convert("L")
    except ValueError as exc:
        raise GenerationFailed(f"images in colour mode {mode} are not supported") from exc


def _fit(grey: Image.Image, max_resolution: int) -> Image.Image:
    """Box-downsample so the longer side is <= max_resolution; stretch 1-pixel sides to 2."""
    width, height = grey.size
    if max(width, height) > max_resolution:
        # an area average in float: no ringing halos (which would print as ridges) and no
        # 8-bit terracing of smooth gradients
        grey = _box_downsample(grey, scaled_size(width, height, max_resolution))
    # the grid rules.grid_size promises (the output cap is checked from it beforehand); a
    # grid needs two samples per side, and repeating the one pixel keeps the photo's look
    grid = grid_size(width, height, max_resolution)
    if grey.size != grid:
        grey = grey.resize(grid, Image.Resampling.NEAREST)
    return grey


def _box_downsample(grey: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Area-average `grey` to `size` in float, a strip of rows at a time.

    Converting the whole photo to float first took 4 bytes a pixel (134 MB for 33 MP) on top
    of the decoded photo; each output strip reads exactly its source rows (fractional edges
    weighted as Pillow's box filter weights them), so the result is the same.
    """
    width, height = grey.size
    out_w, out_h = size
    scale = height / out_h
    rows_per_strip = max(1, int(_STRIP_PIXELS // (width * max(scale, 1.0))))
    out = Image.new("F", size)
    for first in range(0, out_h, rows_per_strip):
        last = min(out_h, first + rows_per_strip)
        top_f, bottom_f = first * scale, last * scale
        top, bottom = int(np.floor(top_f)), min(height, int(np.ceil(bottom_f)))
        strip = grey.crop((0, top, width, bottom)).convert("F")
        box = (0.0, top_f - top, float(width), bottom_f - top)
        out.paste(strip.resize((out_w, last - first), Image.Resampling.BOX, box=box), (0, first))
    return out


# --- heights -> closed mesh ---------------------------------------------------------------


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


def _verify_closed(mesh: trimesh.Trimesh) -> None:
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
