"""Fixtures: every database test runs on real SQLite, and on real PostgreSQL when
MINIMAKER_TEST_DATABASE_URL is set (a fresh database per run, dropped afterwards)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from minimaker.adapters import keystore, migrate
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.adapters.db import make_engine
from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.mailserver import Mailbox, smtp_server
from tests.pg import fresh_pg_database

PG_URL = os.environ.get("MINIMAKER_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="MINIMAKER_TEST_DATABASE_URL not set"),
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated data database and key store; each test gets its own copies."""
    folder = tmp_path_factory.mktemp("template")
    for name, upgrade in (("minimaker.db", migrate.upgrade), ("keys.db", keystore.upgrade)):
        engine = make_engine(f"sqlite:///{folder / name}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
    return folder


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this run; dropped at the end."""
    assert PG_URL
    with fresh_pg_database(PG_URL) as url:
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_database: str) -> Iterator[Engine]:
    """One engine for emptying the PostgreSQL database between tests."""
    engine = make_engine(pg_database)
    try:
        yield engine
    finally:
        engine.dispose()


def _empty_all(engine: Engine) -> None:
    """Every row of every table gone and every sequence back at 1, as after TRUNCATE ...
    RESTART IDENTITY, at a fraction of its cost (1 ms, not 60 ms, for near-empty tables).
    Foreign keys and the audit chain's append-only triggers are off for this transaction
    only (session_replication_role = replica), so the order of the deletes does not matter."""
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        kept = ("alembic_version", "keystore_version")
        deletes = "; ".join(f'DELETE FROM "{t}"' for t in tables if t not in kept)
        if deletes:
            conn.exec_driver_sql(deletes)
        conn.exec_driver_sql(
            "SELECT setval(oid, 1, false) FROM pg_class"
            " WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
        )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database of the parametrised backend."""
    if request.param == "sqlite":
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o700)
        template = request.getfixturevalue("sqlite_template")
        for name in ("minimaker.db", "keys.db"):
            shutil.copyfile(template / name, data_dir / name)
        yield f"sqlite:///{data_dir / 'minimaker.db'}"
        return
    url = request.getfixturevalue("pg_database")
    engine = request.getfixturevalue("pg_engine")
    try:
        yield url
    finally:
        _empty_all(engine)


@pytest.fixture
def master_key() -> str:
    return encode_key(generate_key())


@pytest.fixture
def keystore_url(database_url: str, tmp_path: Path) -> str:
    """The key store: its own SQLite file beside the data, or the PostgreSQL test database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'data' / 'keys.db'}"
    return database_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, keystore_url: str, master_key: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        backup_dir=tmp_path,  # breach scoping reads backups from here (tests write them here)
        database_url=database_url,
        keystore_url=keystore_url,
        master_key=master_key,
        max_upload_bytes=2 * 1024 * 1024,
        max_image_pixels=4_000_000,
        max_image_side=4000,
        generation_max_resolution=64,
        embedded_worker=False,
        # Hash strength is not under test here; a cheap argon2id keeps the suite fast.
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def container(settings: Settings, clock: ManualClock) -> Iterator[Container]:
    c = build(settings, clock=clock)
    try:
        yield c
    finally:
        c.close()


_APPS: dict[tuple[int, int], FastAPI] = {}


def app_for(c: Container) -> FastAPI:
    """The real app (no embedded worker) around `c`. Building one analyses every route's
    dependencies (about 90 ms), so each test process builds one per set of body limits - all
    `create_app` reads from the settings when no worker runs - and points it at the test's
    container; the routes find their container in `app.state`, as in production."""
    key = (c.settings.max_upload_bytes, c.settings.max_body_bytes)
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = create_app(c, worker=False)
    app.state.container = c
    return app


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """httpx against the real app (no server), with the worker run explicitly by tests."""
    with TestClient(app_for(container), base_url="https://testserver") as tc:
        yield tc


@pytest.fixture
def worker(container: Container) -> Worker:
    return Worker(container)


def photo_bytes(width: int = 48, height: int = 32, fmt: str = "PNG", seed: int = 7) -> bytes:
    """A small synthetic photo with structure (gradient + pattern) in the given format."""
    img = Image.new("RGB", (width, height))
    px = img.load()
    assert px is not None
    for y in range(height):
        for x in range(width):
            px[x, y] = ((x * 5 + seed) % 256, (y * 7) % 256, ((x ^ y) * 3) % 256)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def signup_and_login(
    client: TestClient,
    *,
    username: str = "ada",
    email: str | None = None,
    name: str = "Ada Lovelace",
) -> dict[str, str]:
    """Create an account over HTTP and return the Authorization header for it."""
    email = email or f"{username}@example.org"
    password = "correct horse battery staple"
    r = client.post(
        "/api/v1/auth/signup",
        json={"name": name, "email": email, "username": username, "password": password},
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def other_browser(client: TestClient) -> Iterator[TestClient]:
    """Another browser (its own cookie jar) talking to the same app and database."""
    with TestClient(client.app, base_url="https://testserver") as browser:
        yield browser


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and what it received."""
    with smtp_server() as box:
        yield box


@pytest.fixture
def live_server(container: Container) -> Iterator[str]:
    """The app on a real uvicorn server on a free loopback port (no worker), for a browser."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(create_app(container, worker=False), port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)
