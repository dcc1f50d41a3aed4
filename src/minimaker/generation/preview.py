"""Previews drawn on the server with NumPy and Pillow: shaded height fields, back-lit prints.

- shaded: Lambert shading of a height field, lit from the upper left, as a grey PNG;
- backlit: a lithophane held against a light, the light through it falling off as
  exp(-k * thickness) (bas_relief.ATTENUATION_PER_MM);
- a stored model is seen through its binary STL (millimetres, Z up, in every file this
  service ever wrote): its triangles are sampled into a depth buffer from above (reliefs,
  lithophanes) or from the front (figurines), one block at a time, so a preview takes a
  bounded amount of memory whatever the model's size.
The PNGs carry pixels only (Pillow writes no text chunks unless asked).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from minimaker.generation.rules import ATTENUATION_PER_MM
from minimaker.kernel.errors import GenerationFailed

#: Longest side of a preview, in pixels.
PREVIEW_SIDE = 384
_LIGHT = np.array([-1.0, 1.0, 1.6]) / np.linalg.norm([-1.0, 1.0, 1.6])
_AMBIENT = 0.18
_BACKGROUND = 255
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
_RECORDS_PER_BLOCK = 1 << 14


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
) -> tuple[NDArray[np.float64], NDArray[np.bool_], float]:
    """The stored STL's depth buffer: heights seen from above (view "top") or distances
    towards the viewer in front (view "front"); which pixels it covers; the pixel in mm.

    `open_stl` gives the file's blocks afresh: one pass finds the bounds, one draws."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for corners in _stl_corners(open_stl()):
        low, high = np.minimum(low, corners.min(axis=0)), np.maximum(high, corners.max(axis=0))
    if not np.isfinite(low).all():
        raise GenerationFailed("the model holds no triangles")
    across, down, toward = (0, 1, 2) if view == "top" else (0, 2, 1)
    extent = max(float(high[across] - low[across]), float(high[down] - low[down]), 1e-9)
    pixel = extent / (side - 1)
    cols = round((high[across] - low[across]) / pixel) + 1
    rows = round((high[down] - low[down]) / pixel) + 1
    depth = np.full(rows * cols, -np.inf)
    for corners in _stl_corners(open_stl(), samples_per_pixel=1.0 / pixel):
        col = np.clip(np.round((corners[:, across] - low[across]) / pixel), 0, cols - 1)
        row = np.clip(np.round((high[down] - corners[:, down]) / pixel), 0, rows - 1)
        at = (row * cols + col).astype(np.int64)
        np.maximum.at(depth, at, corners[:, toward])
    depth_map = depth.reshape(rows, cols)
    valid = np.isfinite(depth_map)
    return np.where(valid, depth_map, float(low[toward])), valid, pixel


def _stl_corners(
    blocks: Iterable[bytes], samples_per_pixel: float = 0.0
) -> Iterator[NDArray[np.float64]]:
    """Points of a binary STL's triangles, a block at a time: their corners, and with
    samples_per_pixel (1 / pixel size) enough points inside each triangle to cover it."""
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
                yield _covering(triangles.astype(np.float64), samples_per_pixel)
    if header_left or pending:
        raise GenerationFailed("the stored model is not a whole binary STL")


def _covering(triangles: NDArray[np.float64], samples_per_pixel: float) -> NDArray[np.float64]:
    """Barycentric samples of each triangle, as many a side as it spans pixels (1 to 8)."""
    if samples_per_pixel <= 0:
        return np.asarray(triangles.reshape(-1, 3), dtype=np.float64)
    edges = np.linalg.norm(triangles - np.roll(triangles, 1, axis=1), axis=2).max(axis=1)
    steps = int(np.clip(np.ceil(float(edges.max(initial=0.0)) * samples_per_pixel), 1, 8))
    i, j = np.meshgrid(np.arange(steps + 1), np.arange(steps + 1), indexing="ij")
    keep = i + j <= steps
    a, b = i[keep] / steps, j[keep] / steps
    weights = np.stack([1.0 - a - b, a, b], axis=1)  # (samples, 3)
    points = np.einsum("sk,tkc->tsc", weights, triangles).reshape(-1, 3)
    return np.asarray(points, dtype=np.float64)
