"""The document declares the 503 every route that touches the blob store answers while the
store is down (StorageUnavailable), with Retry-After and the one error body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.openapi import api_routes

#: Every operation that reads or writes blobs: uploads, model files, previews, archives.
STORE_ROUTES = [
    ("post", "/api/v1/uploads"),
    ("get", "/api/v1/uploads/{upload_id}/content"),
    ("delete", "/api/v1/uploads/{upload_id}"),  # the corpus copy reads the photo first
    ("get", "/api/v1/uploads/{upload_id}/preview.png"),
    ("get", "/api/v1/models/{model_id}/content"),
    ("get", "/api/v1/models/{model_id}/preview.png"),
    ("delete", "/api/v1/models/{model_id}"),
    ("get", "/api/v1/privacy/requests/{request_id}/download"),
    ("post", "/api/v1/privacy/download/{token}"),
]


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    found = client.get("/api/v1/openapi.json")
    assert found.status_code == 200
    return found.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "path"), STORE_ROUTES)
def test_a_route_that_touches_the_blob_store_declares_its_503(
    document: dict[str, Any], method: str, path: str
) -> None:
    declared = document["paths"][path][method]["responses"]["503"]
    assert "storage" in declared["description"]
    assert declared["headers"]["Retry-After"]["required"] is True
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert declared["content"]["application/json"]["schema"] == error


def test_a_route_that_does_not_touch_it_declares_no_503(document: dict[str, Any]) -> None:
    for path, method in (("/api/v1/me", "get"), ("/api/v1/uploads", "get")):
        assert "503" not in document["paths"][path][method]["responses"]


def test_the_emailed_download_link_still_answers_its_errors_as_a_page_too(
    document: dict[str, Any],
) -> None:
    # One shared declaration must not carry one route's error media types to another.
    link = document["paths"]["/api/v1/privacy/download/{token}"]["post"]["responses"]["503"]
    assert set(link["content"]) == {"application/json", "text/html"}
    content = document["paths"]["/api/v1/models/{model_id}/content"]["get"]["responses"]["503"]
    assert set(content["content"]) == {"application/json"}


def test_the_table_names_real_operations(client: TestClient) -> None:
    app: Any = client.app
    known = {(m.lower(), p) for p, r in api_routes(app) for m in r.methods or ()}
    assert set(STORE_ROUTES) <= known
