"""One renderer answers every error: JSON on the API, pages elsewhere, a page where declared."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints import errors
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    CsrfFailed,
    KeyUnavailable,
    MiniMakerError,
    NotFound,
    TooManyAttempts,
    ValidationFailed,
)
from minimaker.staff import service as staff
from tests.browser import (
    COOKIE_DOMAIN,
    api_headers,
    form_token,
    set_cookie_headers,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes, signup_and_login

MISSING = "0" * 32


@pytest.mark.parametrize(
    ("error", "status", "headers", "detail"),
    [
        (ValidationFailed("email", "is not valid"), 422, {}, {"field": "email"}),
        (NotFound("upload"), 404, {}, {}),
        (CsrfFailed(), 403, {}, {}),
        (TooManyAttempts(30), 429, {"Retry-After": "30"}, {}),
        (KeyUnavailable("gone"), 500, {}, {}),
    ],
)
def test_each_error_answers_with_its_own_status_headers_and_detail(
    error: MiniMakerError, status: int, headers: dict[str, str], detail: dict[str, str]
) -> None:
    found = errors.answer(error)
    assert (found.status, found.code, found.message) == (status, error.code, error.message)
    assert dict(found.headers) == headers
    assert dict(found.detail) == detail


def test_a_missing_token_on_the_api_is_json_with_the_bearer_challenge(client: TestClient) -> None:
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "error": {"code": "not_authenticated", "message": "authentication required"}
    }


def test_a_wrong_method_is_json_on_the_api_and_a_page_elsewhere(client: TestClient) -> None:
    api = client.delete("/api/v1/privacy/policy")
    assert api.status_code == 405
    assert api.json()["error"] == {"code": "http_error", "message": "Method Not Allowed"}
    assert api.headers["allow"] == "GET, HEAD"
    page = client.get("/logout")
    assert page.status_code == 405
    assert page.headers["allow"] == "POST"
    assert "This address does not take that kind of request." in page.text


def test_an_emailed_link_that_cannot_be_used_answers_a_browser_with_a_page(
    client: TestClient,
) -> None:
    path = "/api/v1/privacy/verify/not-a-link"
    for page in (client.get(path), client.post(path, headers={"Accept": "text/html"})):
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert "This link cannot be used" in page.text
        assert "confirmation link not found" in page.text
    # An API client confirming the same link is answered in JSON.
    api = client.post(path)
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_a_failure_on_our_side_is_logged_and_shown_to_a_person_without_its_details(
    client: TestClient, container: Container, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    signed_in(client)
    headers = api_headers(client)
    upload(client, photo_bytes())
    [photo] = client.get("/api/v1/uploads", headers=headers).json()
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    container.keys.destroy_subject_key(user_id, now=clock.now())
    caplog.set_level(logging.ERROR, logger="minimaker.http")

    api = client.get(f"/api/v1/uploads/{photo['id']}/content", headers=headers)
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "key_unavailable"
    page = client.get(f"/app/uploads/{photo['id']}/content")
    assert page.status_code == 500
    assert "Something went wrong on our side; please try later." in page.text
    assert "key unavailable" not in page.text and api.json()["error"]["message"] not in page.text
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        "key_unavailable on GET /api/v1/uploads/{upload_id}/content",
        "key_unavailable on GET /app/uploads/{upload_id}/content",
    ]


def test_an_ended_staff_session_meets_the_staff_sign_in_and_its_cookie_is_forgotten(
    client: TestClient,
) -> None:
    client.cookies.set("mm_staff", "ended", domain=COOKIE_DOMAIN, path="/admin")
    r = client.get("/admin", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login?ended=session")
    (cleared,) = set_cookie_headers(r, "mm_staff")
    assert "Max-Age=0" in cleared and "Path=/admin" in cleared
    assert "Your staff session ended" in client.get(r.headers["location"]).text


def test_staff_sign_in_refusals_carry_the_same_retry_after_as_the_api(
    client: TestClient, container: Container
) -> None:
    staff.create_staff(container, by=None, username="dora", password="x" * 20, role="dpo")
    limit = container.settings.login_max_failures
    for _ in range(limit):
        data = {"csrf": form_token(client, "/admin/login"), "username": "dora", "password": "no"}
        assert client.post("/admin/login", data=data).status_code == 401
    data = {"csrf": form_token(client, "/admin/login"), "username": "dora", "password": "x" * 20}
    refused = client.post("/admin/login", data=data, follow_redirects=False)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "mm_staff" not in client.cookies


def test_a_body_over_the_limit_is_refused_by_the_same_renderer_and_the_connection_closed(
    client: TestClient,
) -> None:
    headers = signup_and_login(client)
    big = b"\0" * (3 * 1024 * 1024)
    api = client.post("/api/v1/uploads", headers=headers, files={"file": ("p", big)})
    assert api.status_code == 413
    assert api.headers["connection"] == "close"
    assert api.json()["error"]["code"] == "payload_too_large"
    page = client.post("/app/uploads", files={"file": ("p", big)})
    assert page.status_code == 413
    assert page.headers["connection"] == "close"
    assert "<h1>Too large</h1>" in page.text
    assert page.headers["cache-control"] == "private, no-store"


def test_a_route_that_declares_no_page_keeps_json_under_the_api(client: TestClient) -> None:
    r = client.get(f"/api/v1/privacy/requests/{MISSING}/download")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
