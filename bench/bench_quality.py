"""Measured quality of the three modes (issue 12), on scikit-image's bundled photos and the
synthetic portrait of tests/generation/photos.py; prints one table, no targets timed.

- relief: (subject's mean height - background's) / max_relief_mm, for brightness alone (the
  relief before issue 12) and for the subject-aware relief; the tests ask >= 0.3;
- lithophane: Pearson r of the simulated back light exp(-k t) with the greyscale photo, for
  brightness alone (t linear in darkness, no stretch) and the stretched, exp-linearised one;
- figurine: watertight, bodies, centre of mass over the footprint, the thinnest front to
  back (0.5 mm cells) and across walls (1st percentile of 3,000 rays inward), the share of
  the area overhanging past 45 degrees above the first layer;
- seconds to make each model (one run; the machine is shared).

Run: PYTHONPATH=src .venv/bin/python bench/bench_quality.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))  # the tests' marked photos

from bench.machine import describe
from tests.generation.photos import Marked, marked_photos
from tests.generation.test_quality import (
    FIRST_LAYER_MM,
    footprint,
    front_to_back,
    local_thickness,
)
from tests.generation.test_relief import height_grid

from minimaker.generation.grid_mesh import mesh_from_heights
from minimaker.generation.preview import transmitted
from minimaker.generation.relief import (
    ReliefParams,
    height_field,
    luminance_grid,
    relief_from_image,
)

RELIEF = ReliefParams(base_mm=2.0, max_relief_mm=3.0)
LITHOPHANE = ReliefParams(mode="lithophane", base_mm=0.8, max_relief_mm=2.4)
FIGURINE = ReliefParams(mode="figurine", width_mm=80.0, max_relief_mm=3.0)
K = 0.7  # attenuation per mm of the simulated back light


def margin(marked: Marked, grid: np.ndarray) -> float:
    subject = grid[marked.region(grid.shape, marked.subject)].mean()
    background = grid[marked.region(grid.shape, marked.background)].mean()
    return float((subject - background) / RELIEF.max_relief_mm)


def relief_row(marked: Marked) -> tuple[float, float, float]:
    grey = luminance_grid(marked.image, RELIEF.max_resolution)
    plain = height_grid(mesh_from_heights(RELIEF.base_mm + grey / 255 * 3.0, RELIEF.width_mm))
    started = time.perf_counter()
    aware = height_grid(relief_from_image(marked.image, RELIEF))
    return margin(marked, plain), margin(marked, aware), time.perf_counter() - started


def lithophane_row(marked: Marked) -> tuple[float, float]:
    grey = luminance_grid(marked.image, LITHOPHANE.max_resolution)
    plain = LITHOPHANE.base_mm + (1 - grey / 255) * LITHOPHANE.max_relief_mm
    stretched, _ = height_field(marked.image, LITHOPHANE)
    r = [
        float(np.corrcoef(transmitted(t, K).ravel(), grey.ravel())[0, 1])
        for t in (plain, stretched)
    ]
    return r[0], r[1]


def figurine_row(marked: Marked) -> str:
    started = time.perf_counter()
    mesh = relief_from_image(marked.image, FIGURINE)
    took = time.perf_counter() - started
    x, y, _ = mesh.center_mass
    (x0, y0), (x1, y1) = footprint(mesh)
    over = x0 < x < x1 and y0 < y < y1
    thin = front_to_back(mesh).min()
    across = np.percentile(local_thickness(mesh), 1)
    down = (mesh.face_normals[:, 2] < -np.cos(np.radians(45)) - 0.05) & (
        mesh.triangles_center[:, 2] > FIRST_LAYER_MM
    )
    share = mesh.area_faces[down].sum() / mesh.area
    return (
        f"watertight {mesh.is_watertight}, bodies {mesh.body_count}, com over footprint {over}, "
        f"thinnest front to back {thin:.2f} mm, across (p1) {across:.2f} mm, "
        f"overhang {100 * share:.2f} %, "
        f"{len(mesh.faces)} faces, {mesh.extents.round(1).tolist()} mm, {took:.2f} s"
    )


def main() -> None:
    print(describe())
    print(
        f"{'photo':10} {'relief margin: brightness -> subject-aware':44} "
        f"{'lithophane r (k=0.7): plain -> stretched'}"
    )
    for marked in marked_photos():
        plain, aware, took = relief_row(marked)
        r_plain, r_new = lithophane_row(marked)
        print(
            f"{marked.name:10} {plain:+.2f} -> {aware:+.2f}  ({took:.2f} s){'':18} "
            f"{r_plain:.3f} -> {r_new:.3f}"
        )
    for marked in marked_photos():
        print(f"figurine {marked.name:10} {figurine_row(marked)}")


if __name__ == "__main__":
    main()
