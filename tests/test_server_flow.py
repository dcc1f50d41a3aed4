"""The whole product over real HTTP against a real `minimaker serve` process."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import trimesh
from PIL import Image

from minimaker.adapters.db import make_engine
from tests.scan import needles_for, scan_database, scan_files, windows

pytestmark = pytest.mark.server

PERSON = {
    "name": "Hedwig Kiesler-Markey",
    "email": "hedy.lamarr@example.org",
    "username": "frequencyhopper",
    "password": "spread spectrum since 1942",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def noisy_photo() -> bytes:
    """A high-entropy JPEG, so any 32-byte window of it is unique to it."""
    rng = np.random.default_rng(1942)
    pixels = rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def server(
    tmp_path: Path, database_url: str, keystore_url: str, master_key: str
) -> Iterator[tuple[str, Path]]:
    """`minimaker serve` on a free port, with its embedded worker; yields its URL."""
    port = _free_port()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "MINIMAKER_DATA_DIR": str(data_dir),
        "MINIMAKER_DATABASE_URL": database_url,
        "MINIMAKER_KEYSTORE_URL": keystore_url,
        "MINIMAKER_MASTER_KEY": master_key,
        "MINIMAKER_WORKER_POLL_S": "0.1",
        "MINIMAKER_GENERATION_MAX_RESOLUTION": "96",
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minimaker.entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("server exited: " + (tmp_path / "server.log").read_text())
            try:
                if httpx.get(base + "/api/v1/privacy/policy", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start: " + (tmp_path / "server.log").read_text())
        yield base, data_dir
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_signup_upload_generate_download_then_nothing_personal_is_readable_at_rest(
    server: tuple[str, Path], database_url: str, tmp_path: Path
) -> None:
    base, data_dir = server
    photo = noisy_photo()
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/api/v1/auth/signup", json=PERSON).status_code == 201
        tok = http.post(
            "/api/v1/auth/token",
            data={"username": PERSON["username"], "password": PERSON["password"]},
        )
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        up = http.post(
            "/api/v1/uploads", files={"file": ("me.jpg", photo, "image/jpeg")}, headers=headers
        )
        assert up.status_code == 201, up.text
        model = http.post(f"/api/v1/uploads/{up.json()['id']}/models", headers=headers).json()
        deadline = time.monotonic() + 60
        while model["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            model = http.get(f"/api/v1/models/{model['id']}", headers=headers).json()
        assert model["status"] == "done", model
        for fmt in ("stl", "glb", "obj"):
            r = http.get(
                f"/api/v1/models/{model['id']}/content", params={"format": fmt}, headers=headers
            )
            assert r.status_code == 200
            assert trimesh.load(io.BytesIO(r.content), file_type=fmt, force="mesh").is_watertight
        assert (
            http.get(f"/api/v1/uploads/{up.json()['id']}/content", headers=headers).content == photo
        )

    needles = needles_for(PERSON["email"], PERSON["name"], PERSON["username"])
    photo_windows = windows(photo)
    assert scan_files(data_dir, needles, photo_windows) == {}
    log_text = (tmp_path / "server.log").read_bytes()
    assert log_text, "the server log should not be empty"
    assert [n for n in needles if n in log_text] == []
    engine = make_engine(database_url)
    try:
        assert scan_database(engine, needles, photo_windows) == {}
    finally:
        engine.dispose()
    # And the scan would have caught them: the same check on a plain copy finds the photo.
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "copy.jpg").write_bytes(photo)
    assert scan_files(tmp_path / "plain", needles, photo_windows) != {}
