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
from PIL import Image, ImageOps

from minimaker.kernel.errors import GenerationFailed, ValidationFailed

# Inclusive bounds; each one keeps the result printable and the computation bounded.
_FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "width_mm": (5.0, 1000.0),
    "base_mm": (0.2, 50.0),
    "max_relief_mm": (0.1, 100.0),
}
_INT_BOUNDS: dict[str, tuple[int, int]] = {"max_resolution": (2, 2048)}

_WHITE = (255, 255, 255, 255)
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


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
        for name, (low, high) in _FLOAT_BOUNDS.items():
            value = getattr(self, name)
            # bool is an int subclass, but True is never meant as a length
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationFailed(name, "must be a number")
            if not low <= value <= high:  # also rejects NaN
                raise ValidationFailed(name, f"must be between {low:g} and {high:g}")
            object.__setattr__(self, name, float(value))
        for name, (low, high) in _INT_BOUNDS.items():
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
    luminance = _luminance_grid(image, params.max_resolution)
    fraction = luminance / 255.0
    if params.lithophane:
        fraction = 1.0 - fraction
    heights = params.base_mm + fraction * params.max_relief_mm
    vertices, faces = _closed_grid_mesh(heights, params.width_mm)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    _verify_closed(mesh)
    return mesh


# --- photo -> luminance samples -----------------------------------------------------------


def _luminance_grid(image: Image.Image, max_resolution: int) -> NDArray[np.float64]:
    """Upright luminance in [0, 255], at most max_resolution along its longer side, >= 2x2."""
    try:
        upright = ImageOps.exif_transpose(image)
        grey = _to_grey(upright)
    except OSError as exc:  # truncated or corrupt pixel data surfaces only on decode
        raise GenerationFailed("the image data could not be decoded") from exc
    grey = _fit(grey, max_resolution)
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
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("L")
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
    longer = max(width, height)
    if longer > max_resolution:
        scale = max_resolution / longer
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # an area average in float: no ringing halos (which would print as ridges) and no
        # 8-bit terracing of smooth gradients
        grey = grey.convert("F").resize(size, Image.Resampling.BOX)
    if min(grey.size) < 2:
        # a grid needs two samples per side; repeating the one pixel keeps the photo's look
        grey = grey.resize((max(2, grey.width), max(2, grey.height)), Image.Resampling.NEAREST)
    return grey


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

    faces = np.concatenate([_top_faces(rows, cols), _wall_and_bottom_faces(ring, n_top)], axis=0)
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


def _top_faces(rows: int, cols: int) -> NDArray[np.int64]:
    """Two +Z-facing triangles per grid cell."""
    index = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    a = index[:-1, :-1].ravel()  # a b   <- row i (larger y)
    b = a + 1  #                     c d   <- row i + 1
    c = a + cols
    d = c + 1
    return np.stack([a, c, b, b, c, d], axis=1).reshape(-1, 3)


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
    starts = faces.ravel()
    ends = np.empty_like(faces)  # each face's vertices shifted by one; slices beat take()
    ends[:, :2] = faces[:, 1:]
    ends[:, 2] = faces[:, 0]
    ends = ends.ravel()
    # in-place arithmetic: at 1024 x 1024 each temporary is 6M int64
    keys = np.minimum(starts, ends)
    keys *= n_vertices  # n_vertices**2 * 2 stays far inside int64
    keys += np.maximum(starts, ends)
    keys *= 2
    keys += starts > ends
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
    i, j, k = faces.T
    twice_projected_area = (x[j] - x[i]) * (y[k] - y[i]) - (x[k] - x[i]) * (y[j] - y[i])
    return float(np.dot(twice_projected_area, z[i] + z[j] + z[k]) / 6.0)
