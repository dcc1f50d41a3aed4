"""What a person does in a browser, as plain HTTP: read a form, post it, follow the ids."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
# The cookie jar files host-only cookies for "testserver" under this name.
COOKIE_DOMAIN = "testserver.local"
SESSION_COOKIE = "mm_session"


def csrf_on(html: str) -> str:
    """The CSRF token the forms of a page carry (every form on a page has the same one)."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def form_token(browser: TestClient, path: str) -> str:
    """Open a page and return its forms' CSRF token, as a browser about to submit one."""
    r = browser.get(path)
    assert r.status_code == 200, r.text
    return csrf_on(r.text)


def sign_up(
    browser: TestClient,
    *,
    username: str = "ada",
    email: str | None = None,
    name: str = "Ada Lovelace",
    password: str = PASSWORD,
    stay_signed_in: bool = False,
) -> Response:
    """Sign up on the page. The page signs the new account in at once; unless told to stay,
    the browser then forgets that session, as if it were another browser that signed up."""
    data = {
        "name": name,
        "email": email or f"{username}@example.org",
        "username": username,
        "password": password,
    }
    data["csrf"] = form_token(browser, "/signup")
    r = browser.post("/signup", data=data, follow_redirects=False)
    if not stay_signed_in:
        browser.cookies.delete(SESSION_COOKIE)
    return r


def log_in(browser: TestClient, login: str = "ada", password: str = PASSWORD) -> Response:
    data = {"csrf": form_token(browser, "/login"), "login": login, "password": password}
    return browser.post("/login", data=data, follow_redirects=False)


def signed_in(browser: TestClient, username: str = "ada") -> TestClient:
    """Sign up through the page, which signs in at once; the browser holds the session cookie."""
    r = sign_up(browser, username=username, stay_signed_in=True)
    assert (r.status_code, r.headers["location"]) == (303, "/app?welcome=1"), r.text
    return browser


def upload(browser: TestClient, data: bytes, filename: str = "photo.png") -> Response:
    token = form_token(browser, "/app")
    return browser.post(
        "/app/uploads",
        data={"csrf": token},
        files={"file": (filename, data, "application/octet-stream")},
        follow_redirects=False,
    )


def photo_ids(html: str) -> list[str]:
    return re.findall(r'src="/app/uploads/([0-9a-f]{32})/content"', html)


def model_ids(html: str) -> list[str]:
    return re.findall(r'href="/app/models/([0-9a-f]{32})/delete"', html)


def generate(browser: TestClient, photo_id: str, **fields: str) -> Response:
    data = {"width_mm": "40", "base_mm": "2", "max_relief_mm": "3", **fields}
    data["csrf"] = form_token(browser, "/app")
    return browser.post(f"/app/uploads/{photo_id}/models", data=data, follow_redirects=False)


def put_cookie(browser: TestClient, name: str, value: str) -> None:
    """Replace a cookie in the browser's jar, as a script or another site cannot."""
    browser.cookies.delete(name)
    browser.cookies.set(name, value, domain=COOKIE_DOMAIN)


def set_cookie_headers(r: Response, name: str) -> list[str]:
    return [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def api_headers(client: TestClient, username: str = "ada") -> dict[str, str]:
    """A bearer token for the same account, to check through the API what pages did."""
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
