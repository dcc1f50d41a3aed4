"""Every answer carries the security headers: API and pages, success, redirect and error alike.

Each header is checked by its exact value, on each kind of answer the app gives, so removing
the middleware, or one header from it, or loosening one directive, fails here.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import signup_and_login

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}

#: (method, path, expected status): an answer of each kind the app gives.
PAGE_ANSWERS = [
    ("GET", "/", 200),
    ("GET", "/login", 200),
    ("GET", "/privacy-policy", 200),
    ("GET", "/app", 303),  # no session: to sign-in
    ("GET", "/no-such-page", 404),
    ("GET", "/static/site.css", 200),
    ("DELETE", "/login", 405),
]
API_ANSWERS = [
    ("GET", "/api/v1/privacy/policy", 200),
    ("GET", "/api/v1/me", 401),
    ("GET", "/api/v1/no-such-route", 404),
    ("DELETE", "/api/v1/privacy/policy", 405),
    ("GET", "/api/v1/openapi.json", 200),
]


def _assert_security_headers(r: object, where: str) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, f"{where}: {name} is {headers.get(name)!r}"


@pytest.mark.parametrize(("method", "path", "status"), PAGE_ANSWERS + API_ANSWERS)
def test_every_kind_of_answer_carries_every_security_header(
    client: TestClient, method: str, path: str, status: int
) -> None:
    r = client.request(method, path, follow_redirects=False)
    assert r.status_code == status, r.text
    _assert_security_headers(r, f"{method} {path}")


@pytest.mark.parametrize(("method", "path", "status"), API_ANSWERS)
def test_api_answers_are_never_stored_by_a_browser_or_proxy(
    client: TestClient, method: str, path: str, status: int
) -> None:
    r = client.request(method, path)
    assert r.status_code == status
    assert "no-store" in r.headers["cache-control"]


def test_signed_in_api_and_page_answers_carry_them_too(client: TestClient) -> None:
    headers = signup_and_login(client)
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    _assert_security_headers(me, "GET /api/v1/me")
    assert me.headers["cache-control"] == "no-store"
    bad = client.patch("/api/v1/me", json={"name": 7}, headers=headers)
    assert bad.status_code == 422
    _assert_security_headers(bad, "PATCH /api/v1/me (422)")


def test_a_body_refused_before_the_route_runs_carries_them(client: TestClient) -> None:
    # The 413 is answered by the body-size middleware itself, before any route.
    too_big = client.post(
        "/api/v1/auth/signup",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413
    _assert_security_headers(too_big, "POST /api/v1/auth/signup (413)")
    wrong_type = client.post(
        "/api/v1/auth/signup", content=b"x", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    _assert_security_headers(wrong_type, "POST /api/v1/auth/signup (415)")
