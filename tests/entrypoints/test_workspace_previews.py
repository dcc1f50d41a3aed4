"""The workspace offers the three kinds of model and shows a preview of each finished one on
its card (issue 12, items 1 and 3): drawn on the server from the model, for its owner only."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from minimaker.entrypoints.worker import Worker
from tests.browser import api_headers, generate, model_ids, photo_ids, signed_in, upload
from tests.conftest import photo_bytes


def _made(client: TestClient, worker: Worker, mode: str) -> str:
    signed_in(client)
    upload(client, photo_bytes(width=64, height=64))
    (photo_id,) = photo_ids(client.get("/app").text)
    assert generate(client, photo_id, mode=mode).status_code == 303
    worker.run_until_idle()
    (model_id,) = model_ids(client.get("/app").text)
    return model_id


@pytest.mark.parametrize("mode", ["relief", "lithophane", "figurine"])
def test_each_kind_is_offered_made_and_previewed_on_its_card(
    client: TestClient, worker: Worker, mode: str
) -> None:
    model_id = _made(client, worker, mode)
    page = client.get("/app").text
    assert f'name="mode" value="{mode}"' in page
    (made,) = client.get("/api/v1/models", headers=api_headers(client)).json()
    assert made["status"] == "done" and made["params"]["mode"] == mode
    assert f'src="/app/models/{model_id}/preview.png"' in page
    assert (f"/app/models/{model_id}/preview.png?view=backlit" in page) is (mode == "lithophane")
    r = client.get(f"/app/models/{model_id}/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, no-store"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "PNG" and min(image.size) > 16
    grey = image.convert("L")
    assert len(grey.getcolors(maxcolors=256) or []) > 8  # shaded, not one flat colour


def test_a_preview_of_someone_elses_or_an_unknown_model_is_not_found_and_a_bad_view_is_422(
    client: TestClient, other_browser: TestClient, worker: Worker
) -> None:
    model_id = _made(client, worker, "relief")
    signed_in(other_browser, "grace")
    for target in (model_id, "0" * 32, "not-an-id"):
        assert other_browser.get(f"/app/models/{target}/preview.png").status_code == 404
    assert client.get(f"/app/models/{model_id}/preview.png?view=xray").status_code == 422
    assert client.get(f"/app/models/{model_id}/preview.png?view={'x' * 9}").status_code == 422


def test_an_unknown_kind_is_refused_beside_the_form_and_nothing_is_queued(
    client: TestClient,
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    r = generate(client, photo_id, mode="statue")
    assert r.status_code == 422 and "must be one of relief, lithophane, figurine" in r.text
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []


def test_the_heights_of_a_photo_can_be_seen_before_generating_by_its_owner_only(
    client: TestClient, other_browser: TestClient
) -> None:
    signed_in(client)
    upload(client, photo_bytes(width=64, height=64))
    (photo_id,) = photo_ids(client.get("/app").text)
    page = client.get("/app").text
    for mode in ("relief", "lithophane", "figurine"):
        link = f"/app/uploads/{photo_id}/preview.png?mode={mode}"
        assert f'href="{link}"' in page
        r = client.get(link)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", mode
        assert Image.open(io.BytesIO(r.content)).format == "PNG"
    assert client.get(f"/app/uploads/{photo_id}/preview.png?mode=statue").status_code == 422
    signed_in(other_browser, "grace")
    for target in (photo_id, "0" * 32, "not-an-id"):
        assert other_browser.get(f"/app/uploads/{target}/preview.png").status_code == 404
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []  # nothing made
