"""Photo -> printable model: the parameters, the photo's samples, and the three modes.

- relief: the subject (subject.py) raised over a flattened background, its brightness
  compressed to a bas-relief with the fine detail kept (bas_relief.py), or the shape an
  operator's depth model sees (depth.py);
- lithophane: thickness from brightness, contrast stretched to the full thickness, so the
  light through the print gives back the photo;
- figurine: the subject cut along its silhouette, inflated, on a base (figurine.py).
Coordinates are millimetres, Z up; see grid_mesh.py for how a height grid lies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image

from minimaker.generation.grid_mesh import mesh_from_heights
from minimaker.generation.rules import MODES, grid_size, scaled_size
from minimaker.kernel.errors import GenerationFailed, ValidationFailed

if TYPE_CHECKING:
    from minimaker.generation.depth import DepthModel

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
#: Source pixels converted to float at once while downsampling (4 bytes each: 8 MB).
_STRIP_PIXELS = 2 * 1024 * 1024


@dataclass(frozen=True)
class ReliefParams:
    """How a photo becomes a relief; invalid values raise ValidationFailed on construction."""

    width_mm: float = 100.0  # model extent along x (image columns)
    base_mm: float = 2.0  # solid base under the relief
    max_relief_mm: float = 3.0  # relief height (lithophane: thickness range; figurine: bulge)
    max_resolution: int = 512  # cap on grid samples along the longer image side
    lithophane: bool = False  # the mode before modes: true means mode "lithophane"
    mode: str = ""  # relief | lithophane | figurine; "" follows `lithophane`

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
        self._settle_mode()

    def _settle_mode(self) -> None:
        """`mode` wins; the old `lithophane` flag still works alone, and may not contradict it."""
        if not isinstance(self.mode, str) or self.mode not in (*MODES, ""):
            raise ValidationFailed("mode", f"must be one of {', '.join(MODES)}")
        if self.mode == "":
            object.__setattr__(self, "mode", "lithophane" if self.lithophane else "relief")
        elif self.lithophane and self.mode != "lithophane":
            raise ValidationFailed("lithophane", "true only goes with mode lithophane")
        object.__setattr__(self, "lithophane", self.mode == "lithophane")

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

    def to_dict(self) -> dict[str, float | int | bool | str]:
        """Plain JSON-ready values; from_mapping(to_dict()) gives back equal params."""
        return asdict(self)


def relief_from_image(
    image: Image.Image, params: ReliefParams, depth: DepthModel | None = None
) -> trimesh.Trimesh:
    """Photo -> watertight model in params.mode, upright as the photo's EXIF orientation says."""
    luminance = luminance_grid(image, params.max_resolution)
    rgb = None if params.mode == "lithophane" else colour_grid(image, params.max_resolution)
    return relief_from_grids(luminance, rgb, params, depth)


def relief_from_grids(
    luminance: NDArray[np.float64],
    rgb: NDArray[np.uint8] | None,
    params: ReliefParams,
    depth: DepthModel | None = None,
) -> trimesh.Trimesh:
    """Upright luminance in [0, 255] (and, but for lithophanes, its RGB) -> watertight model."""
    # OpenCV and scikit-image load with the first model (a worker), not in every API process
    from minimaker.generation import figurine, subject

    if params.mode == "figurine":
        mask = subject.subject_mask(rgb if rgb is not None else _grey_as_rgb(luminance))
        return figurine.figurine_mesh(
            luminance, mask, params.width_mm, params.max_relief_mm, params.base_mm
        )
    heights, _ = grid_heights(luminance, rgb, params, depth)
    return mesh_from_heights(heights, params.width_mm)


def relief_from_luminance(
    luminance: NDArray[np.float64], params: ReliefParams, depth: DepthModel | None = None
) -> trimesh.Trimesh:
    """Upright luminance in [0, 255] alone -> watertight model (the subject found in grey)."""
    return relief_from_grids(luminance, None, params, depth)


def grid_heights(
    luminance: NDArray[np.float64],
    rgb: NDArray[np.uint8] | None,
    params: ReliefParams,
    depth: DepthModel | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_] | None]:
    """Heights in mm as params.mode makes them, with the subject's mask (None: lithophane).

    A figurine's heights are its front's half-thickness over its silhouette (for previews)."""
    from minimaker.generation import bas_relief, figurine, subject  # loaded on first use

    if params.mode == "lithophane":
        fraction = bas_relief.lithophane_fraction(luminance, relief_mm=params.max_relief_mm)
        return params.base_mm + fraction * params.max_relief_mm, None
    colour = rgb if rgb is not None else _grey_as_rgb(luminance)
    mask = subject.subject_mask(colour)
    if params.mode == "figurine":
        return figurine.front_heights(luminance, mask, params.width_mm, params.max_relief_mm), mask
    shape = depth.depth(colour) if depth is not None else None
    fraction = bas_relief.relief_fraction(luminance, mask, shape)
    return params.base_mm + fraction * params.max_relief_mm, mask


def height_field(
    image: Image.Image, params: ReliefParams, depth: DepthModel | None = None
) -> tuple[NDArray[np.float64], NDArray[np.bool_] | None]:
    """grid_heights of a photo (see there)."""
    luminance = luminance_grid(image, params.max_resolution)
    rgb = None if params.mode == "lithophane" else colour_grid(image, params.max_resolution)
    return grid_heights(luminance, rgb, params, depth)


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


def colour_grid(image: Image.Image, max_resolution: int) -> NDArray[np.uint8]:
    """Upright RGB samples on the same grid as luminance_grid: what segmentation looks at.

    Modes without a plain RGB form (16-bit, float, LAB) give their grey in three bands."""
    try:
        turn = _UPRIGHT.get(image.getexif().get(0x0112, 1))
        if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("F", "LAB"):
            rgb = Image.merge("RGB", [_fit(_to_grey(image), max_resolution).convert("L")] * 3)
        else:
            rgb = _fit_rgb(image, max_resolution)
    except OSError as exc:
        raise GenerationFailed("the image data could not be decoded") from exc
    except ValueError as exc:
        raise GenerationFailed(f"images in colour mode {image.mode} are not supported") from exc
    if turn is not None:
        rgb = rgb.transpose(turn)
    return np.asarray(rgb, dtype=np.uint8)


def _grey_as_rgb(luminance: NDArray[np.float64]) -> NDArray[np.uint8]:
    grey = np.clip(np.round(luminance), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., np.newaxis], 3, axis=2)


def _rgb_strip(strip: Image.Image) -> Image.Image:
    """A strip of the photo in RGB, transparency composited on white (as _to_grey does)."""
    if strip.mode in _ALPHA_MODES or "transparency" in strip.info:
        rgba = (strip.convert("LA") if strip.mode == "La" else strip).convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        return Image.composite(rgba.convert("RGB"), white, rgba.getchannel("A"))
    return strip if strip.mode == "RGB" else strip.convert("RGB")


def _fit_rgb(image: Image.Image, max_resolution: int) -> Image.Image:
    """Box-downsample to the grid a strip of rows at a time: never a whole RGB copy."""
    width, height = image.size
    grid = grid_size(width, height, max_resolution)
    out_w, out_h = scaled_size(width, height, max_resolution)
    scale = height / out_h
    rows_per_strip = max(1, int(_STRIP_PIXELS // (width * max(scale, 1.0))))
    out = Image.new("RGB", (out_w, out_h))
    for first in range(0, out_h, rows_per_strip):
        last = min(out_h, first + rows_per_strip)
        top_f, bottom_f = first * scale, last * scale
        top, bottom = int(np.floor(top_f)), min(height, int(np.ceil(bottom_f)))
        strip = _rgb_strip(image.crop((0, top, width, bottom)))
        box = (0.0, top_f - top, float(width), bottom_f - top)
        out.paste(strip.resize((out_w, last - first), Image.Resampling.BOX, box=box), (0, first))
    return out if out.size == grid else out.resize(grid, Image.Resampling.NEAREST)


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
