"""Figurines of photos of any size and aspect, at any grid: one closed body of positive
volume, its figure standing above its base, with no zero-area face; or a refusal a person can
act on ("choose a smaller width"), never the internal "the mesh is not closed".

Seen failing: a 300 x 200 photo at grid 256 (a sample of marching cubes' field lying exactly
on the surface, pinched by the vertex merge); a small silhouette at a large width or a low
bulge, whose figure vanished from the middle plane between two voxel layers (a base alone, or
a base and loose pieces).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import trimesh
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.generation import figurine, subject
from minimaker.generation.relief import (
    ReliefParams,
    colour_grid,
    luminance_grid,
    relief_from_image,
)
from minimaker.kernel.container import Container
from minimaker.kernel.errors import GenerationFailed
from tests.conftest import signup_and_login
from tests.uploads.test_api import _upload


def _bench_photo() -> Callable[[int, int], Image.Image]:
    """bench/bench_generate.py's synthetic photo: the one the failure was reported with."""
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made: Callable[[int, int], Image.Image] = module.synthetic_photo
    return made


synthetic_photo = _bench_photo()


def assert_one_standing_body(mesh: trimesh.Trimesh, shape: np.ndarray, width_mm: float) -> None:
    """Closed, wound outwards, one body of positive volume, no zero-area face, on z = 0, and
    as tall as its silhouette (the figure is there, not the base alone)."""
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.body_count == 1
    assert mesh.volume > 0
    assert mesh.area_faces.min() > 0
    assert mesh.bounds[0][2] == pytest.approx(0.0)
    rows, cols = shape.shape
    # the base reaches max(2, 4 %) cells beyond each side: at most 1.08 * cols + 5 cells wide
    figure_mm = rows * width_mm / (1.08 * cols + 5)
    assert mesh.extents[2] >= 0.95 * figure_mm, (mesh.extents, figure_mm)


def assert_a_refusal_one_can_act_on(exc: GenerationFailed) -> None:
    """The one refusal a figurine may give: too tall for the width asked (a sliver of a
    photo), a 422 saying what to change."""
    assert exc.status == 422
    assert "mm tall" in exc.message and "smaller width" in exc.message, exc.message


# --- photos of many sizes, at many grids --------------------------------------------------


def test_the_reported_photo_makes_a_figurine() -> None:
    params = ReliefParams(mode="figurine", max_resolution=256)
    mesh = relief_from_image(synthetic_photo(300, 200), params)
    assert mesh.is_watertight and mesh.body_count == 1 and mesh.volume > 0
    assert mesh.area_faces.min() > 0


#: (photo width, photo height, grid, width_mm, bulge_mm): sampled across sizes and grids
SWEEP = [
    (300, 200, 256, 100.0, 3.0),  # the report
    (300, 200, 512, 100.0, 3.0),
    (200, 300, 128, 100.0, 3.0),
    (64, 48, 64, 100.0, 3.0),
    (64, 48, 512, 100.0, 3.0),
    (1000, 80, 96, 100.0, 3.0),  # a thin strip
    (1000, 80, 256, 400.0, 0.1),
    (17, 311, 64, 100.0, 3.0),
    (17, 311, 128, 100.0, 3.0),  # too tall at 100 mm wide: refused
    (48, 64, 64, 120.0, 0.1),  # seen as a base alone
    (90, 60, 64, 400.0, 3.0),  # seen with its top gone
]


@pytest.mark.parametrize(("width", "height", "grid", "width_mm", "bulge_mm"), SWEEP)
def test_a_photo_of_any_size_gives_one_standing_body_or_a_clear_refusal(
    width: int, height: int, grid: int, width_mm: float, bulge_mm: float
) -> None:
    photo = synthetic_photo(width, height)
    # as relief_from_image makes it, with the subject's mask kept for the height check
    luminance = luminance_grid(photo, grid)
    mask = subject.subject_mask(colour_grid(photo, grid))
    try:
        mesh = figurine.figurine_mesh(luminance, mask, width_mm, bulge_mm)
    except GenerationFailed as exc:
        assert_a_refusal_one_can_act_on(exc)
        return
    _, shape = figurine.printable_silhouette(luminance, mask, width_mm)
    assert_one_standing_body(mesh, shape, width_mm)


# --- any silhouette -----------------------------------------------------------------------


@st.composite
def silhouettes(draw: st.DrawFn) -> np.ndarray:
    """Blobs of any size, ragged (holes, pixels joined only at a corner, pieces touching
    the border), a full frame or nothing at all."""
    rows, cols = draw(st.integers(2, 160)), draw(st.integers(2, 160))
    kind = draw(st.sampled_from(["blobs", "ragged", "full", "empty"]))
    if kind in ("full", "empty"):
        return np.full((rows, cols), kind == "full")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    coarse = rng.random((max(2, rows // 8), max(2, cols // 8)))
    zoomed = np.kron(coarse, np.ones((8, 8)))[:rows, :cols]
    zoomed = np.pad(zoomed, ((0, rows - zoomed.shape[0]), (0, cols - zoomed.shape[1])), "edge")
    mask: np.ndarray = zoomed > draw(st.floats(0.2, 0.8))
    if kind == "ragged":
        mask ^= rng.random((rows, cols)) < 0.08
    return mask


@settings(max_examples=20, deadline=None, database=None)
@given(
    mask=silhouettes(),
    width_mm=st.sampled_from([5.0, 20.0, 80.0, 165.0, 400.0, 1000.0]),
    bulge_mm=st.sampled_from([0.1, 0.5, 1.85, 3.0, 20.0]),
    base_mm=st.sampled_from([0.2, 2.0, 5.0]),
)
def test_any_silhouette_gives_one_standing_body_or_a_clear_refusal(
    mask: np.ndarray, width_mm: float, bulge_mm: float, base_mm: float
) -> None:
    luminance = np.random.default_rng(3).uniform(0, 255, mask.shape)
    try:
        mesh = figurine.figurine_mesh(luminance, mask, width_mm, bulge_mm, base_mm)
    except GenerationFailed as exc:
        assert_a_refusal_one_can_act_on(exc)
        return
    _, shape = figurine.printable_silhouette(luminance, mask, width_mm)
    assert_one_standing_body(mesh, shape, width_mm)


# --- the surface itself -------------------------------------------------------------------


def test_samples_exactly_on_the_surface_still_give_a_closed_surface() -> None:
    # a ball of radius 5 on the integer grid: 30 samples lie exactly on it ((5, 0, 0), (3, 4, 0)...)
    grid = np.mgrid[-8:9, -8:9, -8:9].astype(np.float32)
    field = np.float32(5.0) - np.sqrt((grid**2).sum(axis=0))
    assert (field == 0).sum() == 30
    mesh = figurine.closed_surface(field, (1.0, 1.0, 1.0))
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.body_count == 1
    assert mesh.area_faces.min() > 0
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 5**3, rel=0.05)


def test_a_field_with_nothing_inside_is_refused_not_meshed() -> None:
    with pytest.raises(GenerationFailed, match="nothing to mesh"):
        figurine.closed_surface(np.full((4, 4, 4), -1.0, dtype=np.float32), (1.0, 1.0, 1.0))


# --- a job whose figurine cannot be made ----------------------------------------------------


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_figurine_that_cannot_be_made_fails_its_model_once_with_the_reason(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, _png(synthetic_photo(17, 311))).json()["id"]
    body = {"mode": "figurine", "max_resolution": 128, "width_mm": 100.0}
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)
    assert r.status_code == 202, r.text
    assert worker.run_until_idle() == 1
    model = client.get(f"/api/v1/models/{r.json()['id']}", headers=headers).json()
    assert model["status"] == "failed"
    assert "mm tall" in model["error"] and "choose a smaller width" in model["error"]
    assert model["formats"] == []
    with container.uow(write=False) as uow:
        job = uow.session.scalars(select(Job)).one()
        assert (job.status, job.attempts) == ("failed", 1)  # final at once: no retry loop
    assert worker.run_until_idle() == 0
