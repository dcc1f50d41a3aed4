"""Measured quality (issue 12): models resemble their subject, on scikit-image's bundled photos
and a synthetic portrait of a dark figure before a bright, grainy wall.

- relief: the subject's mean height stands above the background's by SUBJECT_MARGIN of the
  relief height (brightness alone put the white wall on top and sank the figure: -0.24 of it
  on the astronaut, -0.61 on the synthetic portrait);
- lithophane: the light through the simulated print correlates with the greyscale photo;
- figurine: watertight, one body, standing on its base, nothing thinner than 1.2 mm, no
  overhang past 45 degrees above the bed.
bench/bench_quality.py prints the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from minimaker.generation.figurine import MIN_THICKNESS_MM
from minimaker.generation.preview import transmitted
from minimaker.generation.relief import (
    ReliefParams,
    height_field,
    luminance_grid,
    relief_from_image,
)
from tests.generation.photos import Marked, marked_photos
from tests.generation.test_relief import height_grid

#: Share of the relief height the subject must stand above the background, at least.
SUBJECT_MARGIN = 0.3
#: Height of a first layer, printed on the bed whatever its outline.
FIRST_LAYER_MM = 0.3
PHOTOS = {m.name: m for m in marked_photos()}


def subject_margin(marked: Marked, params: ReliefParams) -> float:
    """(subject's mean height - background's mean height) / max_relief_mm, of the built mesh."""
    grid = height_grid(relief_from_image(marked.image, params))
    subject = grid[marked.region(grid.shape, marked.subject)].mean()
    background = grid[marked.region(grid.shape, marked.background)].mean()
    return float((subject - background) / params.max_relief_mm)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_the_subject_stands_above_the_background(name: str) -> None:
    margin = subject_margin(PHOTOS[name], ReliefParams(base_mm=2.0, max_relief_mm=3.0))
    assert margin >= SUBJECT_MARGIN, (name, margin)


def test_a_flat_background_stays_flat_whatever_its_grain() -> None:
    marked = PHOTOS["synthetic"]  # the wall is a sine grain plus noise, 40 grey levels deep
    params = ReliefParams(base_mm=2.0, max_relief_mm=3.0)
    grid = height_grid(relief_from_image(marked.image, params))
    wall = grid[marked.region(grid.shape, marked.background)]
    assert np.ptp(wall) < 0.1 * params.max_relief_mm  # brightness alone: the whole range


def backlit_correlation(image: Image.Image, attenuation: float) -> float:
    params = ReliefParams(mode="lithophane", base_mm=0.8, max_relief_mm=2.4)
    thickness, _ = height_field(image, params)
    light = transmitted(thickness, attenuation)
    grey = luminance_grid(image, params.max_resolution)
    return float(np.corrcoef(light.ravel(), grey.ravel())[0, 1])


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("attenuation", [0.4, 0.7, 1.2])  # thinner to denser materials
def test_a_backlit_lithophane_shows_the_photo(name: str, attenuation: float) -> None:
    assert backlit_correlation(PHOTOS[name].image, attenuation) >= 0.9


@pytest.fixture(scope="module")
def figurines() -> dict[str, trimesh.Trimesh]:
    params = ReliefParams(mode="figurine", width_mm=80.0, max_relief_mm=3.0)
    return {name: relief_from_image(m.image, params) for name, m in PHOTOS.items()}


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_figurine_is_one_watertight_body_standing_on_its_base(
    figurines: dict[str, trimesh.Trimesh], name: str
) -> None:
    mesh = figurines[name]
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert mesh.body_count == 1
    assert mesh.extents[0] == pytest.approx(80.0, abs=1.0)
    assert mesh.bounds[0][2] == pytest.approx(0.0)
    x, y, _ = mesh.center_mass
    (x0, y0), (x1, y1) = footprint(mesh)
    assert x0 < x < x1 and y0 < y < y1  # over the footprint: it does not tip over
    assert mesh.extents[2] > mesh.extents[1]  # it stands: taller than it is deep


def footprint(mesh: trimesh.Trimesh) -> tuple[tuple[float, float], tuple[float, float]]:
    """The bounds (x, y) of what the figurine stands on: its vertices on the bed."""
    on_bed = mesh.vertices[mesh.vertices[:, 2] < 1e-6][:, :2]
    low, high = on_bed.min(axis=0), on_bed.max(axis=0)
    return (float(low[0]), float(low[1])), (float(high[0]), float(high[1]))


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_no_part_of_a_figurine_is_thinner_than_the_printable_minimum(
    figurines: dict[str, trimesh.Trimesh], name: str
) -> None:
    mesh = figurines[name]
    # front to back, where it is thinnest (the outline): a 0.4 mm rim is caught (seen failing)
    assert front_to_back(mesh).min() >= MIN_THICKNESS_MM - 0.02
    # across any wall, inwards from the surface; marching cubes facets tilt a few rays
    assert np.percentile(local_thickness(mesh), 1) >= MIN_THICKNESS_MM


def front_to_back(mesh: trimesh.Trimesh, cell: float = 0.5) -> np.ndarray:
    """The figurine's thickness along y in each 0.5 mm cell of (x, z) that has both a front
    and a back: the front's largest y less the back's smallest."""
    v, n = mesh.vertices, mesh.vertex_normals
    key = np.floor(v[:, 0] / cell).astype(np.int64) * 1_000_000 + np.floor(v[:, 2] / cell)
    front, back = n[:, 1] > 0.3, n[:, 1] < -0.3
    cells_f, at_f = np.unique(key[front], return_inverse=True)
    cells_b, at_b = np.unique(key[back], return_inverse=True)
    largest = np.full(len(cells_f), -np.inf)
    np.maximum.at(largest, at_f, v[front, 1])
    smallest = np.full(len(cells_b), np.inf)
    np.minimum.at(smallest, at_b, v[back, 1])
    _, i, j = np.intersect1d(cells_f, cells_b, return_indices=True)
    return largest[i] - smallest[j]


def local_thickness(mesh: trimesh.Trimesh, samples: int = 3_000) -> np.ndarray:
    """For surface samples, the distance inwards (against the normal) to the other side."""
    points, faces = trimesh.sample.sample_surface_even(mesh, samples, seed=1)
    normals = mesh.face_normals[faces]
    origins = points - normals * 1e-4
    hits, rays, _ = mesh.ray.intersects_location(origins, -normals, multiple_hits=False)
    distance = np.full(len(points), np.inf)
    distance[rays] = np.linalg.norm(hits - origins[rays], axis=1)
    return distance[np.isfinite(distance)]


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_figurine_needs_no_supports(figurines: dict[str, trimesh.Trimesh], name: str) -> None:
    mesh = figurines[name]
    downward = mesh.face_normals[:, 2] < -np.cos(np.radians(45)) - 0.05
    # marching cubes bevels the base's bottom edge within its lowest voxel (< 0.3 mm): that
    # is inside the first layer, which is laid on the bed, not bridged
    above_bed = mesh.triangles_center[:, 2] > FIRST_LAYER_MM
    share = mesh.area_faces[downward & above_bed].sum() / mesh.area
    assert share < 0.005, share
