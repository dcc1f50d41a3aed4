"""The HTTP layer the features build on imports no feature: only the app factory knows them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from fastapi.testclient import TestClient

import minimaker
from minimaker.entrypoints.app import AUTHENTICATORS
from minimaker.entrypoints.http import TokenKind
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
