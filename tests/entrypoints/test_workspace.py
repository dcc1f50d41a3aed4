"""The workspace keeps what is typed (status as JSON, no reload), confirms deletes, signs a
new account in at once and says in plain words why a form was refused, over real HTTP."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.settings import Settings
from tests.browser import (
    PASSWORD,
    api_headers,
    form_token,
    generate,
    model_ids,
    photo_ids,
    sign_up,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes


def _queued(client: TestClient) -> tuple[str, str]:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    assert generate(client, photo_id).status_code == 303
    (model_id,) = model_ids(client.get("/app").text)
    return photo_id, model_id


def test_a_queued_model_never_reloads_the_page_and_its_status_is_json(
    client: TestClient, worker: Worker
) -> None:
    _, model_id = _queued(client)
    page = client.get("/app").text
    assert 'http-equiv="refresh"' not in page
    assert f'id="model-{model_id}" data-model-status="queued"' in page
    r = client.get("/app/status.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "private, no-store"
    (status,) = r.json()["models"]
    assert (status["id"], status["status"]) == (model_id, "queued")
    assert f'id="model-{model_id}"' in status["card"]
    worker.run_until_idle()
    (done,) = client.get("/app/status.json").json()["models"]
    assert done["status"] == "done"
    # The card the script puts in place is the one the page renders.
    assert f"/app/models/{model_id}/download?format=glb" in done["card"]
    assert done["card"].strip() in client.get("/app").text


def test_the_status_json_shows_only_your_own_models_and_needs_a_session(
    client: TestClient, other_browser: TestClient
) -> None:
    _queued(client)
    signed_in(other_browser, "grace")
    assert other_browser.get("/app/status.json").json() == {"models": []}
    client.cookies.clear()
    r = client.get("/app/status.json", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_the_app_script_is_served_from_our_origin_as_javascript(client: TestClient) -> None:
    r = client.get("/static/app.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert "/app/status.json" in r.text


def test_deleting_a_model_or_a_photo_asks_first_on_a_page_of_its_own(
    client: TestClient, worker: Worker
) -> None:
    photo_id, model_id = _queued(client)
    worker.run_until_idle()
    page = client.get("/app").text
    # No form on the workspace deletes anything: each delete is a link to its confirmation.
    assert not re.search(r'<form[^>]*action="[^"]*/delete"', page)
    downloads = page.index('class="downloads"')
    assert page.index(f'href="/app/models/{model_id}/delete"') > page.index("</p>", downloads)

    confirm = client.get(f"/app/models/{model_id}/delete")
    assert confirm.status_code == 200
    assert "Delete this model?" in confirm.text
    assert f'<form method="post" action="/app/models/{model_id}/delete">' in confirm.text
    assert model_ids(client.get("/app").text) == [model_id]  # looking deleted nothing
    token = form_token(client, f"/app/models/{model_id}/delete")
    r = client.post(f"/app/models/{model_id}/delete", data={"csrf": token})
    assert r.status_code == 200 and model_ids(r.text) == []

    confirm = client.get(f"/app/uploads/{photo_id}/delete")
    assert "Delete this photo?" in confirm.text
    assert f'action="/app/uploads/{photo_id}/delete"' in confirm.text
    assert photo_ids(client.get("/app").text) == [photo_id]


@pytest.mark.parametrize("kind", ["models", "uploads"])
def test_the_confirmation_of_someone_elses_or_an_unknown_id_is_not_found(
    client: TestClient, other_browser: TestClient, worker: Worker, kind: str
) -> None:
    photo_id, model_id = _queued(client)
    signed_in(other_browser, "grace")
    theirs = model_id if kind == "models" else photo_id
    for target in (theirs, "0" * 32, "not-an-id"):
        r = other_browser.get(f"/app/{kind}/{target}/delete")
        assert r.status_code == 404, target
        assert "Delete this" not in r.text


def test_signing_up_signs_in_at_once_with_a_session_cookie(client: TestClient) -> None:
    r = sign_up(client, username="ada", stay_signed_in=True)
    assert (r.status_code, r.headers["location"]) == (303, "/app?welcome=1")
    assert any(h.startswith("mm_session=") for h in r.headers.get_list("set-cookie"))
    page = client.get("/app?welcome=1")
    assert page.status_code == 200 and "Signed in as ada" in page.text
    # An unknown flag says nothing: the notice is fixed text, never echoed.
    assert "Your account is ready" not in client.get("/app?welcome=<b>x</b>").text


def test_a_failed_sign_up_opens_no_session(client: TestClient) -> None:
    r = sign_up(client, username="ada", password="short", stay_signed_in=True)
    assert r.status_code == 422
    assert "mm_session" not in client.cookies


def test_every_sign_up_error_is_shown_at_once_and_the_first_takes_the_focus(
    client: TestClient,
) -> None:
    data = {"csrf": form_token(client, "/signup"), "name": "", "email": "nope"}
    data.update(username="x", password="short")
    r = client.post("/signup", data=data)
    assert r.status_code == 422
    for name, message in {
        "name": "Name must not be empty.",
        "email": "Email is not a valid email address.",
        "username": "Username must be 3-32 letters",
        "password": "Password must be at least 10 characters.",
    }.items():
        assert re.search(rf'id="{name}-error">{re.escape(message)}', r.text), name
        assert re.search(rf'<input id="{name}"[^>]*aria-invalid="true"', r.text), name
    autofocused = re.findall(r'<input id="([a-z_-]+)"[^>]*\bautofocus\b', r.text)
    assert autofocused == ["name"]
    assert "mm_session" not in client.cookies


def test_every_setting_that_is_not_a_number_is_marked_at_once(client: TestClient) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    r = generate(client, photo_id, width_mm="wide", max_relief_mm="tall")
    assert r.status_code == 422
    assert f'id="width_mm-{photo_id}-error">Width (mm) must be a number.' in r.text
    assert f'id="max_relief_mm-{photo_id}-error">Maximum relief (mm) must be a number.' in r.text
    autofocused = re.findall(r'<input id="([a-z_0-9-]+)"[^>]*\bautofocus\b', r.text)
    assert autofocused == [f"width_mm-{photo_id}"]
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []


def test_a_photo_over_the_size_limit_is_refused_in_megabytes_beside_the_field(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    r = upload(client, b"\xff" * (settings.max_upload_bytes + 1))
    assert r.status_code == 413
    assert "This photo is larger than the 2.1 MB a photo may be." in r.text
    assert 'id="file-error"' in r.text


def test_a_full_quota_says_how_much_is_left_and_what_to_do(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    settings.storage_quota_bytes = 100  # smaller than any photo
    r = upload(client, photo_bytes())
    assert r.status_code == 413
    assert "Your storage is full" in r.text
    assert "Delete photos or models you no longer need to make room." in r.text


def test_generating_while_restricted_says_so_with_a_link_to_lift_it(
    client: TestClient, worker: Worker
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    data = {"csrf": form_token(client, "/privacy"), "action": "restrict"}
    assert client.post("/privacy/restriction", data=data, follow_redirects=False).status_code == 303
    worker.run_until_idle()
    r = generate(client, photo_id)
    assert r.status_code == 403
    assert "You asked us to restrict the processing of your data" in r.text
    assert '<a href="/privacy#restrict-heading">Lift the restriction</a>' in r.text
    assert client.get("/api/v1/models", headers=api_headers(client)).json() == []


def test_the_password_is_never_echoed_by_a_failed_sign_up(client: TestClient) -> None:
    data = {"csrf": form_token(client, "/signup"), "name": "", "email": "x"}
    data.update(username="ada", password=PASSWORD)
    r = client.post("/signup", data=data)
    assert r.status_code == 422 and PASSWORD not in r.text
