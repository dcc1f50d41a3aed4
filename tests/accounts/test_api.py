"""Sign-up, sign-in and profile over HTTP against the real app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import signup_and_login

SIGNUP = {
    "name": "Grace Hopper",
    "email": "grace@example.org",
    "username": "grace",
    "password": "a long enough passphrase",
}


def test_signup_returns_id_and_username_only(client: TestClient) -> None:
    r = client.post("/api/v1/auth/signup", json=SIGNUP)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "username"}
    assert body["username"] == "grace"
    assert len(body["id"]) == 32


def test_token_by_username_or_email_opens_the_profile(client: TestClient) -> None:
    client.post("/api/v1/auth/signup", json=SIGNUP)
    for login in ("grace", "GRACE@example.org"):
        r = client.post(
            "/api/v1/auth/token", data={"username": login, "password": SIGNUP["password"]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        me = client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["email"] == "grace@example.org"
        assert me.json()["name"] == "Grace Hopper"


def test_duplicate_email_or_username_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/v1/auth/signup", json=SIGNUP).status_code == 201
    again = dict(SIGNUP, username="other")
    r = client.post("/api/v1/auth/signup", json=again)
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "email"
    r = client.post(
        "/api/v1/auth/signup", json=dict(SIGNUP, email="x@example.org", username="Grace")
    )
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "username"


def test_patch_me_corrects_fields_and_login_follows_the_new_username(client: TestClient) -> None:
    headers = signup_and_login(client, username="ada")
    r = client.patch(
        "/api/v1/me", json={"name": "Augusta Ada King", "username": "countess"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Augusta Ada King"
    assert r.json()["username"] == "countess"
    ok = client.post(
        "/api/v1/auth/token",
        data={"username": "countess", "password": "correct horse battery staple"},
    )
    assert ok.status_code == 200
    old = client.post(
        "/api/v1/auth/token", data={"username": "ada", "password": "correct horse battery staple"}
    )
    assert old.status_code == 401
