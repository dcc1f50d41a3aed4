"""Bad input on every form: a 4xx page with the reason, the form re-filled, nothing written."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from minimaker.settings import Settings
from tests.browser import (
    PASSWORD,
    api_headers,
    form_token,
    generate,
    log_in,
    photo_ids,
    sign_up,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes

GOOD = {"name": "Grace Hopper", "email": "grace@example.org", "username": "grace"}


def _post_signup(client: TestClient, **fields: str) -> tuple[int, str]:
    data = {**GOOD, "password": PASSWORD, **fields}
    data = {k: v for k, v in data.items() if v is not None}
    data["csrf"] = form_token(client, "/signup")
    r = client.post("/signup", data=data, follow_redirects=False)
    return r.status_code, r.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"name": ""}, 422, "Name must not be empty."),
        ({"email": "grace-at-example.org"}, 422, "Email is not a valid email address."),
        ({"username": "g"}, 422, "Username must be 3-32 letters"),
        ({"password": "short"}, 422, "Password must be at least 10 characters."),
    ],
)
def test_signup_with_a_bad_field_says_why_and_keeps_what_was_typed(
    client: TestClient, fields: dict[str, str], status: int, message: str
) -> None:
    code, html = _post_signup(client, **fields)
    assert code == status
    assert message in html
    assert 'role="alert"' in html and 'aria-invalid="true"' in html
    for name, value in {**GOOD, **fields}.items():
        if name != "password" and value:
            assert f'value="{value}"' in html
    assert all("value=" not in tag for tag in re.findall(r'<input[^>]*type="password"[^>]*>', html))
    # Nothing was written: the same account can still be created.
    assert sign_up(client, username="grace", email="grace@example.org").status_code == 303


def test_signup_with_missing_fields_is_refused_and_writes_nothing(client: TestClient) -> None:
    token = form_token(client, "/signup")
    r = client.post("/signup", data={"csrf": token})
    assert r.status_code == 422
    assert "Name must not be empty." in r.text
    r = client.post("/signup", data={"csrf": token, **GOOD})
    assert r.status_code == 422
    assert "Password must be at least 10 characters." in r.text
    assert sign_up(client, username="grace", email="grace@example.org").status_code == 303


def test_signup_with_a_registered_email_or_username_is_a_conflict(client: TestClient) -> None:
    assert sign_up(client, username="grace", email="grace@example.org").status_code == 303
    code, html = _post_signup(client, username="grace2")
    assert code == 409
    assert "That email is already registered." in html
    assert 'value="grace2"' in html
    code, html = _post_signup(client, email="other@example.org")
    assert code == 409
    assert "That username is already registered." in html


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient,
) -> None:
    sign_up(client)
    for login in ("ada", "nobody"):
        r = log_in(client, login, "not the password")
        assert r.status_code == 401
        assert "Incorrect username or password." in r.text
        assert f'value="{login}"' in r.text
        assert "not the password" not in r.text
        assert "mm_session" not in client.cookies


def test_login_with_missing_fields_is_refused_and_not_counted_as_a_failure(
    client: TestClient, settings: Settings
) -> None:
    sign_up(client)
    token = form_token(client, "/login")
    for _ in range(settings.login_max_failures + 1):
        r = client.post("/login", data={"csrf": token, "login": "ada"})
        assert r.status_code == 422
        assert "Password is required." in r.text
    r = client.post("/login", data={"csrf": token, "password": PASSWORD})
    assert r.status_code == 422
    assert "Username or email is required." in r.text
    assert log_in(client).status_code == 303


def test_too_many_failed_logins_are_slowed_down_with_retry_after(
    client: TestClient, settings: Settings
) -> None:
    sign_up(client)
    for _ in range(settings.login_max_failures):
        assert log_in(client, "ada", "not the password").status_code == 401
    r = log_in(client, "ada", PASSWORD)
    assert r.status_code == 429
    assert "Too many attempts; try again in" in r.text
    assert int(r.headers["retry-after"]) > 0
    assert "mm_session" not in client.cookies


def _stored_blobs(settings: Settings) -> list[Path]:
    return [p for p in settings.blob_dir.rglob("*") if p.is_file()]


def _big_png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"", 422, "Photo is required: choose a photo to upload."),
        (b"%PDF-1.7 not a photo", 415, "This file is not a photo we can use. Choose a JPEG"),
        (photo_bytes()[:60], 422, "The image cannot be used: the file is truncated or corrupt."),
        (_big_png(4001, 2), 413, "exceeds the limit of 4000000 pixels"),
    ],
    ids=["empty", "not-an-image", "truncated", "too-many-pixels"],
)
def test_a_bad_upload_says_why_and_stores_nothing(
    client: TestClient, settings: Settings, content: bytes, status: int, message: str
) -> None:
    signed_in(client)
    r = upload(client, content)
    assert r.status_code == status
    assert message in r.text
    assert 'aria-invalid="true"' in r.text or 'role="alert"' in r.text
    assert client.get("/api/v1/uploads", headers=api_headers(client)).json() == []
    assert _stored_blobs(settings) == []


def test_an_upload_one_byte_over_the_limit_is_refused_unread(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    too_big = photo_bytes() + b"\0" * (settings.max_upload_bytes + 1 - len(photo_bytes()))
    r = upload(client, too_big)
    assert r.status_code == 413
    limit_mb = f"{settings.max_upload_bytes / 1_000_000:.3g} MB"
    assert f"This photo is larger than the {limit_mb} a photo may be." in r.text
    assert client.get("/api/v1/uploads", headers=api_headers(client)).json() == []
    assert _stored_blobs(settings) == []


def test_a_request_far_over_the_limit_is_refused_before_the_page_reads_it(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    r = upload(client, b"\0" * (settings.max_upload_bytes * 2))
    assert r.status_code == 413
    assert client.get("/api/v1/uploads", headers=api_headers(client)).json() == []


def test_an_upload_form_without_a_file_field_is_refused(client: TestClient) -> None:
    signed_in(client)
    token = form_token(client, "/app")
    r = client.post("/app/uploads", data={"csrf": token, "file": "not a file"})
    assert r.status_code == 422
    assert "Photo is required" in r.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width_mm": "wide"}, "Width (mm) must be a number."),
        ({"width_mm": ""}, "Width (mm) must be a number."),
        ({"base_mm": "0"}, "Base thickness (mm) must be between 0.2 and 50."),
        ({"max_relief_mm": "nan"}, "Maximum relief (mm) must be between 0.1 and 100."),
        ({"width_mm": "1e9"}, "Width (mm) must be between 5 and 1000."),
    ],
)
def test_generating_with_bad_settings_says_why_and_queues_nothing(
    client: TestClient, fields: dict[str, str], message: str
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    r = generate(client, photo_id, lithophane="on", **fields)
    assert r.status_code == 422
    assert message in r.text
    for name, value in fields.items():
        assert f'value="{value}"' in r.text, name
    assert "checked" in r.text  # the lithophane box stays ticked
    assert '<meta http-equiv="refresh"' not in r.text
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []


def test_generating_with_missing_settings_is_refused(client: TestClient) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    token = form_token(client, "/app")
    r = client.post(f"/app/uploads/{photo_id}/models", data={"csrf": token})
    assert r.status_code == 422
    assert "Width (mm) must be a number." in r.text
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []
