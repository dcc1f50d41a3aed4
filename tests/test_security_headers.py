"""Every answer carries the security headers: API and pages, success, redirect and error alike.

Each header is checked by its exact value, on each kind of answer the app gives, so removing
the middleware, or one header from it, or loosening one directive, fails here. Over HTTPS
(directly, or as a trusted proxy says) HSTS joins them and every cookie is Secure; over plain
HTTP there is no HSTS (RFC 6797 8.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest
from fastapi.testclient import TestClient

from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.browser import log_in, sign_up
from tests.conftest import signup_and_login

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    # The `client` fixture speaks HTTPS, as a browser in production does.
    "strict-transport-security": "max-age=63072000; includeSubDomains",
}
HSTS = "strict-transport-security"

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


# --- HTTPS: HSTS and Secure cookies -------------------------------------------------------

PROXY = ("10.0.0.7", 40000)  # a reverse proxy's address, as the peer of the request


class MakeClient(Protocol):
    def __call__(
        self, base_url: str, client: tuple[str, int] = ..., **update: object
    ) -> TestClient: ...


@pytest.fixture
def app_with(settings: Settings, clock: ManualClock) -> Iterator[MakeClient]:
    """Clients of the app on `settings` changed by `update`, at `base_url`, from peer `client`."""
    built: list[Container] = []

    def make(
        base_url: str, client: tuple[str, int] = ("testclient", 50000), **update: object
    ) -> TestClient:
        c = build(settings.model_copy(update=update), clock=clock)
        built.append(c)
        return TestClient(create_app(c, worker=False), base_url=base_url, client=client)

    yield make
    for c in built:
        c.close()


@pytest.mark.parametrize(("method", "path", "status"), PAGE_ANSWERS + API_ANSWERS)
def test_no_answer_over_plain_http_carries_hsts_but_every_other_header(
    app_with: MakeClient,
    method: str,
    path: str,
    status: int,
) -> None:
    with app_with("http://testserver") as plain:
        r = plain.request(method, path, follow_redirects=False)
    assert r.status_code == status
    assert HSTS not in r.headers
    for name, value in EXPECTED.items():
        if name != HSTS:
            assert r.headers.get(name) == value, f"{method} {path}: {name}"


@pytest.mark.parametrize(
    ("header", "forwarded", "hsts"),
    [
        ("x-forwarded-for", {"x-forwarded-proto": "https"}, True),
        ("x-forwarded-for", {"x-forwarded-proto": "http"}, False),
        ("x-forwarded-for", {}, False),
        # The client wrote the left value; our proxy appended the right-most one.
        ("x-forwarded-for", {"x-forwarded-proto": "https, http"}, False),
        ("forwarded", {"forwarded": "for=192.0.2.60;proto=https"}, True),
        ("forwarded", {"forwarded": 'for="[2001:db8::1]";proto=http'}, False),
        ("forwarded", {"forwarded": "proto=https, for=192.0.2.60;proto=http"}, False),
        # Behind an RFC 7239 proxy, an X-Forwarded-Proto is the client's own claim.
        ("forwarded", {"x-forwarded-proto": "https"}, False),
    ],
)
def test_a_trusted_proxy_that_says_https_gets_hsts_and_only_if_it_says_so(
    app_with: MakeClient,
    header: str,
    forwarded: dict[str, str],
    hsts: bool,
) -> None:
    behind = app_with(
        "http://testserver", PROXY, trusted_proxies=["10.0.0.0/24"], forwarded_header=header
    )
    with behind:
        r = behind.get("/api/v1/me", headers=forwarded)
    assert r.status_code == 401  # an error answer too: HSTS is on every one
    assert (r.headers.get(HSTS) == EXPECTED[HSTS]) is hsts


def test_a_client_that_is_not_a_trusted_proxy_cannot_claim_https(app_with: MakeClient) -> None:
    # The peer is 192.0.2.9, outside the trusted network: its header is its own word.
    stranger = app_with(
        "http://testserver", ("192.0.2.9", 1), trusted_proxies=["10.0.0.0/24"], cookie_secure=False
    )
    with stranger:
        r = stranger.get("/", headers={"x-forwarded-proto": "https"})
    assert HSTS not in r.headers
    assert "secure" not in r.headers["set-cookie"].lower()
    without_proxies = app_with("http://testserver", PROXY)  # none declared: nobody's word
    with without_proxies:
        assert HSTS not in without_proxies.get("/", headers={"x-forwarded-proto": "https"}).headers


def _secure(set_cookie: str) -> bool:
    return "secure" in {a.strip().lower() for a in set_cookie.split(";")[1:]}


def test_over_https_every_cookie_is_secure_even_with_cookie_secure_off(
    app_with: MakeClient,
) -> None:
    with app_with("https://testserver", cookie_secure=False) as browser:
        sign_up(browser)
        r = log_in(browser)
        assert r.status_code == 303
        cookies = r.headers.get_list("set-cookie")
        names = {c.partition("=")[0] for c in cookies}
        assert {"mm_session", "mm_device"} <= names
        assert all(_secure(c) for c in cookies), cookies
        first_visit = browser.get("/", headers={"cookie": ""}).headers.get_list("set-cookie")
        assert [c.partition("=")[0] for c in first_visit] == ["mm_csrf"]
        assert _secure(first_visit[0])
        # Not twice: a cookie already Secure keeps its one flag.
    with app_with("https://testserver") as already:
        (csrf,) = already.get("/").headers.get_list("set-cookie")
        assert csrf.lower().count("secure") == 1


def test_behind_a_trusted_proxy_saying_https_cookies_are_secure(app_with: MakeClient) -> None:
    behind = app_with(
        "http://testserver", PROXY, trusted_proxies=["10.0.0.0/24"], cookie_secure=False
    )
    with behind:
        over_tls = behind.get("/", headers={"x-forwarded-proto": "https"})
        assert _secure(over_tls.headers["set-cookie"])
        plain = behind.get("/", headers={"x-forwarded-proto": "http", "cookie": ""})
        assert not _secure(plain.headers["set-cookie"])
