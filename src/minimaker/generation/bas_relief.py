"""Heights of a relief and a lithophane, as fractions of the relief height (pure NumPy/OpenCV).

Relief (digital bas-relief, after Weyrich et al. 2007 and Kerber et al. 2009): brightness is
split by an edge-preserving filter into a base (large-scale light and shade) and detail (what
is left: features, folds, edges). The base is compressed hard, because it is lighting, not
shape: a white sky or a dark helmet says nothing about height. The detail is kept, smoothed
and squashed by tanh so that film grain, wood grain or fur cannot become spikes. The shape
comes from the subject's silhouette (inflated: rounded, highest inside) or an operator's
depth model, and the background is flattened to a low, quiet plane.

Lithophane: light through a print falls off as exp(-k * thickness); the photo's contrast is
stretched to the full thickness range and mapped through that law so the transmitted light is
linear in the photo's brightness.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from minimaker.generation.rules import ATTENUATION_PER_MM

#: Shares of the relief height: the subject's shape, its compressed base, its detail, and
#: the detail left in the background.
SHAPE, BASE, DETAIL, BACKGROUND_DETAIL = 0.55, 0.12, 0.33, 0.06
#: Detail contrast (of brightness in [0, 1]) below which detail is not amplified.
MIN_SPREAD = 0.04
#: The base filter works on a copy at most this long (its cost grows with the window).
BASE_SIDE = 384
#: Percentiles stretched to the full range: a few specular glints or black pixels do not
#: squeeze the rest of the photo into a part of the thickness.
_STRETCH = (0.5, 99.5)


def relief_fraction(
    luminance: NDArray[np.float64],
    mask: NDArray[np.bool_],
    depth: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Heights in [0, 1] of a subject-aware relief; `depth` in [0, 1] (near = 1) if known."""
    grey = (luminance / 255.0).astype(np.float32)
    base = edge_preserving_base(grey)
    detail = cv2.GaussianBlur(grey - base, (0, 0), 0.8)  # texture smoothed before it is kept
    soft = feathered(mask)
    inside = mask if mask.any() else np.ones_like(mask)
    # a floor: in a flat subject, sensor noise must not be stretched to the full detail
    spread = max(float(np.percentile(np.abs(detail[inside]), 95)), MIN_SPREAD)
    detail_n = 0.5 + 0.5 * np.tanh(detail / spread)  # [0, 1], grain squashed
    low, high = np.percentile(base[inside], (2, 98))
    base_n = np.clip((base - low) / max(float(high - low), 1e-3), 0.0, 1.0)
    shape = inflated(mask) if depth is None else soft * depth
    heights = (
        SHAPE * shape
        + soft * (BASE * base_n + DETAIL * detail_n)
        + (1.0 - soft) * BACKGROUND_DETAIL * detail_n
    )
    return np.asarray(np.clip(heights, 0.0, 1.0), dtype=np.float64)


def edge_preserving_base(grey: NDArray[np.float32]) -> NDArray[np.float32]:
    """The large-scale brightness: bilateral-filtered (edges kept, no halos) on a small copy."""
    rows, cols = grey.shape
    scale = min(1.0, BASE_SIDE / max(rows, cols))
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    sigma_space = max(1.0, 0.02 * max(size))
    for _ in range(2):
        small = cv2.bilateralFilter(small, -1, 0.15, sigma_space)
    if small.shape != grey.shape:
        small = cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR)
    return np.asarray(small, dtype=np.float32)


def inflated(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The silhouette as a rounded cushion in [0, 1]: 0 outside, a quarter circle up to 1
    within a rim of 12 % of the shorter side, then flat."""
    distance = inside_distance(mask)
    rim = max(1.0, 0.12 * min(mask.shape))
    t = np.clip(distance / rim, 0.0, 1.0)
    return np.asarray(np.sqrt(1.0 - (1.0 - t) ** 2), dtype=np.float64)


def inside_distance(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Samples from each inside sample to the nearest outside one (the grid's edge counts)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.asarray(distance, dtype=np.float64)


def feathered(mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """The mask softened over about 1.5 % of the photo: no cliff where the subject ends."""
    sigma = max(0.5, 0.015 * max(mask.shape))
    return np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), np.float32)


def lithophane_fraction(
    luminance: NDArray[np.float64], attenuation: float = ATTENUATION_PER_MM, relief_mm: float = 3.0
) -> NDArray[np.float64]:
    """Thickness in [0, 1] of the relief: 1 at the darkest, 0 at the brightest (stretched).

    With r = exp(-k * relief), thickness f = ln(r + (1 - r) * b) / ln(r) for brightness b
    makes the transmitted exp(-k * f * relief) = r + (1 - r) * b: linear in b."""
    low, high = np.percentile(luminance, _STRETCH)
    if high - low < 1.0:  # a flat photo: nothing to stretch, one even thickness
        bright = np.clip(luminance / 255.0, 0.0, 1.0)
    else:
        bright = np.clip((luminance - low) / (high - low), 0.0, 1.0)
    r = float(np.exp(-attenuation * relief_mm))
    fraction = np.log(r + (1.0 - r) * bright) / np.log(r)
    return np.asarray(np.clip(fraction, 0.0, 1.0), dtype=np.float64)
