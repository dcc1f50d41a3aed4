"""The upload form as upload.js sends it (Accept: application/json): the new photo's card to
put in place, or the refusal in the very words the page without script shows, beside the
field; nothing is stored on a refusal, and another session's form token is refused."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from minimaker.settings import Settings
from tests.browser import (
    SESSION_COOKIE,
    api_headers,
    csrf_on,
    form_token,
    photo_ids,
    put_cookie,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes

SCRIPT = {"Accept": "application/json"}


def scripted_upload(
    browser: TestClient, data: bytes, *, token: str | None = None, filename: str = "photo.png"
) -> Response:
    return browser.post(
        "/app/uploads",
        data={"csrf": token or form_token(browser, "/app")},
        files={"file": (filename, data, "application/octet-stream")},
        headers=SCRIPT,
        follow_redirects=False,
    )


def stored(browser: TestClient, username: str = "ada") -> list[object]:
    r = browser.get("/api/v1/uploads", headers=api_headers(browser, username))
    assert r.status_code == 200
    return list(r.json())


def test_a_scripted_upload_answers_the_card_the_page_then_shows(client: TestClient) -> None:
    signed_in(client)
    r = scripted_upload(client, photo_bytes())
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "private, no-store"
    body = r.json()
    assert photo_ids(body["card"]) == [body["id"]]
    assert f'action="/app/uploads/{body["id"]}/models"' in body["card"]
    # Its generate form carries this page's CSRF token, so it works once put in place.
    assert csrf_on(body["card"]) == form_token(client, "/app")
    assert body["card"].strip() in client.get("/app").text
    assert [u["id"] for u in stored(client)] == [body["id"]]  # type: ignore[index]


def test_the_workspace_tells_the_script_the_size_limit_and_its_words(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    page = client.get("/app").text
    assert f'data-max-bytes="{settings.max_upload_bytes}"' in page
    words = "This photo is larger than the 2.1 MB a photo may be."
    assert re.search(rf'data-too-large="{re.escape(words)} Choose a smaller one', page)
    assert "JPEG, PNG or WebP, up to 2.1 MB." in page  # the hint counts as the refusal does
    assert '<script src="/static/upload.js" defer></script>' in page
    script = client.get("/static/upload.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def _same_words_as_the_page(client: TestClient, data: bytes, filename: str) -> str:
    scripted = scripted_upload(client, data, filename=filename)
    page = upload(client, data, filename)
    assert scripted.status_code == page.status_code
    error = scripted.json()["error"]
    assert error["field"] == "file"
    assert html.escape(error["message"], quote=False) in page.text
    return str(error["message"])


@pytest.mark.parametrize(
    ("data", "status", "start"),
    [
        (b"%PDF-1.4 not a photo", 415, "This file is not a photo we can use"),
        (b"\xff" * (2 * 1024 * 1024 + 1), 413, "This photo is larger than the 2.1 MB"),
        (b"", 422, "Photo is required"),
    ],
    ids=["wrong-type", "oversized", "empty"],
)
def test_a_refused_scripted_upload_says_what_the_page_says_and_stores_nothing(
    client: TestClient, data: bytes, status: int, start: str
) -> None:
    signed_in(client)
    r = scripted_upload(client, data)
    assert r.status_code == status
    assert r.json()["error"]["message"].startswith(start), r.json()
    _same_words_as_the_page(client, data, "photo.png")
    assert stored(client) == []


def test_a_full_quota_answers_the_script_with_the_pages_words(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    settings.storage_quota_bytes = 100
    message = _same_words_as_the_page(client, photo_bytes(), "photo.png")
    assert message.startswith("Your storage is full")
    assert stored(client) == []


def test_an_ended_session_is_sent_to_sign_in_and_nothing_is_stored(client: TestClient) -> None:
    signed_in(client)
    token, session = form_token(client, "/app"), client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    put_cookie(client, SESSION_COOKIE, session)  # the page was open when the session ended
    r = scripted_upload(client, photo_bytes(), token=token)
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=session")
    assert stored(client, "ada") == []


def test_another_sessions_form_token_is_refused_and_nothing_is_stored(
    client: TestClient, other_browser: TestClient
) -> None:
    signed_in(client, "ada")
    signed_in(other_browser, "grace")
    adas_token = form_token(client, "/app")
    r = scripted_upload(other_browser, photo_bytes(), token=adas_token)
    assert r.status_code == 403
    assert "card" not in r.text
    assert stored(client, "ada") == [] and stored(other_browser, "grace") == []
