"""The standalone processes: `minimaker db upgrade` on a fresh directory, `minimaker worker`."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

import minimaker as package
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.settings import Settings
from tests.conftest import photo_bytes, signup_and_login
from tests.processes import minimaker, process_env

#: Every revision of the data database the package ships (0001_..., 0002_..., ...).
_REVISIONS = sorted(
    (Path(package.__file__).parent / "adapters" / "migrations" / "versions").glob("[0-9]*.py")
)


def _env(settings: Settings) -> dict[str, str]:
    return process_env(settings, MINIMAKER_GENERATION_MAX_RESOLUTION="32")


def test_db_upgrade_creates_both_databases_in_a_fresh_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env.update(
        MINIMAKER_DATA_DIR=str(tmp_path / "fresh"), MINIMAKER_MASTER_KEY=encode_key(generate_key())
    )
    first = minimaker("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(_REVISIONS)} migration(s)" in first.stderr
    # SQLite gives its -wal/-shm files (removed again at a clean close) the same mode.
    for name in ("minimaker.db", "keys.db"):
        assert (tmp_path / "fresh" / name).stat().st_mode & 0o777 == 0o600, name
    again = minimaker("db", "upgrade", env=env)
    assert "applied 0 migration(s)" in again.stderr


def test_a_standalone_worker_process_runs_queued_generation(
    client: TestClient, settings: Settings
) -> None:
    headers = signup_and_login(client)
    up = client.post("/api/v1/uploads", files={"file": ("p.png", photo_bytes())}, headers=headers)
    model = client.post(f"/api/v1/uploads/{up.json()['id']}/models", headers=headers).json()
    done = minimaker("worker", "--once", env=_env(settings))
    assert done.returncode == 0, done.stderr
    assert "ran 1 jobs" in done.stderr
    after = client.get(f"/api/v1/models/{model['id']}", headers=headers).json()
    assert after["status"] == "done"
