"""The HTTP layer: it imports no feature (only the app factory knows them); its middleware
holds a request body to its route's size and media type; a 405 names every method."""

from __future__ import annotations

import ast
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import func, select

import minimaker
from minimaker.bootstrap import metadata
from minimaker.entrypoints.app import AUTHENTICATORS
from minimaker.entrypoints.http import TokenKind
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.conftest import photo_bytes, signup_and_login

ENTRYPOINTS = Path(minimaker.__file__).parent / "entrypoints"
FEATURES = ("accounts", "uploads", "generation", "mail", "staff", "rights", "operations")


def _features_imported(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [n for n in names if n.split(".")[:2] in (["minimaker", f] for f in FEATURES)]
    return found


def test_the_shared_http_layer_imports_no_feature() -> None:
    # What features' api.py and pages.py stand on, and what renders their errors.
    shared = [ENTRYPOINTS / name for name in ("http.py", "errors.py", "middleware.py")]
    shared += sorted((ENTRYPOINTS / "page_shell").glob("*.py"))
    assert len(shared) >= 7  # the walk found the page shell
    assert {p.name: _features_imported(p) for p in shared} == {p.name: [] for p in shared}


def test_the_check_sees_the_app_factory_import_the_features() -> None:
    assert "minimaker.rights" in _features_imported(ENTRYPOINTS / "app.py")


def test_every_kind_of_token_has_the_service_that_checks_it() -> None:
    assert set(AUTHENTICATORS) == set(get_args(TokenKind))


def test_personal_api_answers_are_never_stored_by_a_browser_or_proxy(client: TestClient) -> None:
    headers = signup_and_login(client)
    token = client.post(
        "/api/v1/auth/token",
        data={"username": "ada", "password": "correct horse battery staple"},
    )
    answers = [
        token,
        client.get("/api/v1/me", headers=headers),
        client.get("/api/v1/uploads", headers=headers),
        client.get("/api/v1/privacy/requests", headers=headers),
        client.get("/api/v1/me"),  # the 401 too
    ]
    assert [r.headers.get("cache-control") for r in answers] == ["no-store"] * len(answers)
    # A route that says how it may be cached keeps its own word.
    photo = client.post(
        "/api/v1/uploads", files={"file": ("p.png", photo_bytes(), "image/png")}, headers=headers
    )
    content = client.get(f"/api/v1/uploads/{photo.json()['id']}/content", headers=headers)
    assert content.headers["cache-control"] == "private, no-store"


def _everything(c: Container) -> dict[str, int]:
    """Rows in every table of the data database, and the blobs and files in the data dir."""
    with c.sessions() as s:
        found = {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in metadata().sorted_tables
        }
    found["blobs"] = sum(1 for _ in c.blobs.store.iter_ids())
    found["files"] = sum(1 for p in c.settings.data_dir.rglob("*") if p.is_file())
    return found


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked: no Content-Length to refuse it by."""
    for start in range(0, total, size):
        yield b"\0" * min(size, total - start)


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_written(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    before = _everything(container)
    over_upload = container.settings.max_upload_bytes + 128 * 1024
    multipart = {**headers, "Content-Type": "multipart/form-data; boundary=x"}
    upload = client.post("/api/v1/uploads", headers=multipart, content=_chunks(over_upload))
    as_json = {**headers, "Content-Type": "application/json"}
    over_json = container.settings.max_body_bytes + 1
    request = client.post("/api/v1/privacy/requests", headers=as_json, content=_chunks(over_json))
    for r in (upload, request):
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.request.headers
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"
        assert r.headers["connection"] == "close"
    assert _everything(container) == before


def test_a_json_body_is_held_to_the_small_limit_and_an_upload_to_the_large_one(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    before = _everything(container)
    padded = {"type": "access", "details": {"note": "x" * container.settings.max_body_bytes}}
    big_json = client.post("/api/v1/privacy/requests", headers=headers, json=padded)
    assert big_json.status_code == 413
    assert str(container.settings.max_body_bytes) in big_json.json()["error"]["message"]
    assert _everything(container) == before
    # A photo far over the JSON limit, well under the upload limit, is taken.
    photo = _noise_png(200, 200)
    assert container.settings.max_body_bytes < len(photo) < container.settings.max_upload_bytes
    r = client.post("/api/v1/uploads", headers=headers, files={"file": ("p", photo)})
    assert r.status_code == 201, r.text


def _noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: random pixels."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buf, "PNG")
    return buf.getvalue()


def test_a_body_of_a_media_type_the_route_does_not_take_is_415_and_nothing_is_written(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    before = _everything(container)
    body = b'{"type": "access"}'
    for path, content_type in [
        ("/api/v1/privacy/requests", "text/plain"),
        ("/api/v1/privacy/requests", "application/x-www-form-urlencoded"),
        ("/api/v1/uploads", "application/json"),
        ("/api/v1/auth/token", "application/json"),
    ]:
        r = client.post(path, headers={**headers, "Content-Type": content_type}, content=body)
        assert r.status_code == 415, (path, content_type, r.text)
        assert r.json()["error"]["code"] == "unsupported_media_type"
    assert _everything(container) == before
    # JSON under a structured suffix is JSON, as FastAPI reads it.
    problem_json = {**headers, "Content-Type": "application/merge-patch+json"}
    r = client.patch("/api/v1/me", headers=problem_json, content=b'{"name": "Ada L."}')
    assert r.status_code == 200, r.text


def test_a_405_names_every_method_the_path_takes(client: TestClient) -> None:
    allowed = {
        "/api/v1/me": "GET, HEAD, PATCH, DELETE",
        "/api/v1/uploads/0123": "GET, HEAD, DELETE",
        "/api/v1/privacy/preferences": "GET, HEAD, PUT",
        # A literal path is matched before a template that would match it too (OpenAPI's rule).
        "/api/v1/privacy/requests/public": "POST",
        "/api/v1/privacy/verify/some-token": "GET, HEAD, POST",
        "/logout": "POST",
    }
    answers = {path: client.request("OPTIONS", path) for path in allowed}
    assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(allowed, 405)
    assert {p: r.headers["allow"] for p, r in answers.items()} == allowed
    assert client.put("/api/v1/me").headers["allow"] == allowed["/api/v1/me"]


def test_the_body_limit_setting_refuses_a_limit_too_small_to_be_useful(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="max_body_bytes"):
        Settings(data_dir=tmp_path, max_body_bytes=10)
