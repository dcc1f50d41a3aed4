"""The device cookie: set by the pages and the token endpoint alike, and kept private."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx2 import Response

from minimaker.settings import Settings
from tests.browser import PASSWORD, log_in, set_cookie_headers, sign_up

DEVICE = "mm_device"


def _flags(header: str) -> dict[str, str]:
    _, *attributes = (part.strip() for part in header.split(";"))
    pairs = (a.split("=", 1) if "=" in a else (a, "") for a in attributes)
    return {k.lower(): v.lower() for k, v in pairs}


def _by_token(client: TestClient, password: str = PASSWORD, username: str = "ada") -> Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_a_sign_in_by_page_or_by_token_sets_a_long_lived_httponly_strict_secure_cookie(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    sign_up(client)
    for answer in (log_in(client), _by_token(other_browser)):
        (header,) = set_cookie_headers(answer, DEVICE)
        flags = _flags(header)
        assert "httponly" in flags and "secure" in flags
        assert flags["samesite"] == "strict"
        assert flags["path"] == "/"
        assert flags["max-age"] == str(settings.device_cookie_ttl_days * 86400)
    assert _by_token(other_browser).json()["token_type"] == "bearer"


def test_a_failed_sign_in_sets_no_device_cookie(client: TestClient) -> None:
    sign_up(client)
    assert set_cookie_headers(log_in(client, "ada", "not the password"), DEVICE) == []
    assert set_cookie_headers(_by_token(client, "not the password"), DEVICE) == []


def test_the_device_cookie_holds_no_personal_data_in_clear(client: TestClient) -> None:
    # Names long enough that random base64 cannot spell them by chance ("ada" once did).
    sign_up(client, username="adalovelace", name="Ada Lovelace")
    signed = _by_token(client, username="adalovelace")
    cookie = client.cookies[DEVICE]
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {signed.json()['access_token']}"}
    ).json()
    for clear in ("adalovelace", "Lovelace", "example.org", me["id"]):
        assert clear not in cookie


def test_one_client_remembers_each_account_signed_in_on_it(client: TestClient) -> None:
    sign_up(client, username="ada")
    sign_up(client, username="grace")
    assert log_in(client, "ada").status_code == 303
    r = client.post("/api/v1/auth/token", data={"username": "grace", "password": PASSWORD})
    assert r.status_code == 200
    assert len(client.cookies[DEVICE].split("~")) == 2
    # Signing in again to one account renews its token, never adds a second one for it.
    assert _by_token(client).status_code == 200
    assert len(client.cookies[DEVICE].split("~")) == 2
