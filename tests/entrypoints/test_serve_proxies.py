"""`minimaker serve` believes forwarding headers only from the proxies it is told to trust.

Against a real server process: uvicorn, left to itself, trusts X-Forwarded-For from
127.0.0.1, so a local client (or a proxy passing the header through) could name itself any
address and spray accounts with a fresh one per attempt.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from minimaker.entrypoints.cli import proxy_options
from minimaker.settings import Settings

pytestmark = pytest.mark.server

Serve = Callable[..., str]
#: Failures from one address after which it may no longer retry failed accounts.
ADDRESS_LIMIT = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path, database_url: str, keystore_url: str, master_key: str) -> Iterator[Serve]:
    """Start `minimaker serve` with extra MINIMAKER_* settings; returns its base URL."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []

    def start(**extra: str) -> str:
        port = _free_port()
        env = {
            **os.environ,
            "MINIMAKER_DATA_DIR": str(tmp_path / "data"),
            "MINIMAKER_DATABASE_URL": database_url,
            "MINIMAKER_KEYSTORE_URL": keystore_url,
            "MINIMAKER_MASTER_KEY": master_key,
            "MINIMAKER_EMBEDDED_WORKER": "false",
            "MINIMAKER_ARGON2_TIME_COST": "1",
            "MINIMAKER_ARGON2_MEMORY_KIB": "1024",
            "MINIMAKER_ARGON2_PARALLELISM": "1",
            "MINIMAKER_LOGIN_ADDRESS_MAX_FAILURES": str(ADDRESS_LIMIT),
            **{f"MINIMAKER_{k.upper()}": v for k, v in extra.items()},
        }
        env.pop("FORWARDED_ALLOW_IPS", None)
        log = (tmp_path / "server.log").open("ab")
        logs.append(log)
        argv = [sys.executable, "-m", "minimaker.entrypoints.cli", "serve", "--port", str(port)]
        procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if procs[-1].poll() is not None:
                pytest.fail("server exited: " + (tmp_path / "server.log").read_text())
            try:
                if httpx.get(base + "/api/v1/privacy/policy", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("server did not start: " + (tmp_path / "server.log").read_text())

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
        for log in logs:
            log.close()


def spray(base: str, forwarded: Callable[[int], str]) -> list[int]:
    """Two rounds of wrong passwords on ADDRESS_LIMIT names, each with its own header."""
    names = [f"target{i}" for i in range(ADDRESS_LIMIT)]
    with httpx.Client(base_url=base, timeout=30) as http:
        return [
            http.post(
                "/api/v1/auth/token",
                data={"username": name, "password": "a wrong guess"},
                headers={"X-Forwarded-For": forwarded(i)},
            ).status_code
            for i, name in enumerate(names * 2)
        ]


def test_a_rotating_forwarded_for_from_an_untrusted_client_is_ignored(serve: Serve) -> None:
    statuses = spray(serve(), lambda i: f"198.51.100.{i}")
    assert statuses == [401] * ADDRESS_LIMIT + [429] * ADDRESS_LIMIT


def test_a_configured_proxy_is_believed_and_its_clients_are_counted_apart(serve: Serve) -> None:
    base = serve(trusted_proxies="127.0.0.1")
    # Each attempt from another client behind the proxy: no address is flagged.
    assert spray(base, lambda i: f"198.51.100.{i}") == [401] * (2 * ADDRESS_LIMIT)
    # One client behind it, whatever it forged to the left of what our proxy appended.
    one = spray(base, lambda i: f"203.0.113.{i}, 192.0.2.50")
    assert one == [401] * ADDRESS_LIMIT + [429] * ADDRESS_LIMIT


def test_uvicorn_reads_forwarding_headers_only_from_the_trusted_proxies() -> None:
    assert proxy_options(Settings()) == {"proxy_headers": False}
    trusted = Settings(trusted_proxies=["10.0.0.0/8"])
    assert proxy_options(trusted) == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.0/8"]}
    # Behind proxies that set RFC 7239 Forwarded, a passed-through X-Forwarded-For is a lie.
    rfc = Settings(trusted_proxies=["10.0.0.0/8"], forwarded_header="forwarded")
    assert proxy_options(rfc) == {"proxy_headers": False}
