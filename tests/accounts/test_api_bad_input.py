"""Every bad input to sign-up, sign-in and profile correction: a clear 4xx, nothing written."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts.tables import AuthSession, User
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from tests.conftest import signup_and_login

GOOD = {
    "name": "Katherine Johnson",
    "email": "katherine@example.org",
    "username": "kjohnson",
    "password": "orbital mechanics 1962",
}


def _users(c: Container) -> int:
    with c.sessions() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"username": "x"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "../../etc"}, "username"),
        ({"password": "short"}, "password"),
        ({"name": "   "}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": 42}, "name"),
        ({"email": ["a@example.org"]}, "email"),
        ({"name": "n" * 201}, "name"),
        ({"password": "p" * 1025}, "password"),
    ],
)
def test_invalid_signup_fields_are_422_and_create_nothing(
    client: TestClient, container: Container, change: dict[str, object], field: str
) -> None:
    r = client.post("/api/v1/auth/signup", json={**GOOD, **change})
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _users(container) == 0


def test_signup_refuses_missing_and_extra_fields(client: TestClient, container: Container) -> None:
    missing = {k: v for k, v in GOOD.items() if k != "email"}
    assert client.post("/api/v1/auth/signup", json=missing).status_code == 422
    # Data minimisation: nothing beyond the four fields is accepted, not even silently.
    extra = {**GOOD, "birthday": "1918-08-26"}
    assert client.post("/api/v1/auth/signup", json=extra).status_code == 422
    not_json = client.post(
        "/api/v1/auth/signup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    # A body that does not say it is JSON, or is a form, is the wrong media type: 415.
    assert client.post("/api/v1/auth/signup", content=b"{not json").status_code == 415
    assert client.post("/api/v1/auth/signup", data=GOOD).status_code == 415
    assert _users(container) == 0


def test_validation_errors_do_not_echo_what_was_sent(client: TestClient) -> None:
    r = client.post("/api/v1/auth/signup", json={**GOOD, "username": 12345, "email": None})
    assert r.status_code == 422
    assert "katherine" not in r.text.lower()
    assert "orbital" not in r.text


def test_wrong_password_and_unknown_user_answer_alike(client: TestClient) -> None:
    client.post("/api/v1/auth/signup", json=GOOD)
    wrong = client.post(
        "/api/v1/auth/token", data={"username": "kjohnson", "password": "nope nope nope"}
    )
    unknown = client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    missing = client.post("/api/v1/auth/token", data={"username": "kjohnson"})
    assert missing.status_code == 422


def test_logins_are_rate_limited_per_account_then_released_after_the_window(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    client.post("/api/v1/auth/signup", json=GOOD)
    limit = container.settings.login_max_failures
    for _ in range(limit):
        r = client.post(
            "/api/v1/auth/token", data={"username": "kjohnson", "password": "bad guess!"}
        )
        assert r.status_code == 401
    # Even the right password is refused while the account is locked.
    r = client.post(
        "/api/v1/auth/token", data={"username": "kjohnson", "password": GOOD["password"]}
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    clock.advance(seconds=container.settings.login_window_s + 1)
    r = client.post(
        "/api/v1/auth/token", data={"username": "kjohnson", "password": GOOD["password"]}
    )
    assert r.status_code == 200


def test_logins_are_rate_limited_per_ip_across_accounts(
    client: TestClient, container: Container
) -> None:
    client.post("/api/v1/auth/signup", json=GOOD)
    names = [f"guess{i}" for i in range(container.settings.login_address_max_failures)]
    for name in names:  # a spray: one guess per account, then another round
        r = client.post("/api/v1/auth/token", data={"username": name, "password": "x" * 12})
        assert r.status_code == 401
    for name in names:
        r = client.post("/api/v1/auth/token", data={"username": name, "password": "x" * 12})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
    # Someone whose account nobody attacked still signs in from that address.
    r = client.post(
        "/api/v1/auth/token", data={"username": "kjohnson", "password": GOOD["password"]}
    )
    assert r.status_code == 200


def test_tokens_expire_and_logout_ends_the_session(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    headers = signup_and_login(client)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    headers = signup_and_login(client, username="bob")
    clock.advance(seconds=container.settings.token_ttl_s + 1)
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_forged_and_malformed_tokens_are_401(client: TestClient) -> None:
    headers = signup_and_login(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    head, body, sig = token.split(".")
    for bad in (
        "garbage",
        f"{head}.{body}.{sig[:-2]}xx",
        f"{head}.{body}.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # alg=none
    ):
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    assert client.get("/api/v1/me").status_code == 401


def test_profile_corrections_are_validated_and_cannot_take_anothers_email(
    client: TestClient, container: Container
) -> None:
    client.post("/api/v1/auth/signup", json=GOOD)
    headers = signup_and_login(client, username="dorothy")
    for body, status in (
        ({"email": "katherine@example.org"}, 409),
        ({"username": "KJOHNSON"}, 409),
        ({"email": "nope"}, 422),
        ({"name": ""}, 422),
        ({"id": "0" * 32}, 422),
        ({"name": 7}, 422),
    ):
        r = client.patch("/api/v1/me", json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
    me = client.get("/api/v1/me", headers=headers).json()
    assert (me["username"], me["email"]) == ("dorothy", "dorothy@example.org")
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuthSession)) == 1


def test_one_address_in_another_unicode_form_cannot_make_a_second_account(
    client: TestClient,
) -> None:
    nfc = unicodedata.normalize("NFC", "zoë@example.org")
    nfd = unicodedata.normalize("NFD", "zoë@example.org")
    assert nfc != nfd
    body = {"name": "Zoë", "username": "zoe", "password": "correct horse battery staple"}
    assert client.post("/api/v1/auth/signup", json={**body, "email": nfc}).status_code == 201
    again = client.post("/api/v1/auth/signup", json={**body, "username": "zoe2", "email": nfd})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_taken"


@pytest.mark.parametrize("email", ["ada\x1b@example.org", "ada\x00@example.org"])
def test_an_address_with_a_control_character_is_refused_before_any_mail_header(
    client: TestClient, email: str
) -> None:
    body = {"name": "Ada", "username": "ada", "password": "correct horse battery staple"}
    r = client.post("/api/v1/auth/signup", json={**body, "email": email})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "email"
