"""Another user's photo or model answers exactly like one that does not exist."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from tests.browser import (
    api_headers,
    form_token,
    generate,
    model_ids,
    photo_ids,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes

MISSING = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def ada_ids(client: TestClient, worker: Worker) -> tuple[str, str]:
    """Ada's photo id and finished model id."""
    signed_in(client, "ada")
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    generate(client, photo_id)
    worker.run_until_idle()
    (model_id,) = model_ids(client.get("/app").text)
    return photo_id, model_id


def _answer(browser: TestClient, method: str, path: str) -> tuple[int, str]:
    if method == "GET":
        r = browser.get(path, follow_redirects=False)
    else:
        data = {"csrf": form_token(browser, "/app"), "width_mm": "40", "base_mm": "2"}
        data["max_relief_mm"] = "3"
        r = browser.post(path, data=data, follow_redirects=False)
    return r.status_code, r.text


ROUTES = [
    ("GET", "/app/uploads/{photo}/content"),
    ("POST", "/app/uploads/{photo}/models"),
    ("POST", "/app/uploads/{photo}/delete"),
    ("GET", "/app/models/{model}/download?format=stl"),
    ("POST", "/app/models/{model}/delete"),
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_another_users_id_answers_like_a_missing_one_and_changes_nothing(
    client: TestClient,
    other_browser: TestClient,
    ada_ids: tuple[str, str],
    method: str,
    route: str,
) -> None:
    photo_id, model_id = ada_ids
    signed_in(other_browser, "mallory")
    theirs = _answer(other_browser, method, route.format(photo=photo_id, model=model_id))
    missing = _answer(other_browser, method, route.format(photo=MISSING, model=MISSING))
    assert theirs[0] == missing[0] == 404
    assert theirs[1] == missing[1]
    assert "not found" in theirs[1]

    headers = api_headers(client, "ada")
    assert [u["id"] for u in client.get("/api/v1/uploads", headers=headers).json()] == [photo_id]
    assert [m["id"] for m in client.get("/api/v1/models", headers=headers).json()] == [model_id]
    mallory = api_headers(client, "mallory")
    assert client.get("/api/v1/models", headers=mallory).json() == []


def test_an_id_that_is_not_an_id_is_simply_not_found(client: TestClient) -> None:
    signed_in(client)
    for path in ("/app/uploads/..%2F..%2Fetc/content", "/app/models/<script>/download"):
        r = client.get(path)
        assert r.status_code == 404
        assert "<script>" not in r.text
