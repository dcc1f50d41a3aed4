"""Photos the quality tests measure, each with hand-marked regions of subject and background.

The regions are boxes (left, top, right, bottom) in fractions of the photo's width and height,
drawn by looking at each photo: well inside the subject, and well inside the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage import data

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Marked:
    name: str
    image: Image.Image
    subject: tuple[Box, ...]
    background: tuple[Box, ...]

    def region(self, shape: tuple[int, ...], boxes: tuple[Box, ...]) -> NDArray[np.bool_]:
        """The boxes as a boolean mask over a grid of `shape` (rows, cols)."""
        rows, cols = shape[:2]
        mask = np.zeros((rows, cols), dtype=bool)
        for left, top, right, bottom in boxes:
            mask[
                round(top * rows) : round(bottom * rows), round(left * cols) : round(right * cols)
            ] = True
        return mask


def synthetic_portrait() -> Image.Image:
    """A dark figure (a head and shoulders) before a bright, grainy wall: the issue's case."""
    rows, cols = 240, 320
    rng = np.random.default_rng(12)
    yy, xx = np.mgrid[0:rows, 0:cols]
    wall = 215 + 12 * np.sin(xx / 3.0) + rng.normal(0, 6, (rows, cols))  # grain
    rgb = np.stack([wall, wall * 0.97, wall * 0.92], axis=-1)
    head = ((xx - 160) / 45.0) ** 2 + ((yy - 80) / 55.0) ** 2 < 1
    body = ((xx - 160) / 110.0) ** 2 + ((yy - 250) / 110.0) ** 2 < 1
    figure = head | body
    coat = np.array([60.0, 40.0, 110.0]) + rng.normal(0, 4, (rows, cols, 1))
    rgb[figure] = coat[figure]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def marked_photos() -> list[Marked]:
    """scikit-image's bundled photos and the synthetic portrait, with their regions."""
    return [
        Marked(
            "astronaut",
            Image.fromarray(data.astronaut()),
            subject=((0.37, 0.10, 0.55, 0.30), (0.12, 0.62, 0.55, 0.92)),  # face, suit
            background=((0.20, 0.01, 0.28, 0.14), (0.62, 0.03, 0.70, 0.28)),  # the wall
        ),
        Marked(
            "chelsea",
            Image.fromarray(data.chelsea()),
            subject=((0.25, 0.15, 0.72, 0.85),),  # the cat's face
            background=((0.91, 0.30, 1.0, 0.62),),  # the blurred room on the right
        ),
        Marked(
            "coffee",
            Image.fromarray(data.coffee()),
            subject=((0.31, 0.10, 0.65, 0.42), (0.16, 0.55, 0.30, 0.80)),  # cup, red saucer
            background=((0.0, 0.35, 0.10, 1.0), (0.84, 0.0, 1.0, 0.25)),  # wood, top right
        ),
        Marked(
            "synthetic",
            synthetic_portrait(),
            subject=((0.42, 0.18, 0.58, 0.45), (0.30, 0.80, 0.70, 1.0)),  # head, shoulders
            background=((0.0, 0.0, 0.18, 0.6), (0.82, 0.0, 1.0, 0.6)),  # the wall
        ),
    ]
