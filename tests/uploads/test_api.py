"""Uploads and model generation over HTTP: the contract, ownership, and every bad input."""

from __future__ import annotations

import io
import struct
import zlib

import trimesh
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.job_queue import Job
from minimaker.corpus.tables import StagedCopy
from minimaker.entrypoints.worker import Worker
from minimaker.generation.tables import Model3D
from minimaker.kernel.container import Container
from minimaker.uploads.tables import Upload
from tests.conftest import photo_bytes, signup_and_login


def _upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "p.png"):
    return client.post(
        "/api/v1/uploads", files={"file": (name, data, "application/octet-stream")}, headers=headers
    )


def _counts(c: Container) -> tuple[int, int, int, int]:
    with c.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Upload)) or 0,
            s.scalar(select(func.count()).select_from(Model3D)) or 0,
            s.scalar(select(func.count()).select_from(Job)) or 0,
            sum(1 for _ in c.blobs.store.iter_ids()),
        )


def test_upload_is_recognised_by_content_not_by_name(client: TestClient) -> None:
    headers = signup_and_login(client)
    r = _upload(client, headers, photo_bytes(fmt="JPEG"), name="holiday.png")
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "image/jpeg"
    assert (r.json()["width"], r.json()["height"]) == (48, 32)
    for fmt, media in (("PNG", "image/png"), ("WEBP", "image/webp")):
        r = _upload(client, headers, photo_bytes(fmt=fmt), name="x.jpg")
        assert r.json()["media_type"] == media


def test_upload_content_round_trips_the_exact_bytes(client: TestClient) -> None:
    headers = signup_and_login(client)
    data = photo_bytes(fmt="PNG", seed=3)
    upload_id = _upload(client, headers, data).json()["id"]
    r = client.get(f"/api/v1/uploads/{upload_id}/content", headers=headers)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "image/png"
    assert "no-store" in r.headers["cache-control"]
    listed = client.get("/api/v1/uploads", headers=headers).json()
    assert [u["id"] for u in listed] == [upload_id]


def test_generate_then_download_every_format_as_a_watertight_mesh(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    r = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
    assert r.status_code == 202, r.text
    model_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    assert worker.run_until_idle() == 1
    model = client.get(f"/api/v1/models/{model_id}", headers=headers).json()
    assert model["status"] == "done", model
    assert model["formats"] == ["stl", "glb", "obj"]
    for fmt in ("stl", "glb", "obj"):
        r = client.get(f"/api/v1/models/{model_id}/content?format={fmt}", headers=headers)
        assert r.status_code == 200
        mesh = trimesh.load(io.BytesIO(r.content), file_type=fmt, force="mesh")
        assert mesh.is_watertight


def test_model_parameters_are_validated_before_anything_is_queued(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    before = _counts(container)
    for body in (
        {"width_mm": 0},
        {"width_mm": "100"},
        {"lithophane": "yes"},
        {"max_resolution": 10**9},
        {"max_resolution": 64.5},
        {"max_resolution": "64"},
        {"max_resolution": True},
        {"colour": "red"},
    ):
        r = client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
    assert _counts(container) == before
    # JSON has one kind of number: 64.0 is the whole number 64, as the schema's integer says.
    r = client.post(
        f"/api/v1/uploads/{upload_id}/models", json={"max_resolution": 64.0}, headers=headers
    )
    assert r.status_code == 202, r.text


def test_download_of_an_unfinished_model_is_a_conflict(client: TestClient) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    r = client.get(f"/api/v1/models/{model_id}/content?format=stl", headers=headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_ready"


def test_unknown_download_format_is_refused(client: TestClient, worker: Worker) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    worker.run_until_idle()
    r = client.get(f"/api/v1/models/{model_id}/content?format=dwg", headers=headers)
    assert r.status_code == 422


def test_delete_removes_rows_and_encrypted_blobs(
    client: TestClient, worker: Worker, container: Container
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    worker.run_until_idle()
    assert _counts(container)[3] == 5  # the photo, three model files and their preview
    assert client.delete(f"/api/v1/models/{model_id}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/uploads/{upload_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/models/{model_id}", headers=headers).status_code == 404
    uploads, models, _, blobs = _counts(container)
    with container.sessions() as s:
        staged = s.scalar(select(func.count()).select_from(StagedCopy))
    # Nothing of theirs is left: the two blobs are the anonymised copies offered to the
    # training corpus (the photo, and the model once), under the corpus's key (policy 9.2).
    assert (uploads, models, blobs, staged) == (0, 0, 2, 2)


def test_another_users_ids_answer_exactly_like_missing_ids(
    client: TestClient, worker: Worker, container: Container
) -> None:
    alice = signup_and_login(client, username="alice")
    mallory = signup_and_login(client, username="mallory")
    upload_id = _upload(client, alice, photo_bytes()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=alice).json()["id"]
    worker.run_until_idle()
    before = _counts(container)
    missing = "0" * 32
    for method, path in (
        ("GET", "/api/v1/uploads/{u}"),
        ("GET", "/api/v1/uploads/{u}/content"),
        ("DELETE", "/api/v1/uploads/{u}"),
        ("POST", "/api/v1/uploads/{u}/models"),
        ("GET", "/api/v1/models/{m}"),
        ("GET", "/api/v1/models/{m}/content?format=stl"),
        ("DELETE", "/api/v1/models/{m}"),
    ):
        theirs = client.request(method, path.format(u=upload_id, m=model_id), headers=mallory)
        absent = client.request(method, path.format(u=missing, m=missing), headers=mallory)
        assert theirs.status_code == absent.status_code == 404, (method, path)
        assert theirs.json() == absent.json()
    assert _counts(container) == before
    assert client.get("/api/v1/uploads", headers=mallory).json() == []
    assert client.get("/api/v1/models", headers=mallory).json() == []


def _png_bomb(side: int) -> bytes:
    """A valid PNG header claiming side x side pixels, with a tiny compressed body."""
    raw = zlib.compress(b"\x00" * (side + 1) * 16, 9)  # a few rows; the header is what counts

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_bad_uploads_get_a_clear_4xx_and_write_nothing(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    jpeg = photo_bytes(fmt="JPEG")
    cases = {
        "not an image": (b"%PDF-1.7 definitely not a photo" * 10, 415),
        "gif is not allowed": (b"GIF89a" + b"\x00" * 64, 415),
        "truncated jpeg": (jpeg[: len(jpeg) // 2], 422),
        "20000x20000 png bomb": (_png_bomb(20000), 413),
        "empty file": (b"", 415),
        "oversized body": (b"\xff\xd8\xff" + b"\x00" * (3 * 1024 * 1024), 413),
    }
    before = _counts(container)
    for label, (data, status) in cases.items():
        r = _upload(client, headers, data)
        assert r.status_code == status, (label, r.text)
        assert r.json()["error"]["message"], label
    assert _counts(container) == before


def test_upload_request_shape_errors_are_4xx(client: TestClient, container: Container) -> None:
    headers = signup_and_login(client)
    before = _counts(container)
    missing = client.post("/api/v1/uploads", headers=headers, data={"other": "x"})
    assert missing.status_code == 422
    as_json = client.post("/api/v1/uploads", headers=headers, json={"file": "x"})
    assert as_json.status_code == 415  # the route takes multipart only (entrypoints/middleware)
    no_auth = client.post("/api/v1/uploads", files={"file": ("p.png", photo_bytes())})
    assert no_auth.status_code == 401
    assert _counts(container) == before


def test_a_body_far_over_the_limit_gets_json_on_the_api_and_a_page_elsewhere(
    client: TestClient,
) -> None:
    headers = signup_and_login(client)
    big = b"\xff\xd8\xff" + b"\x00" * (3 * 1024 * 1024)
    api = _upload(client, headers, big)
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/json"
    page = client.post("/app/uploads", files={"file": ("p.jpg", big)})
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "exceeds the limit" in page.text


def test_a_model_whose_photo_was_deleted_before_it_ran_is_marked_failed(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers, photo_bytes()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    assert client.delete(f"/api/v1/uploads/{upload_id}", headers=headers).status_code == 204
    worker.run_until_idle()
    model = client.get(f"/api/v1/models/{model_id}", headers=headers).json()
    assert model["status"] == "failed"
    assert "deleted" in model["error"]
