"""The session cookie and CSRF protection of every form."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from minimaker.accounts import service as accounts
from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from tests.browser import (
    PASSWORD,
    csrf_on,
    form_token,
    generate,
    log_in,
    model_ids,
    photo_ids,
    put_cookie,
    set_cookie_headers,
    sign_up,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes


def _flags(header: str) -> dict[str, str]:
    _, *attributes = (part.strip() for part in header.split(";"))
    pairs = (a.split("=", 1) if "=" in a else (a, "") for a in attributes)
    return {k.lower(): v.lower() for k, v in pairs}


def test_login_sets_an_httponly_lax_secure_session_cookie_for_the_token_lifetime(
    client: TestClient, settings: Settings
) -> None:
    sign_up(client)
    r = log_in(client)
    (header,) = set_cookie_headers(r, "mm_session")
    flags = _flags(header)
    assert "httponly" in flags and "secure" in flags
    assert flags["samesite"] == "lax"
    assert flags["path"] == "/"
    assert flags["max-age"] == str(settings.token_ttl_s)


def test_the_csrf_cookie_is_httponly_strict_and_secure(client: TestClient) -> None:
    (header,) = set_cookie_headers(client.get("/login"), "mm_csrf")
    flags = _flags(header)
    assert "httponly" in flags and "secure" in flags
    assert flags["samesite"] == "strict"
    # Once the browser holds it, pages reuse it rather than minting another.
    assert set_cookie_headers(client.get("/signup"), "mm_csrf") == []


@pytest.fixture
def plain_http_browser(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    """The app with cookie_secure off, as for a development server without TLS."""
    c = build(settings.model_copy(update={"cookie_secure": False}), clock=clock)
    try:
        with TestClient(create_app(c, worker=False), base_url="http://testserver") as tc:
            yield tc
    finally:
        c.close()


def test_cookies_drop_the_secure_flag_only_when_the_setting_says_so(
    plain_http_browser: TestClient,
) -> None:
    sign_up(plain_http_browser)
    r = log_in(plain_http_browser)
    assert r.status_code == 303
    (session_cookie,) = set_cookie_headers(r, "mm_session")
    assert "secure" not in _flags(session_cookie)
    assert "httponly" in _flags(session_cookie)
    (csrf_cookie,) = set_cookie_headers(
        plain_http_browser.get("/", headers={"cookie": ""}), "mm_csrf"
    )
    assert "secure" not in _flags(csrf_cookie)


def test_logout_ends_the_session_and_the_old_cookie_no_longer_works(client: TestClient) -> None:
    signed_in(client)
    old_cookie = client.cookies["mm_session"]
    token = form_token(client, "/app")
    r = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/")
    (cleared,) = set_cookie_headers(r, "mm_session")
    assert _flags(cleared)["max-age"] == "0"
    assert "mm_session" not in client.cookies

    put_cookie(client, "mm_session", old_cookie)
    r = client.get("/app", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=session")
    bearer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_cookie}"})
    assert bearer.status_code == 401


def test_an_expired_session_sends_the_browser_to_login_and_forgets_the_cookie(
    client: TestClient, clock: ManualClock, settings: Settings
) -> None:
    signed_in(client)
    assert client.get("/app", follow_redirects=False).status_code == 200
    clock.advance(seconds=settings.token_ttl_s + 1)
    r = client.get("/app", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=session")
    assert _flags(set_cookie_headers(r, "mm_session")[0])["max-age"] == "0"
    assert "Your session ended" in client.get(r.headers["location"]).text
    assert "mm_session" not in client.cookies


# Each form, posted by a signed-in browser: (path, fields besides csrf).
def _forms(browser: TestClient) -> list[tuple[str, dict[str, str]]]:
    (photo_id,) = photo_ids(browser.get("/app").text)
    (model_id,) = model_ids(browser.get("/app").text)
    return [
        ("/signup", {"name": "Eve", "email": "eve@example.org", "username": "eve"}),
        ("/login", {"login": "ada", "password": PASSWORD}),
        ("/logout", {}),
        ("/app/uploads", {}),
        (f"/app/uploads/{photo_id}/models", {"width_mm": "40", "base_mm": "2"}),
        (f"/app/uploads/{photo_id}/delete", {}),
        (f"/app/models/{model_id}/delete", {}),
    ]


@pytest.fixture
def ada(client: TestClient) -> TestClient:
    """Ada, signed in, with one photo and one queued model."""
    signed_in(client)
    upload(client, photo_bytes())
    generate(client, photo_ids(client.get("/app").text)[0])
    return client


def _nothing_changed(browser: TestClient) -> None:
    page = browser.get("/app", follow_redirects=False)
    assert page.status_code == 200, "the session must still be live"
    assert len(photo_ids(page.text)) == 1 and len(model_ids(page.text)) == 1
    eve = browser.post("/api/v1/auth/token", data={"username": "eve", "password": PASSWORD})
    assert eve.status_code == 401


def _post_everywhere(browser: TestClient, make_data: Callable[[dict[str, str]], dict]) -> None:
    for path, fields in _forms(browser):
        files = {"file": ("p.png", photo_bytes(), "image/png")} if path == "/app/uploads" else None
        r = browser.post(path, data=make_data(fields), files=files, follow_redirects=False)
        assert r.status_code == 403, path
        assert "This form has expired" in r.text
        assert "reload the page and try again" in r.text
    _nothing_changed(browser)


def test_posts_without_a_csrf_token_are_refused(ada: TestClient) -> None:
    _post_everywhere(ada, lambda fields: fields)


def test_posts_with_a_wrong_csrf_token_are_refused(ada: TestClient) -> None:
    forged = "0" * 64
    _post_everywhere(ada, lambda fields: {**fields, "csrf": forged})


def test_posts_without_the_csrf_cookie_are_refused(ada: TestClient) -> None:
    token = form_token(ada, "/app")
    ada.cookies.delete("mm_csrf")
    _post_everywhere(ada, lambda fields: {**fields, "csrf": token})


def test_a_csrf_token_of_another_session_is_refused_even_with_its_cookie(
    ada: TestClient, other_browser: TestClient
) -> None:
    # Mallory signs in and plants her own valid cookie-and-token pair in Ada's browser.
    signed_in(other_browser, "mallory")
    mallory_token = form_token(other_browser, "/app")
    put_cookie(ada, "mm_csrf", other_browser.cookies["mm_csrf"])
    _post_everywhere(ada, lambda fields: {**fields, "csrf": mallory_token})


def test_a_form_from_before_login_does_not_work_after_it(client: TestClient) -> None:
    before = form_token(client, "/login")
    r = client.post("/login", data={"csrf": before, "login": "ada", "password": PASSWORD})
    # No account yet: the form is accepted (its token is good before a session) and refused
    # as a failed sign-in, with no session handed out.
    assert r.status_code == 401, r.text
    assert "mm_session" not in client.cookies
    sign_up(client)
    assert log_in(client).status_code == 303
    r = client.post("/logout", data={"csrf": before}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/app", follow_redirects=False).status_code == 200


def test_a_session_expired_behind_an_open_form_leads_to_login_not_to_an_error(
    client: TestClient, container: Container, clock: ManualClock, settings: Settings
) -> None:
    signed_in(client)
    user_id = accounts.authenticate(container, client.cookies["mm_session"])
    token = form_token(client, "/app")
    clock.advance(seconds=settings.token_ttl_s + 1)
    r = client.post(
        "/app/uploads",
        data={"csrf": token},
        files={"file": ("p.png", photo_bytes(), "image/png")},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=session")
    assert uploads.list_uploads(container, user_id=user_id) == []


def test_forms_on_one_page_share_the_token_of_its_session(ada: TestClient) -> None:
    html = ada.get("/app").text
    tokens = set(csrf_on(part) for part in html.split("<form")[1:])
    assert len(tokens) == 1
    # Log out, upload, generate (deleting is a confirmation page of its own).
    assert html.count('name="csrf"') >= 3


def test_signup_and_login_forms_are_protected_before_any_session(client: TestClient) -> None:
    client.get("/login")  # the browser now holds a CSRF cookie, but the forms' token is missing
    eve = {"name": "Eve", "email": "eve@example.org", "username": "eve", "password": PASSWORD}
    assert client.post("/signup", data=eve).status_code == 403
    r = client.post("/login", data={"login": "eve", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    assert "mm_session" not in client.cookies
    # Nothing was created: the same account can be made properly now.
    assert sign_up(client, username="eve", email="eve@example.org").status_code == 303
