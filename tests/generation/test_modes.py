"""The mode of a model (relief | lithophane | figurine): chosen over the API, stored with the
model, the older `lithophane` flag still meaning what it meant, every bad value refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minimaker.entrypoints.worker import Worker
from minimaker.generation.relief import ReliefParams, relief_from_image
from minimaker.kernel.container import Container
from minimaker.kernel.errors import GenerationFailed, ValidationFailed
from tests.conftest import photo_bytes, signup_and_login
from tests.generation.photos import synthetic_portrait
from tests.uploads.test_api import _counts, _upload


def portrait_png() -> bytes:
    out = io.BytesIO()
    synthetic_portrait().save(out, "PNG")
    return out.getvalue()


# --- parameters ---------------------------------------------------------------------------


def test_the_old_lithophane_flag_still_means_the_lithophane_mode() -> None:
    assert ReliefParams(lithophane=True).mode == "lithophane"
    assert ReliefParams().mode == "relief"
    assert ReliefParams(mode="lithophane").lithophane is True
    assert ReliefParams(mode="figurine").lithophane is False
    stored = {"width_mm": 100.0, "base_mm": 2.0, "max_relief_mm": 3.0, "max_resolution": 64}
    old = ReliefParams.from_mapping({**stored, "lithophane": True})  # a model stored before modes
    assert old.mode == "lithophane"
    assert ReliefParams.from_mapping(old.to_dict()) == old


@pytest.mark.parametrize("value", ["none", "Relief", "bust", " relief", 1, None, True, ["relief"]])
def test_an_unknown_mode_is_refused(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ReliefParams.from_mapping({"mode": value})
    assert caught.value.field == "mode"


@pytest.mark.parametrize("mode", ["relief", "figurine"])
def test_lithophane_true_with_another_mode_is_a_contradiction_refused(mode: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ReliefParams.from_mapping({"mode": mode, "lithophane": True})
    assert caught.value.field == "lithophane"


# --- every mode makes a closed solid ------------------------------------------------------


@st.composite
def small_photos(draw: st.DrawFn) -> Image.Image:
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    pixels = draw(st.binary(min_size=3 * width * height, max_size=3 * width * height))
    return Image.frombytes("RGB", (width, height), pixels)


@settings(max_examples=25, deadline=None, database=None)
@given(photo=small_photos(), mode=st.sampled_from(["relief", "lithophane", "figurine"]))
def test_any_small_photo_gives_a_closed_solid_in_every_mode(photo: Image.Image, mode: str) -> None:
    params = ReliefParams(mode=mode, width_mm=30.0, max_resolution=32)
    try:
        mesh = relief_from_image(photo, params)
    except GenerationFailed as exc:  # only a sliver of a photo, far taller than wide
        assert "mm" in exc.message and photo.height > 4 * photo.width, exc.message
        return
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert mesh.bounds[0] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    if mode == "figurine":
        assert mesh.body_count == 1
    else:
        assert mesh.bounds[1][2] <= params.base_mm + params.max_relief_mm + 1e-9


@pytest.mark.parametrize("colour", [0, 128, 255])
def test_a_photo_of_one_colour_still_gives_a_relief_and_a_figurine(colour: int) -> None:
    photo = Image.new("RGB", (90, 60), (colour, colour, colour))
    for mode in ("relief", "figurine"):
        mesh = relief_from_image(photo, ReliefParams(mode=mode))
        assert mesh.is_watertight, mode


# --- over the API -------------------------------------------------------------------------


def _model(client: TestClient, headers: dict[str, str], model_id: str) -> dict[str, object]:
    r = client.get(f"/api/v1/models/{model_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


@pytest.mark.parametrize(
    ("body", "mode"),
    [
        ({}, "relief"),
        ({"lithophane": True}, "lithophane"),  # the API before modes
        ({"lithophane": False}, "relief"),
        ({"mode": "lithophane"}, "lithophane"),
        ({"mode": "figurine"}, "figurine"),
        ({"mode": "figurine", "lithophane": False}, "figurine"),
    ],
)
def test_a_model_is_made_in_the_mode_asked_for(
    client: TestClient, worker: Worker, body: dict[str, object], mode: str
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, portrait_png()).json()["id"]
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["params"]["mode"] == mode
    assert r.json()["params"]["lithophane"] is (mode == "lithophane")
    worker.run_until_idle()
    model = _model(client, headers, r.json()["id"])
    assert model["status"] == "done", model["error"]
    stl = client.get(f"/api/v1/models/{r.json()['id']}/content?format=stl", headers=headers)
    mesh = trimesh.load(io.BytesIO(stl.content), file_type="stl", force="mesh")
    assert mesh.is_watertight
    if mode == "figurine":
        assert mesh.extents[2] > mesh.extents[1]  # it stands up
    else:
        assert mesh.extents[2] < mesh.extents[1]  # it lies flat


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "bust"},
        {"mode": ""},
        {"mode": None, "lithophane": "yes"},
        {"mode": 3},
        {"mode": ["relief"]},
        {"mode": "relief", "lithophane": True},
        {"mode": "figurine", "lithophane": True},
    ],
)
def test_a_bad_mode_is_refused_with_422_and_writes_nothing(
    client: TestClient, container: Container, body: dict[str, object]
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    before = _counts(container)
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)
    assert r.status_code == 422, (body, r.text)
    assert _counts(container) == before


def test_the_colour_grid_matches_the_luminance_grid_in_size_and_orientation() -> None:
    from minimaker.generation.relief import colour_grid, luminance_grid

    photo = Image.new("RGB", (300, 120), (10, 20, 30))
    photo.paste((250, 0, 0), (0, 0, 20, 20))  # a red top-left corner
    for resolution in (64, 512):
        rgb, grey = colour_grid(photo, resolution), luminance_grid(photo, resolution)
        assert rgb.shape[:2] == grey.shape
        assert rgb[0, 0, 0] > 200 and rgb[-1, -1, 0] < 20
    assert np.asarray(colour_grid(photo.convert("RGBA"), 64)).shape == (26, 64, 3)


def test_a_figurine_stands_on_a_base_as_thick_as_asked_and_never_thinner_than_2_mm() -> None:
    photo = synthetic_portrait()
    thin = relief_from_image(photo, ReliefParams(mode="figurine", base_mm=0.5))
    thick = relief_from_image(photo, ReliefParams(mode="figurine", base_mm=6.0))
    assert thick.extents[2] - thin.extents[2] == pytest.approx(4.0, abs=1.0)  # 6 mm vs 2 mm
    assert thin.is_watertight and thick.is_watertight
