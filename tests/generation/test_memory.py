"""What a model costs before it is built, and what building it costs: the estimate the
output cap is checked from bounds every file, and exporting takes one block of memory, not
the file (policy 3.6)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from minimaker.generation.export import FORMATS, export_mesh, iter_export
from minimaker.generation.relief import ReliefParams, _box_downsample, relief_from_image
from minimaker.generation.rules import MeshSize, grid_size, model_bytes


def _photo(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * 7919 + height)
    return Image.fromarray(rng.integers(0, 256, size=(height, width), dtype=np.uint8))


@pytest.mark.parametrize(
    ("width", "height", "resolution"),
    [(48, 32, 64), (1, 1, 512), (40, 1, 512), (300, 17, 64), (200, 190, 200), (90, 60, 33)],
)
def test_the_estimate_is_exact_for_stl_and_an_upper_bound_for_glb_and_obj(
    width: int, height: int, resolution: int
) -> None:
    params = ReliefParams(width_mm=1000.0, max_relief_mm=100.0, base_mm=50.0)
    params = ReliefParams(**{**params.to_dict(), "max_resolution": resolution})
    mesh = relief_from_image(_photo(width, height), params)
    cols, rows = grid_size(width, height, resolution)
    size = MeshSize.of_grid(cols, rows)
    assert (size.vertices, size.faces) == (len(mesh.vertices), len(mesh.faces))
    estimate = size.file_bytes()
    actual = {fmt: len(export_mesh(mesh, fmt)) for fmt in FORMATS}
    assert actual["stl"] == estimate["stl"]
    assert actual["glb"] <= estimate["glb"] <= actual["glb"] + 2048
    assert actual["obj"] <= estimate["obj"] <= 1.5 * actual["obj"]
    assert model_bytes(width, height, resolution) == sum(estimate.values())


def test_the_grid_is_symmetric_so_exif_turns_do_not_change_the_estimate() -> None:
    for width, height in ((4000, 3000), (5, 3000), (1, 1), (2049, 2048)):
        assert grid_size(width, height, 512) == grid_size(height, width, 512)[::-1]


def test_downsampling_a_strip_at_a_time_matches_one_whole_image_box_filter() -> None:
    photo = _photo(3100, 2900)  # 9 M pixels: more than one strip
    size = (517, 483)
    whole = np.asarray(photo.convert("F").resize(size, Image.Resampling.BOX))
    strips = np.asarray(_box_downsample(photo, size))
    np.testing.assert_allclose(strips, whole, atol=1e-3)


@pytest.mark.parametrize(("fmt", "side"), [("stl", 800), ("glb", 800), ("obj", 400)])
def test_exporting_takes_a_block_of_memory_not_the_whole_file(fmt: str, side: int) -> None:
    # (OBJ is smaller here only because tracemalloc slows its per-number formatting)
    mesh = relief_from_image(_photo(side, side), ReliefParams(max_resolution=side))
    file_size = 0
    tracemalloc.start()
    try:
        for block in iter_export(mesh, fmt):
            file_size += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert file_size > 10_000_000
    # a few blocks at most, whatever the file's size
    assert peak < min(24_000_000, file_size / 3), (fmt, peak, file_size)


def test_a_figurine_of_the_largest_grid_takes_a_few_megabytes_beyond_its_grids() -> None:
    from minimaker.generation.figurine import figurine_mesh
    from minimaker.generation.subject import centre_ellipse

    side = 2048  # the largest max_resolution
    luminance = np.asarray(_photo(side, side), dtype=np.float64)
    mask = centre_ellipse(side, side, 0.4, 0.45)
    tracemalloc.start()
    try:
        mesh = figurine_mesh(luminance, mask, 100.0, 3.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mesh.is_watertight
    # the grids themselves (32 MB of luminance here) are the caller's; the figurine works on
    # at most FIGURE_SIDE cells a side whatever the grid: a float32 copy of the luminance
    # (16 MB) to shrink it, then a field of ~4 MB that marching cubes and trimesh's merge
    # of vertices take ~40 MB to mesh, in all
    assert peak < 64_000_000, peak
