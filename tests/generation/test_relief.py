"""relief_from_image: closed solids, true sizes, upright and unmirrored, every image mode."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minimaker.generation.grid_mesh import (
    _edges_pair_up_reversed,
    _signed_volume,
    mesh_from_heights,
)
from minimaker.generation.relief import ReliefParams, luminance_grid, relief_from_image
from minimaker.kernel.errors import GenerationFailed, ValidationFailed

DARK, BRIGHT = 20, 235


def assert_closed_solid(mesh: trimesh.Trimesh) -> None:
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume > 0


def height_grid(mesh: trimesh.Trimesh) -> np.ndarray:
    """The top surface as an image-like array: [0, 0] is the vertex at min x, max y."""
    top = mesh.vertices[mesh.vertices[:, 2] > 0]  # the base keeps every top vertex above 0
    xs, cols = np.unique(np.round(top[:, 0], 6), return_inverse=True)
    ys, rows = np.unique(np.round(top[:, 1], 6), return_inverse=True)
    assert len(top) == len(xs) * len(ys), "top vertices do not form a full grid"
    grid = np.full((len(ys), len(xs)), np.nan)
    grid[len(ys) - 1 - rows, cols] = top[:, 2]
    return grid


def plain_relief(photo: Image.Image, params: ReliefParams) -> trimesh.Trimesh:
    """Heights = base + brightness x relief: the sampling of the photo and the solid under a
    height grid, tested apart from how each mode shapes its heights (test_modes.py)."""
    luminance = luminance_grid(photo, params.max_resolution)
    return mesh_from_heights(
        params.base_mm + luminance / 255 * params.max_relief_mm, params.width_mm
    )


def gradient(width: int, height: int, mode: str = "L") -> Image.Image:
    """A smooth diagonal ramp, distinct in every corner."""
    xs = np.linspace(0, 1, width)[np.newaxis, :]
    ys = np.linspace(0, 1, height)[:, np.newaxis]
    ramp = (0.7 * xs + 0.3 * ys) * 255
    return Image.fromarray(np.round(ramp).astype(np.uint8)).convert(mode)


def with_top_left_marker(width: int, height: int) -> Image.Image:
    pixels = np.full((height, width), DARK, dtype=np.uint8)
    pixels[:3, :3] = BRIGHT
    return Image.fromarray(pixels)


def jpeg(image: Image.Image, orientation: int | None) -> Image.Image:
    exif = image.copy().getexif()  # image.getexif() is cached: changing it would stick
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    buffer.seek(0)
    return Image.open(buffer)


# --- shape and size -----------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(2, 2), (3, 5), (17, 4), (64, 48), (48, 64)])
def test_model_is_a_closed_outward_solid_for_several_sizes_and_aspect_ratios(
    width: int, height: int
) -> None:
    mesh = relief_from_image(gradient(width, height), ReliefParams())
    assert_closed_solid(mesh)


def test_model_is_width_mm_wide_and_as_deep_as_the_photo_aspect_says() -> None:
    mesh = plain_relief(gradient(40, 20), ReliefParams(width_mm=80.0))
    (x0, y0, z0), (x1, y1, _) = mesh.bounds
    assert (x0, y0, z0) == (0.0, 0.0, 0.0)
    assert x1 == pytest.approx(80.0)
    assert y1 == pytest.approx(80.0 * 19 / 39)  # 20 rows of samples, 40 columns


def test_heights_are_base_plus_brightness_times_relief() -> None:
    photo = gradient(30, 20)
    params = ReliefParams(base_mm=1.5, max_relief_mm=4.0)
    grid = height_grid(plain_relief(photo, params))
    expected = 1.5 + np.asarray(photo, dtype=float) / 255 * 4.0
    np.testing.assert_allclose(grid, expected)


def test_model_stays_between_the_floor_and_base_plus_relief() -> None:
    photo = Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8))
    mesh = plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0))
    assert mesh.bounds[0][2] == 0.0
    assert mesh.bounds[1][2] == pytest.approx(5.0)
    assert height_grid(mesh).min() == pytest.approx(2.0)


def test_volume_of_a_uniform_grey_photo_is_footprint_times_height() -> None:
    params = ReliefParams(width_mm=60.0, base_mm=2.0, max_relief_mm=3.0)
    mesh = plain_relief(Image.new("L", (31, 21), 128), params)
    footprint = 60.0 * (60.0 * 20 / 30)
    assert mesh.volume == pytest.approx(footprint * (2.0 + 128 / 255 * 3.0), rel=1e-9)


# --- orientation ------------------------------------------------------------------------


def test_bright_top_left_corner_rises_at_min_x_and_max_y() -> None:
    mesh = plain_relief(with_top_left_marker(30, 20), ReliefParams())
    (x0, _, _), (_, y1, _) = mesh.bounds
    raised = mesh.vertices[mesh.vertices[:, 2] > 2.0 + 1.5]
    spacing = 100.0 / 29
    assert len(raised) == 9
    assert np.all(raised[:, 0] <= x0 + 2 * spacing + 1e-9)
    assert np.all(raised[:, 1] >= y1 - 2 * spacing - 1e-9)


@pytest.mark.parametrize(
    ("orientation", "upright", "marker_corner"),
    [
        (3, Image.Transpose.ROTATE_180, (-1, -1)),  # stored upside down
        (6, Image.Transpose.ROTATE_270, (0, -1)),  # shown after turning 90 degrees clockwise
        (8, Image.Transpose.ROTATE_90, (-1, 0)),  # shown after turning 90 degrees anticlockwise
    ],
)
def test_exif_orientation_turns_the_model_as_a_viewer_would_show_the_photo(
    orientation: int, upright: Image.Transpose, marker_corner: tuple[int, int]
) -> None:
    stored = with_top_left_marker(40, 24)
    oriented = plain_relief(jpeg(stored, orientation), ReliefParams())
    # the same JPEG pixels without the tag, turned by hand, give the same model
    by_hand = plain_relief(jpeg(stored, None).transpose(upright), ReliefParams())
    np.testing.assert_array_equal(height_grid(oriented), height_grid(by_hand))
    grid = height_grid(oriented)
    assert grid.shape == ((40, 24) if orientation in (6, 8) else (24, 40))
    assert grid[marker_corner] > 2.0 + 1.5
    assert grid[grid.shape[0] // 2, grid.shape[1] // 2] < 2.0 + 1.5


def test_photo_without_orientation_tag_is_taken_as_stored() -> None:
    grid = height_grid(plain_relief(jpeg(with_top_left_marker(40, 24), None), ReliefParams()))
    assert grid.shape == (24, 40)
    assert grid[0, 0] > 2.0 + 1.5


# --- options ------------------------------------------------------------------------------


def test_lithophane_makes_dark_thick_and_bright_thin_over_the_full_thickness() -> None:
    photo = gradient(25, 15)  # 0 .. 255, darkest top left
    params = ReliefParams(base_mm=1.0, max_relief_mm=2.5, lithophane=True)
    thickness = height_grid(relief_from_image(photo, params))
    assert thickness[0, 0] == pytest.approx(1.0 + 2.5)  # the darkest sample: the thickest
    assert thickness[-1, -1] == pytest.approx(1.0)  # the brightest: the base alone
    brightness = np.asarray(photo, dtype=float).ravel()
    order = np.argsort(brightness, kind="stable")
    assert np.all(np.diff(thickness.ravel()[order]) <= 1e-9)  # brighter is never thicker


def test_a_low_contrast_lithophane_is_stretched_to_the_full_thickness() -> None:
    dull = Image.fromarray((100 + np.asarray(gradient(40, 30)) // 8).astype(np.uint8))
    assert np.ptp(np.asarray(dull)) < 40
    params = ReliefParams(base_mm=0.8, max_relief_mm=3.0, mode="lithophane")
    thickness = height_grid(relief_from_image(dull, params))
    assert thickness.min() == pytest.approx(0.8, abs=0.05)
    assert thickness.max() == pytest.approx(3.8, abs=0.05)


def test_max_resolution_caps_samples_along_the_longer_side() -> None:
    mesh = plain_relief(gradient(300, 150), ReliefParams(max_resolution=64))
    assert height_grid(mesh).shape == (32, 64)
    assert len(mesh.vertices) < 64 * 32 * 1.1  # the base adds only a border ring
    assert mesh.bounds[1][0] == pytest.approx(100.0)


def test_small_photo_is_never_upsampled() -> None:
    mesh = plain_relief(gradient(30, 20), ReliefParams(max_resolution=2048))
    assert height_grid(mesh).shape == (20, 30)


def test_downsampling_averages_whole_areas() -> None:
    checkerboard = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    params = ReliefParams(max_resolution=2, base_mm=1.0, max_relief_mm=2.0)
    grid = height_grid(plain_relief(Image.fromarray(checkerboard), params))
    np.testing.assert_allclose(grid, 1.0 + 0.5 * 2.0)


# --- degenerate photos ----------------------------------------------------------------------


def test_one_pixel_photo_becomes_a_square_block() -> None:
    mesh = plain_relief(Image.new("L", (1, 1), 255), ReliefParams(width_mm=10.0))
    assert_closed_solid(mesh)
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 0], [10.0, 10.0, 5.0]])


@pytest.mark.parametrize(("width", "height"), [(1, 7), (7, 1), (1, 150), (3000, 1)])
def test_one_pixel_wide_or_tall_photo_gives_a_closed_strip(width: int, height: int) -> None:
    mesh = plain_relief(gradient(width, height), ReliefParams(width_mm=5.0))
    assert_closed_solid(mesh)
    rows, cols = height_grid(mesh).shape
    assert min(rows, cols) == 2
    assert max(rows, cols) == min(max(width, height), 512)


def test_a_photo_that_would_make_a_model_over_a_metre_long_is_refused() -> None:
    with pytest.raises(GenerationFailed, match="mm long"):
        plain_relief(gradient(1, 3000), ReliefParams(width_mm=5.0))


def test_truncated_image_data_fails_without_naming_the_file() -> None:
    buffer = io.BytesIO()
    gradient(64, 64, "RGB").save(buffer, "PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:-200]))  # headers whole, pixels cut
    with pytest.raises(GenerationFailed, match="could not be decoded"):
        plain_relief(truncated, ReliefParams())


# --- image modes --------------------------------------------------------------------------


def grey_in_mode(mode: str, level: int) -> Image.Image:
    """A uniform image whose luminance is `level` (out of 255) in the given mode."""
    grey = Image.new("L", (9, 6), level)
    if mode in ("I;16", "I"):  # both hold 16-bit greys, as PNG and PGM decode them
        return Image.fromarray(np.full((6, 9), level * 257, dtype=np.uint16)).convert(mode)
    if mode == "LAB":  # its lightness band is used as it is
        return Image.new("LAB", (9, 6), (level, 0, 0))
    if mode == "P":
        return grey.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    return grey.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "LA", "I;16", "I", "F", "CMYK", "LAB"])
def test_every_image_mode_gives_the_heights_of_its_luminance(mode: str) -> None:
    photo = grey_in_mode(mode, 100)
    assert photo.mode == mode
    mesh = plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0))
    assert_closed_solid(mesh)
    np.testing.assert_allclose(height_grid(mesh), 2.0 + 100 / 255 * 3.0, atol=3.0 / 255)


def test_black_and_white_mode_gives_the_full_relief() -> None:
    photo = Image.fromarray(np.array([[0, 255]] * 3, dtype=np.uint8)).convert("1")
    grid = height_grid(plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0)))
    np.testing.assert_allclose(grid, [[2.0, 5.0]] * 3)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_transparent_pixels_count_as_white(mode: str) -> None:
    photo = Image.new("RGBA", (6, 4), (0, 0, 0, 0)).convert(mode)
    grid = height_grid(plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0)))
    np.testing.assert_allclose(grid, 5.0)


def test_palette_transparency_counts_as_white() -> None:
    photo = Image.new("P", (6, 4), 0)
    photo.putpalette([0, 0, 0] * 256)
    photo.info["transparency"] = 0
    grid = height_grid(plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0)))
    np.testing.assert_allclose(grid, 5.0)


def test_sixteen_bit_greys_keep_steps_finer_than_eight_bits() -> None:
    levels = np.arange(0, 65536, 257 // 4 * 64, dtype=np.uint16)  # 4096-level steps
    levels[1] += 64  # a quarter of an 8-bit step
    photo = Image.fromarray(np.tile(levels, (3, 1)))
    grid = height_grid(plain_relief(photo, ReliefParams(base_mm=2.0, max_relief_mm=3.0)))
    np.testing.assert_allclose(grid[0], 2.0 + levels / 65535 * 3.0, rtol=1e-6)


# --- the cheap closedness check agrees with trimesh --------------------------------------


def test_closedness_check_accepts_a_box_and_rejects_broken_ones() -> None:
    box = trimesh.creation.box()
    faces = np.asarray(box.faces, dtype=np.int64)
    n = len(box.vertices)
    assert _edges_pair_up_reversed(faces, n)
    assert not _edges_pair_up_reversed(faces[1:], n)  # a hole
    flipped = faces.copy()
    flipped[0] = flipped[0, ::-1]
    assert not _edges_pair_up_reversed(flipped, n)  # inconsistent winding
    assert not _edges_pair_up_reversed(np.concatenate([faces, faces[:2, ::-1]]), n)  # fins
    assert not _edges_pair_up_reversed(np.zeros((0, 3), dtype=np.int64), n)


def test_signed_volume_matches_trimesh_and_turns_negative_inside_out() -> None:
    box = trimesh.creation.box(extents=(2.0, 3.0, 4.0))
    faces = np.asarray(box.faces, dtype=np.int64)
    assert _signed_volume(box.vertices, faces) == pytest.approx(24.0)
    assert _signed_volume(box.vertices, faces[:, ::-1]) == pytest.approx(-24.0)


# --- property ---------------------------------------------------------------------------


@st.composite
def small_photos(draw: st.DrawFn) -> Image.Image:
    width = draw(st.integers(1, 12))
    height = draw(st.integers(1, 12))
    pixels = draw(st.binary(min_size=width * height, max_size=width * height))
    return Image.frombytes("L", (width, height), pixels)


@settings(max_examples=30, deadline=None, database=None)
@given(
    photo=small_photos(),
    width_mm=st.floats(5, 1000),
    base_mm=st.floats(0.2, 50),
    max_relief_mm=st.floats(0.1, 100),
    max_resolution=st.integers(2, 16),
    lithophane=st.booleans(),
)
def test_any_small_photo_gives_a_closed_model_of_the_asked_size(
    photo: Image.Image,
    width_mm: float,
    base_mm: float,
    max_relief_mm: float,
    max_resolution: int,
    lithophane: bool,
) -> None:
    params = ReliefParams(width_mm, base_mm, max_relief_mm, max_resolution, lithophane)
    try:
        mesh = relief_from_image(photo, params)
    except GenerationFailed as exc:
        # The one refusal allowed: a tall photo whose model would pass the length limit.
        assert "mm long" in exc.message, exc.message
        assert photo.height > photo.width
        return
    assert_closed_solid(mesh)
    (x0, y0, z0), (x1, _, z1) = mesh.bounds
    assert (x0, y0, z0) == (0.0, 0.0, 0.0)
    assert math.isclose(x1, width_mm)
    assert base_mm <= z1 <= base_mm + max_relief_mm + 1e-9
    rows, cols = height_grid(mesh).shape
    assert min(rows, cols) >= 2
    assert max(rows, cols) <= max_resolution


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("width_mm", 5.0, 1000.0),
        ("base_mm", 0.2, 50.0),
        ("max_relief_mm", 0.1, 100.0),
        ("max_resolution", 2, 2048),
    ],
)
def test_each_bound_is_accepted_and_anything_beyond_it_is_refused(
    field: str, low: float, high: float
) -> None:
    assert getattr(ReliefParams(**{field: low}), field) == low
    assert getattr(ReliefParams(**{field: high}), field) == high
    step = 1 if isinstance(low, int) else 1e-6
    for outside in (low - step, high + step):
        with pytest.raises(ValidationFailed) as caught:
            ReliefParams(**{field: outside})
        assert caught.value.field == field


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_lengths_are_refused(value: float) -> None:
    with pytest.raises(ValidationFailed, match="width_mm"):
        ReliefParams(width_mm=value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width_mm", True),
        ("width_mm", "100"),
        ("base_mm", None),
        ("max_relief_mm", [3.0]),
        ("max_resolution", 512.0),
        ("max_resolution", False),
        ("max_resolution", "512"),
        ("lithophane", 1),
        ("lithophane", "true"),
    ],
)
def test_from_mapping_refuses_values_of_the_wrong_type(field: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ReliefParams.from_mapping({field: value})
    assert caught.value.field == field


def test_from_mapping_refuses_unknown_keys_without_echoing_them() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ReliefParams.from_mapping({"width_mm": 50, "alice_photo.jpg": 1})
    assert caught.value.field == "params"
    assert "alice" not in caught.value.message
    assert "width_mm" in caught.value.message  # it lists what is allowed


def test_from_mapping_takes_integers_for_lengths_and_round_trips_through_to_dict() -> None:
    params = ReliefParams.from_mapping({"width_mm": 50, "lithophane": True})
    assert params == ReliefParams(width_mm=50.0, lithophane=True)
    assert isinstance(params.to_dict()["width_mm"], float)
    assert ReliefParams.from_mapping(params.to_dict()) == params
    assert ReliefParams.from_mapping({}).to_dict() == {
        "width_mm": 100.0,
        "base_mm": 2.0,
        "max_relief_mm": 3.0,
        "max_resolution": 512,
        "lithophane": False,
        "mode": "relief",
    }
