"""`minimaker serve --reuse-port`: several real serve processes on one host:port (SO_REUSEPORT),
the kernel spreading connections among them; and a clear refusal where sharing cannot work.

Each process writes its own log file with the access log on, so which process answered a
request is read from the logs, not from anything the app would add for a test.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from minimaker.settings import Settings
from tests.certificates import make_server_certificate
from tests.processes import ROOT, minimaker, process_env

pytestmark = pytest.mark.server
LISTENING = "(SO_REUSEPORT)"
REQUESTS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """One serve process and its own log file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def said(self) -> str:
        return self.log.read_text(errors="replace")


Start = Callable[..., Served]


@pytest.fixture
def start(settings: Settings, tmp_path: Path) -> Iterator[Start]:
    """Start `minimaker serve ARGS` with a log of its own; wait until it listens."""
    running: list[Served] = []

    def serve(name: str, *args: str, **env: str) -> Served:
        environment = process_env(
            settings, MINIMAKER_EMBEDDED_WORKER="false", MINIMAKER_ACCESS_LOG="true", **env
        )
        argv = [sys.executable, "-m", "minimaker.entrypoints.cli", "serve", *args]
        log = tmp_path / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=environment, stdout=out, stderr=out)
        served = Served(proc, log)
        running.append(served)
        deadline = time.monotonic() + 60
        while LISTENING not in served.said():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start listening: {served.said()[-3000:]}")
            time.sleep(0.1)
        return served

    yield serve
    for served in running:
        served.proc.terminate()
    for served in running:
        served.proc.wait(timeout=15)


def _answered_by(servers: list[Served], path: str) -> list[int]:
    return [s.said().count(f'"GET {path} HTTP/1.1" 200') for s in servers]


def test_two_serve_processes_share_one_port_and_both_answer(start: Start) -> None:
    port = str(_free_port())
    servers = [start(name, "--port", port, "--reuse-port") for name in ("one", "two")]
    base = f"http://127.0.0.1:{port}"
    for _ in range(REQUESTS):  # a fresh connection each: the kernel picks a process per connection
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
    assert httpx.get(base + "/readyz", timeout=10).status_code == 200
    deadline = time.monotonic() + 10
    while sum(_answered_by(servers, "/healthz")) < REQUESTS and time.monotonic() < deadline:
        time.sleep(0.1)  # the access log line may follow the answer by a moment
    one, two = _answered_by(servers, "/healthz")
    assert one + two == REQUESTS
    # 120 connections spread by the kernel's hash of the client port: both take some.
    assert one > 0 and two > 0, (one, two)
    assert all(s.proc.poll() is None for s in servers)


def test_reuse_port_serves_tls_on_the_shared_socket(start: Start, tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    port = str(_free_port())
    tls = ["--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key)]
    start("tls", "--port", port, "--reuse-port", *tls, MINIMAKER_COOKIE_SECURE="false")
    trust = ssl.create_default_context(cafile=str(certificate.ca))
    answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=10)
    assert answer.status_code == 200
    assert "strict-transport-security" in answer.headers
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # HTTPS only, shared or not


def test_reuse_port_on_a_port_held_without_it_is_a_clear_error_before_any_database(
    tmp_path: Path, master_key: str
) -> None:
    fresh = Settings(data_dir=tmp_path / "never-created", master_key=master_key)
    with socket.socket() as holder:  # a process that did not ask to share the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        refused = minimaker("serve", "--port", port, "--reuse-port", env=process_env(fresh))
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"cannot bind 127.0.0.1:{port} with --reuse-port" in said
    assert "a process that did not set it holds the port" in said
    assert not fresh.data_dir.exists()  # refused before any database or key file


def test_reuse_port_on_port_zero_is_refused(tmp_path: Path, master_key: str) -> None:
    fresh = Settings(data_dir=tmp_path / "never-created", master_key=master_key)
    refused = minimaker("serve", "--port", "0", "--reuse-port", env=process_env(fresh))
    assert refused.returncode == 2, refused.stderr
    assert "--reuse-port needs a fixed --port, not 0" in " ".join(refused.stderr.split())
    assert not fresh.data_dir.exists()


def test_serve_help_names_reuse_port() -> None:
    shown = minimaker("serve", "--help", env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "--reuse-port" in shown.stdout
