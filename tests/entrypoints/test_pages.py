"""The whole browser flow, page by page, over real HTTP against the real app."""

from __future__ import annotations

import io
import logging
import re
from html import escape

import pytest
import trimesh
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.kernel.container import Container
from minimaker.kernel.errors import GenerationFailed
from tests.browser import (
    api_headers,
    form_token,
    generate,
    model_ids,
    photo_ids,
    put_cookie,
    sign_up,
    signed_in,
    upload,
)
from tests.conftest import photo_bytes

REFRESH = 'http-equiv="refresh"'


def test_a_newcomer_signs_up_logs_in_and_downloads_a_watertight_model_in_every_format(
    client: TestClient, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    landing = client.get("/")
    assert landing.status_code == 200
    assert 'href="/signup"' in landing.text and 'href="/login"' in landing.text

    r = sign_up(client, username="ada", email="ada@example.org", stay_signed_in=True)
    # Signed in at once: no second sign-in after the sign-up.
    assert (r.status_code, r.headers["location"]) == (303, "/app?welcome=1")
    welcome = client.get("/app?welcome=1").text
    assert "Your account is ready, and you are signed in" in welcome
    assert "Signed in as ada" in welcome

    r = upload(client, photo_bytes(48, 32, "JPEG"), filename="holiday.jpg")
    assert (r.status_code, r.headers["location"]) == (303, "/app")
    (photo_id,) = photo_ids(client.get("/app").text)

    r = generate(client, photo_id, width_mm="40", base_mm="1.5", max_relief_mm="2")
    assert (r.status_code, r.headers["location"]) == (303, "/app")
    waiting = client.get("/app").text
    assert "queued" in waiting
    # The page never reloads itself (that would wipe what is typed): a script updates it.
    assert REFRESH not in waiting
    assert '<script src="/static/app.js" defer></script>' in waiting

    worker.run_until_idle()
    page = client.get("/app").text
    assert ">done<" in page
    assert REFRESH not in page
    _downloads_a_watertight_mesh_in_every_format(client, page)
    # The person's name, email and username went nowhere near the logs.
    for personal in ("Ada Lovelace", "ada@example.org", "ada"):
        assert personal not in caplog.text


def _downloads_a_watertight_mesh_in_every_format(client: TestClient, page: str) -> None:
    (model_id,) = model_ids(page)
    for fmt in ("stl", "glb", "obj"):
        href = f"/app/models/{model_id}/download?format={fmt}"
        assert href in page
        r = client.get(href)
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'attachment; filename="model-{model_id}.{fmt}"'
        assert r.headers["cache-control"] == "private, no-store"
        mesh = trimesh.load(io.BytesIO(r.content), file_type=fmt, force="mesh")
        assert mesh.is_watertight


def test_the_landing_page_says_what_minimaker_is(client: TestClient) -> None:
    r = client.get("/")
    assert r.headers["content-type"].startswith("text/html")
    assert "printable 3D model" in r.text
    assert 'href="/privacy-policy"' in r.text


def test_the_privacy_policy_is_a_readable_page_from_the_same_data_as_the_json(
    client: TestClient,
) -> None:
    page = client.get("/privacy-policy")
    data = client.get("/api/v1/privacy/policy").json()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<h1 id="policy-heading">Data protection policy</h1>' in html
    assert f"Version {data['version']}, in force since {data['effective']}" in html
    # Every numbered section is a heading, every clause and bullet of the text is on the page.
    assert "<h2>6. Data Subject Rights</h2>" in html
    assert "<li>Encryption of sensitive data during storage and transmission.</li>" in html
    for line in data["text"].splitlines()[1:]:
        text = line.strip().removeprefix("\u2022").strip()
        assert escape(text, quote=False) in html, text
    for purpose in data["purposes"].values():
        assert escape(purpose["description"], quote=False) in html
    for category in data["categories"].values():
        assert escape(category["retention"], quote=False) in html
    assert 'href="/api/v1/privacy/policy"' in html  # the JSON stays, linked from the page


@pytest.mark.parametrize("flag", ["ended=<b>x</b>", "ended=", "ended=erasure&ended=x", "welcome=2"])
def test_sign_in_says_only_its_fixed_notices_and_never_echoes_a_flag(
    client: TestClient, flag: str
) -> None:
    r = client.get(f"/login?{flag}")
    assert r.status_code == 200
    assert 'class="notice"' not in r.text
    assert "<b>x</b>" not in r.text


def test_a_dead_session_cookie_at_sign_in_is_told_its_session_ended(client: TestClient) -> None:
    signed_in(client)
    cookie = client.cookies["mm_session"]
    client.post("/logout", data={"csrf": form_token(client, "/app")})
    put_cookie(client, "mm_session", cookie)  # the old cookie, as a browser still holding it
    page = client.get("/login").text
    assert "Your session ended" in page


def test_every_page_links_to_the_readable_policy_never_to_the_json(client: TestClient) -> None:
    signed_in(client)
    for path in ("/app", "/privacy", "/privacy/delete", "/privacy-policy"):
        html = client.get(path).text
        assert '<a href="/privacy-policy">Privacy policy</a>' in html, path
    client.post("/logout", data={"csrf": form_token(client, "/app")})
    for path in ("/", "/login", "/signup"):
        html = client.get(path).text
        assert '<a href="/privacy-policy">Privacy policy</a>' in html, path
        assert "/api/v1/privacy/policy" not in html, path


def test_signed_in_visitors_go_from_the_landing_page_to_their_photos(client: TestClient) -> None:
    signed_in(client)
    for path in ("/", "/login", "/signup"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/app")


def test_the_app_without_a_session_redirects_to_login(client: TestClient) -> None:
    for path in ("/app", f"/app/uploads/{'0' * 32}/content", f"/app/models/{'0' * 32}/download"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_a_thumbnail_is_the_uploaded_photo_served_privately(client: TestClient) -> None:
    signed_in(client)
    photo = photo_bytes(40, 30, "PNG")
    upload(client, photo)
    page = client.get("/app").text
    (photo_id,) = photo_ids(page)
    assert 'alt="Your photo uploaded' in page
    r = client.get(f"/app/uploads/{photo_id}/content")
    assert r.status_code == 200
    assert r.content == photo
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, no-store"


def test_deleting_a_model_and_a_photo_removes_them_from_the_page_and_the_api(
    client: TestClient, worker: Worker
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    generate(client, photo_id)
    worker.run_until_idle()
    (model_id,) = model_ids(client.get("/app").text)
    token = form_token(client, "/app")

    r = client.post(f"/app/models/{model_id}/delete", data={"csrf": token})
    assert r.status_code == 200 and r.url.path == "/app"
    assert model_ids(r.text) == []
    r = client.post(f"/app/uploads/{photo_id}/delete", data={"csrf": token})
    assert photo_ids(r.text) == []
    assert "No photos yet" in r.text

    headers = api_headers(client)
    assert client.get("/api/v1/models", headers=headers).json() == []
    assert client.get("/api/v1/uploads", headers=headers).json() == []


def test_models_of_a_deleted_photo_stay_listed_with_their_downloads(
    client: TestClient, worker: Worker
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    generate(client, photo_id, lithophane="on")
    worker.run_until_idle()
    token = form_token(client, "/app")
    page = client.post(f"/app/uploads/{photo_id}/delete", data={"csrf": token}).text
    assert "Models of deleted photos" in page
    assert "lithophane" in page
    (model_id,) = model_ids(page)
    assert client.get(f"/app/models/{model_id}/download?format=obj").status_code == 200


def _generation_that_fails(c: Container, job: object) -> None:
    raise GenerationFailed("the mesh is not closed")


# Uploads are validated completely, so no real photo makes the relief fail; the failure is
# put in at the worker's handler seam, and the real failure hook records it.
_generation_that_fails.on_final_failure = generation.run_generation_job.on_final_failure  # type: ignore[attr-defined]


def test_a_failed_model_shows_its_reason_and_offers_no_download(
    client: TestClient, container: Container
) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    generate(client, photo_id)
    Worker(container, handlers={"generate_model": _generation_that_fails}).run_until_idle()
    page = client.get("/app").text
    assert ">failed<" in page
    assert "Failed: Model generation failed: the mesh is not closed." in page
    assert "/download?format=" not in page
    assert REFRESH not in page


def test_a_model_that_is_not_done_cannot_be_downloaded_yet(client: TestClient) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    (photo_id,) = photo_ids(client.get("/app").text)
    generate(client, photo_id)
    (model_id,) = model_ids(client.get("/app").text)
    r = client.get(f"/app/models/{model_id}/download?format=stl")
    assert r.status_code == 409
    assert "Model is queued, not ready." in r.text


def test_a_download_in_an_unknown_format_is_refused(client: TestClient, worker: Worker) -> None:
    signed_in(client)
    upload(client, photo_bytes())
    generate(client, photo_ids(client.get("/app").text)[0])
    worker.run_until_idle()
    (model_id,) = model_ids(client.get("/app").text)
    r = client.get(f"/app/models/{model_id}/download?format=3mf")
    assert r.status_code == 422
    assert "must be one of stl, glb, obj" in r.text


def test_page_errors_are_html_while_api_errors_stay_json(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in page.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "http_error"
    api = client.get(f"/api/v1/uploads/{'0' * 32}")
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "not_authenticated"


def test_logout_only_answers_a_post(client: TestClient) -> None:
    r = client.get("/logout")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("text/html")


def test_pages_are_left_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert all(path.startswith("/api/") for path in paths)


def test_pages_carry_no_inline_script_or_style_so_the_csp_holds(
    client: TestClient, worker: Worker
) -> None:
    pages = [client.get("/").text, client.get("/signup").text, client.get("/login").text]
    signed_in(client)
    upload(client, photo_bytes())
    generate(client, photo_ids(client.get("/app").text)[0])
    pages.append(client.get("/app").text)
    worker.run_until_idle()
    pages.append(client.get("/app").text)
    pages.append(client.get("/nowhere").text)
    for html in pages:
        # Scripts only as files of this origin: no inline script, no handler attributes.
        for tag in re.findall(r"<script[^>]*>", html):
            assert re.fullmatch(r'<script (type="module" )?src="/static/[a-z]+\.js"( defer)?>', tag)
        assert not re.search(r"\son[a-z]+=", html)
        assert "style=" not in html
        assert "<style" not in html
        assert "javascript:" not in html
    assert client.get("/static/site.css").headers["content-type"].startswith("text/css")


def test_every_page_forbids_caching(client: TestClient) -> None:
    for path in ("/", "/signup", "/login", "/missing"):
        assert client.get(path).headers["cache-control"] == "private, no-store"


def test_every_visible_form_control_has_a_label(client: TestClient, worker: Worker) -> None:
    pages = [client.get("/signup").text, client.get("/login").text]
    signed_in(client)
    upload(client, photo_bytes())
    generate(client, photo_ids(client.get("/app").text)[0])
    pages.append(client.get("/app").text)
    for html in pages:
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for tag in re.findall(r"<input\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'\bid="([^"]+)"', tag)
            assert found and found.group(1) in labelled, tag
