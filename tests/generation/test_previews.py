"""Previews drawn on the server: Lambert-shaded height fields, back-lit lithophanes, a stored
model seen from above or in front, and a photo's heights before generating; over the API
with the content routes' ownership (someone else's id is not found) and bad input refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from minimaker.accounts import service as accounts
from minimaker.entrypoints.worker import Worker
from minimaker.generation import preview, previews
from minimaker.generation.export import export_mesh
from minimaker.generation.relief import ReliefParams, relief_from_image
from minimaker.kernel.container import Container
from tests.conftest import photo_bytes, signup_and_login
from tests.generation.photos import synthetic_portrait
from tests.generation.test_relief import gradient, height_grid
from tests.rights import test_purpose_use_cases as gate
from tests.rights.test_purpose_use_cases import (  # the gate's own test helpers
    Narrowing,
    _refused_writing_nothing,
    _restrict,
    _with_model,
    _with_photo,
)
from tests.uploads.test_api import _upload

narrowed = gate.narrowed  # the fixture: a container whose policy leaves a category out

# --- the drawing --------------------------------------------------------------------------


def test_a_flat_field_is_evenly_lit_and_a_slope_to_the_light_is_brighter() -> None:
    flat = np.asarray(preview.shaded(np.zeros((20, 30)), 1.0))
    assert np.ptp(flat) == 0
    ramp = np.tile(np.linspace(0, 10, 30), (20, 1))  # rises to the right: faces the left
    towards = np.asarray(preview.shaded(ramp, 1.0))
    away = np.asarray(preview.shaded(ramp[:, ::-1], 1.0))
    assert towards.mean() > flat.mean() > away.mean()


def test_pixels_outside_the_model_are_white() -> None:
    valid = np.zeros((10, 10), dtype=bool)
    valid[3:7, 3:7] = True
    grey = np.asarray(preview.shaded(np.ones((10, 10)), 1.0, valid))
    assert (grey[~valid] == 255).all() and (grey[valid] < 255).all()


def test_back_light_dims_as_the_print_thickens() -> None:
    thickness = np.tile(np.linspace(0.8, 3.8, 50), (5, 1))
    light = np.asarray(preview.backlit(thickness), dtype=float)
    assert light[0, 0] == 255
    assert np.all(np.diff(light[0]) <= 0)
    np.testing.assert_allclose(preview.transmitted(np.array([0.0, 1.0]), 0.7), [1.0, np.exp(-0.7)])


def test_a_relief_seen_from_above_through_its_stl_is_its_height_grid() -> None:
    photo = gradient(60, 40)
    mesh = relief_from_image(photo, ReliefParams(mode="lithophane", width_mm=59.0))
    stl = export_mesh(mesh, "stl")
    blocks = [stl[i : i + 777] for i in range(0, len(stl), 777)]  # records split across blocks
    depth, valid, pixel = preview.stl_depth_map(lambda: blocks, "top", side=60)
    assert valid.all() and depth.shape == (40, 60) and pixel == pytest.approx(1.0)
    # each pixel keeps the highest sample within half a pixel of it: on a slope, a little more
    np.testing.assert_allclose(depth, height_grid(mesh), atol=0.15)


def test_a_figurine_seen_from_the_front_covers_its_silhouette_only() -> None:
    mesh = relief_from_image(synthetic_portrait(), ReliefParams(mode="figurine"))
    stl = export_mesh(mesh, "stl")
    _, valid, _ = preview.stl_depth_map(lambda: [stl], "front")
    assert 0.3 < valid.mean() < 0.95  # the figure and its base, not the whole frame
    assert valid[-3:, :].mean() > 0.9  # the base along the bottom


def test_a_broken_stl_is_refused() -> None:
    stl = export_mesh(relief_from_image(gradient(8, 8), ReliefParams()), "stl")
    with pytest.raises(Exception, match="binary STL"):
        preview.stl_depth_map(lambda: [stl[:-7]], "top")


def png_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert not image.info.get("dpi") and not getattr(image, "text", {})  # pixels only
    return image


# --- over the API -------------------------------------------------------------------------


def _made(client: TestClient, worker: Worker, headers: dict[str, str], **body: object) -> str:
    out = io.BytesIO()
    synthetic_portrait().save(out, "PNG")
    upload_id = _upload(client, headers, out.getvalue()).json()["id"]
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)
    assert r.status_code == 202, r.text
    worker.run_until_idle()
    return str(r.json()["id"])


@pytest.mark.parametrize(
    ("body", "view"),
    [({}, "shaded"), ({"mode": "lithophane"}, "backlit"), ({"mode": "figurine"}, "shaded")],
)
def test_a_made_model_has_a_png_preview(
    client: TestClient, worker: Worker, body: dict[str, object], view: str
) -> None:
    headers = signup_and_login(client)
    model_id = _made(client, worker, headers, **body)
    r = client.get(f"/api/v1/models/{model_id}/preview.png?view={view}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, no-store"
    image = png_of(r.content)
    assert max(image.size) == preview.PREVIEW_SIDE
    assert np.ptp(np.asarray(image)) > 50  # something is drawn


def test_a_preview_of_someone_elses_or_no_model_is_not_found(
    client: TestClient, worker: Worker
) -> None:
    owner = signup_and_login(client)
    model_id = _made(client, worker, owner)
    other = signup_and_login(client, username="grace")
    for target, headers in ((model_id, other), ("0" * 32, owner), ("not-an-id", owner)):
        r = client.get(f"/api/v1/models/{target}/preview.png", headers=headers)
        assert r.status_code == 404, r.text
    assert client.get(f"/api/v1/models/{model_id}/preview.png").status_code == 401


@pytest.mark.parametrize("view", ["", "SHADED", "xray", "shaded "])
def test_an_unknown_view_is_refused_with_422(client: TestClient, worker: Worker, view: str) -> None:
    headers = signup_and_login(client)
    model_id = _made(client, worker, headers)
    r = client.get(f"/api/v1/models/{model_id}/preview.png", params={"view": view}, headers=headers)
    assert r.status_code == 422, r.text


def test_a_figurine_has_no_backlit_view_and_a_queued_model_no_preview(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    figurine = _made(client, worker, headers, mode="figurine")
    r = client.get(f"/api/v1/models/{figurine}/preview.png?view=backlit", headers=headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "view"
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    queued = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    assert client.get(f"/api/v1/models/{queued}/preview.png", headers=headers).status_code == 409


@pytest.mark.parametrize("mode", ["relief", "lithophane", "figurine"])
def test_a_photo_has_a_preview_of_its_heights_in_each_mode(client: TestClient, mode: str) -> None:
    headers = signup_and_login(client)
    out = io.BytesIO()
    synthetic_portrait().save(out, "PNG")
    upload_id = _upload(client, headers, out.getvalue()).json()["id"]
    r = client.get(f"/api/v1/uploads/{upload_id}/preview.png?mode={mode}", headers=headers)
    assert r.status_code == 200, r.text
    image = png_of(r.content)
    assert image.size == (256, 192)  # the 320 x 240 portrait at the preview grid
    assert np.ptp(np.asarray(image)) > 50


def test_a_photo_preview_of_someone_elses_upload_or_a_bad_mode_is_refused(
    client: TestClient,
) -> None:
    owner = signup_and_login(client)
    upload_id = _upload(client, owner, photo_bytes()).json()["id"]
    other = signup_and_login(client, username="grace")
    r = client.get(f"/api/v1/uploads/{upload_id}/preview.png", headers=other)
    assert r.status_code == 404, r.text
    assert client.get("/api/v1/uploads/nope/preview.png", headers=owner).status_code == 404
    for mode in ("bust", "", "Relief"):
        r = client.get(f"/api/v1/uploads/{upload_id}/preview.png?mode={mode}", headers=owner)
        assert r.status_code == 422, (mode, r.text)


def test_a_restricted_subject_gets_no_photo_preview_but_sees_their_models(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers = signup_and_login(client)
    model_id = _made(client, worker, headers)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    with container.uow() as uow:  # as the restriction fulfiller does (Art. 18)
        accounts.set_restricted(uow, user_id=user_id, since=container.clock.now())
        uow.commit()
    r = client.get(f"/api/v1/uploads/{upload_id}/preview.png", headers=headers)
    assert r.status_code == 403, r.text
    # a photo's preview is processing for generation, refused as generating is; a model's
    # preview shows what is stored, as its download does (purpose: service)
    assert client.get(f"/api/v1/models/{model_id}/preview.png", headers=headers).status_code == 200


# --- the purpose gate (tests/test_purpose_calls.py lists these) -----------------------------


def test_model_preview_is_refused_and_no_read_is_recorded(
    container: Container, worker: Worker, narrowed: Narrowing
) -> None:
    user_id, model_id = _with_model(container, worker)
    c = narrowed("generated_model")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: previews.model_preview(c, user_id=user_id, model_id=model_id, view="shaded"),
    )


def test_photo_preview_is_refused_while_restricted_and_no_read_is_recorded(
    container: Container,
) -> None:
    user_id, upload_id = _with_photo(container)
    _restrict(container, user_id)
    _refused_writing_nothing(
        container,
        user_id,
        "purpose:generation:restricted",
        lambda: previews.photo_preview(
            c=container, user_id=user_id, upload_id=upload_id, mode="relief"
        ),
    )
