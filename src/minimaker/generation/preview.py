"""Previews drawn on the server with NumPy and Pillow: shaded height fields, back-lit prints.

- shaded: Lambert shading of a height field, lit from the upper left, as a grey PNG;
- backlit: a lithophane held against a light, the light through it falling off as
  exp(-k * thickness) (bas_relief.ATTENUATION_PER_MM);
- a stored model is seen through its binary STL (millimetres, Z up, in every file this
  service ever wrote): its triangles are sampled into a depth buffer from above (reliefs,
  lithophanes) or from the front (figurines), one block at a time, so a preview takes a
  bounded amount of memory whatever the model's size; a model just made is seen the same
  way straight from its mesh (`model_pngs`: the previews stored with it).
The PNGs carry pixels only (Pillow writes no text chunks unless asked).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from minimaker.generation.export import Mesh
from minimaker.generation.rules import ATTENUATION_PER_MM, preview_views
from minimaker.kernel.errors import GenerationFailed

#: Longest side of a preview, in pixels.
PREVIEW_SIDE = 384
_LIGHT = np.array([-1.0, 1.0, 1.6]) / np.linalg.norm([-1.0, 1.0, 1.6])
_AMBIENT = 0.18
_BACKGROUND = 255
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
_RECORDS_PER_BLOCK = 1 << 14
_MAX_STEPS = 8
#: A depth buffer: depths (mm), the pixels the model covers, the pixel's size (mm).
DepthMap = tuple[NDArray[np.float64], NDArray[np.bool_], float]


def shaded(
    heights: NDArray[np.float64], spacing_mm: float, valid: NDArray[np.bool_] | None = None
) -> Image.Image:
    """A grey image of the height field (row 0 at the back), lit from the upper left."""
    d_row, d_col = np.gradient(heights, spacing_mm)
    # rows run towards -y, so the slope along y is minus the slope along the rows
    normals = np.stack([-d_col, d_row, np.ones_like(heights)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    light = _AMBIENT + (1.0 - _AMBIENT) * np.clip(normals @ _LIGHT, 0.0, 1.0)
    grey = np.round(255.0 * light).astype(np.uint8)
    if valid is not None:
        grey[~valid] = _BACKGROUND
    return Image.fromarray(grey)


def backlit(
    thickness_mm: NDArray[np.float64], attenuation: float = ATTENUATION_PER_MM
) -> Image.Image:
    """A grey image of the light through a print of this thickness (brightest = white)."""
    light = transmitted(thickness_mm, attenuation)
    return Image.fromarray(
        np.round(255.0 * light / max(float(light.max()), 1e-12)).astype(np.uint8)
    )


def transmitted(thickness_mm: NDArray[np.float64], attenuation: float) -> NDArray[np.float64]:
    """The share of back light through each point: exp(-k * thickness)."""
    return np.exp(-attenuation * np.asarray(thickness_mm, dtype=np.float64))


def png(image: Image.Image) -> bytes:
    """The image as PNG bytes, nothing but its pixels."""
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def stl_depth_map(
    open_stl: Callable[[], Iterable[bytes]], view: str, side: int = PREVIEW_SIDE
) -> DepthMap:
    """The stored STL's depth buffer: heights seen from above (view "top") or distances
    towards the viewer in front (view "front"); which pixels it covers; the pixel in mm.

    `open_stl` gives the file's blocks afresh: one pass finds the bounds, one draws."""
    return _depth_map(lambda: _stl_triangles(open_stl()), view, side)


def mesh_depth_map(mesh: Mesh, view: str, side: int = PREVIEW_SIDE) -> DepthMap:
    """A mesh's depth buffer as its STL gives it (corners at the STL's float32), from memory."""
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True  # the corners' bounds, without a pass over the triangles
    # rounding to float32 keeps the order, so the rounded extremes are the extremes rounded
    low = vertices.min(axis=0, where=used[:, None], initial=np.inf)
    high = vertices.max(axis=0, where=used[:, None], initial=-np.inf)
    bounds = (_as_stl(low), _as_stl(high)) if used.any() else None
    return _depth_map(lambda: _mesh_triangles(mesh), view, side, bounds)


def camera(mode: str) -> str:
    """Where a model of `mode` is seen from: a figurine in front, the rest from above."""
    return "front" if mode == "figurine" else "top"


def draw(view: str, depth: DepthMap) -> bytes:
    """One view of a depth buffer as PNG bytes: shaded, or back-lit (its heights as thickness)."""
    heights, valid, pixel = depth
    if view == "backlit":
        return png(backlit(heights))
    return png(shaded(heights, pixel, valid))


def model_pngs(mesh: Mesh, mode: str) -> dict[str, bytes]:
    """Every preview a freshly made model of `mode` keeps (rules.preview_views), drawn from
    one depth buffer of the mesh."""
    depth = mesh_depth_map(mesh, camera(mode))
    return {view: draw(view, depth) for view in preview_views(mode)}


def _depth_map(
    open_triangles: Callable[[], Iterable[NDArray[np.float64]]],
    view: str,
    side: int,
    bounds: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> DepthMap:
    """Two passes over the triangles (n x 3 x 3, mm): the bounds (unless given: the lowest
    and highest corner), then the depth buffer."""
    low, high = bounds if bounds is not None else _bounds(open_triangles())
    if not np.isfinite(low).all():
        raise GenerationFailed("the model holds no triangles")
    across, down, toward = (0, 1, 2) if view == "top" else (0, 2, 1)
    extent = max(float(high[across] - low[across]), float(high[down] - low[down]), 1e-9)
    pixel = extent / (side - 1)
    cols = round((high[across] - low[across]) / pixel) + 1
    rows = round((high[down] - low[down]) / pixel) + 1
    depth = np.full(rows * cols, -np.inf)
    for triangles in open_triangles():
        corners = _covering(triangles, 1.0 / pixel)
        col = np.clip(np.round((corners[:, across] - low[across]) / pixel), 0, cols - 1)
        row = np.clip(np.round((high[down] - corners[:, down]) / pixel), 0, rows - 1)
        at = (row * cols + col).astype(np.int64)
        np.maximum.at(depth, at, corners[:, toward])
    depth_map = depth.reshape(rows, cols)
    valid = np.isfinite(depth_map)
    return np.where(valid, depth_map, float(low[toward])), valid, pixel


def _bounds(
    blocks: Iterable[NDArray[np.float64]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The lowest and highest corner of the triangles (infinite if there are none)."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for triangles in blocks:
        corners = triangles.reshape(-1, 3)
        low, high = np.minimum(low, corners.min(axis=0)), np.maximum(high, corners.max(axis=0))
    return low, high


def _mesh_triangles(mesh: Mesh) -> Iterator[NDArray[np.float64]]:
    """A mesh's triangles a block at a time, rounded to float32 as its STL stores them."""
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    for start in range(0, len(faces), _RECORDS_PER_BLOCK):
        yield _as_stl(vertices[faces[start : start + _RECORDS_PER_BLOCK]])


def _as_stl(values: NDArray[Any]) -> NDArray[np.float64]:
    """Coordinates as a binary STL holds them (float32), for arithmetic in float64."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _stl_triangles(blocks: Iterable[bytes]) -> Iterator[NDArray[np.float64]]:
    """A binary STL's triangles (n x 3 x 3), a block of records at a time."""
    pending = b""
    header_left = 84
    for block in blocks:
        pending += block
        if header_left:
            if len(pending) < header_left:
                continue
            pending, header_left = pending[header_left:], 0
        whole = len(pending) // _STL_RECORD.itemsize * _STL_RECORD.itemsize
        if whole:
            records = np.frombuffer(pending[:whole], dtype=_STL_RECORD)
            pending = pending[whole:]
            for start in range(0, len(records), _RECORDS_PER_BLOCK):
                triangles = records["corners"][start : start + _RECORDS_PER_BLOCK]
                yield triangles.astype(np.float64)
    if header_left or pending:
        raise GenerationFailed("the stored model is not a whole binary STL")


def _covering(triangles: NDArray[np.float64], samples_per_pixel: float) -> NDArray[np.float64]:
    """Barycentric samples of each triangle, as many a side as it spans pixels (1 to 8)."""
    edges = np.linalg.norm(triangles - np.roll(triangles, 1, axis=1), axis=2).max(axis=1)
    steps = np.clip(np.ceil(edges * samples_per_pixel), 1, _MAX_STEPS).astype(np.int64)
    # Each triangle by its own size: one long wall edge no longer samples a whole block
    # eight times a side (most triangles of a relief span less than a pixel: their corners).
    parts = [_samples(triangles[steps == n], int(n)) for n in np.unique(steps)]
    return np.concatenate(parts) if parts else np.empty((0, 3))


def _samples(triangles: NDArray[np.float64], steps: int) -> NDArray[np.float64]:
    """`steps` samples a side of each triangle (steps 1: its corners)."""
    if steps == 1:
        return triangles.reshape(-1, 3)
    i, j = np.meshgrid(np.arange(steps + 1), np.arange(steps + 1), indexing="ij")
    keep = i + j <= steps
    a, b = i[keep] / steps, j[keep] / steps
    weights = np.stack([1.0 - a - b, a, b], axis=1)  # (samples, 3)
    return np.asarray(np.matmul(weights, triangles).reshape(-1, 3), dtype=np.float64)
