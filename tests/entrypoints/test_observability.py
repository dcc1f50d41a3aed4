"""Health, readiness, Prometheus metrics and JSON logs (issue 13, item 2): a load balancer can
tell a live process from a ready one; a scraper with the token reads request, queue, outbox
and deadline numbers labelled by route template, never by an id; logs can be JSON lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from minimaker.entrypoints import cli
from minimaker.kernel.container import Container
from minimaker.rights import intake
from minimaker.settings import Settings
from tests.conftest import photo_bytes, signup_and_login

TOKEN = "scrape-" + "x" * 32


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})


def test_live_and_ready_and_not_ready_when_the_schema_is_not_the_codes(
    client: TestClient, container: Container
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "database": True,
        "schema": True,
        "key_store": True,
        "blob_store": True,
    }
    with container.engine.begin() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("DELETE FROM alembic_version"))
    try:
        refused = client.get("/readyz")
    finally:  # the PostgreSQL schema is shared by the tests: put the version back
        with container.engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})
    assert refused.status_code == 503
    assert refused.json() == {
        "status": "not_ready",
        "checks": {"database": True, "schema": False, "key_store": True, "blob_store": True},
    }
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def _scrape(client: TestClient, auth: str | None = f"Bearer {TOKEN}") -> str:
    headers = {} if auth is None else {"Authorization": auth}
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


def _value(exposition: str, series: str) -> float:
    """The value of one series in a scrape; 0 when it is not there yet."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_label_routes_by_template_and_count_the_fleets_work(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    made = client.post(
        "/api/v1/uploads", files={"file": ("p.png", photo_bytes(), "image/png")}, headers=headers
    )
    assert made.status_code == 201, made.text
    upload_id = made.json()["id"]
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json={}, headers=headers)
    assert r.status_code == 202, r.text
    model_id = r.json()["id"]
    route = 'route="/api/v1/models/{model_id}"'
    ok = f'minimaker_http_requests_total{{method="GET",{route},status="200"}}'
    before = _value(_scrape(client), ok)  # the app (and its counters) serves the whole run
    assert client.get(f"/api/v1/models/{model_id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/models/{'0' * 32}", headers=headers).status_code == 404
    client.get("/no/such/path/ada@example.org")
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    intake.submit(container, user_id=user_id, type="access")
    found = _scrape(client)
    assert _value(found, ok) == before + 1
    assert 'route="/api/v1/models/{model_id}",status="404"' in found
    assert 'route="unmatched"' in found
    assert 'minimaker_jobs{kind="generate_model",status="queued"} 1.0' in found
    assert 'minimaker_rights_requests_at_risk{deadline="overdue"} 0.0' in found
    assert "minimaker_http_request_duration_seconds_bucket" in found
    for personal in (model_id, upload_id, user_id, "ada", "example.org"):
        assert personal not in found


def test_metrics_need_the_token_and_are_not_there_without_one(
    client: TestClient, container: Container, settings: Settings
) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    _scrape(client)
    object.__setattr__(container, "settings", settings.model_copy(update={"metrics_token": None}))
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    yield
    root.handlers[:] = kept
    root.setLevel(level)


def test_json_logs_are_one_object_per_line(root_handlers: None) -> None:
    cli._logging("json")
    (handler,) = logging.getLogger().handlers
    record = logging.LogRecord(
        "minimaker.worker", logging.WARNING, __file__, 1, "job %s", ("j1",), None
    )
    line = handler.format(record)
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING" and parsed["name"] == "minimaker.worker"
    assert parsed["message"] == "job j1" and "asctime" in parsed
    cli._logging("text")
    (handler,) = logging.getLogger().handlers
    assert handler.format(record).endswith("WARNING minimaker.worker: job j1")
