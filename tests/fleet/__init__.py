"""A MiniMaker fleet as plain processes: N `minimaker serve` (embedded worker off) and M
`minimaker worker` on one PostgreSQL and one SeaweedFS, each process with a data directory of
its own, as on machines of their own. The compose file's topology (deploy/compose.yaml),
without a container engine; the fleet tests and the load benchmarks start it.

The launcher is this package's __init__ (it was tests/fleet.py: a package of the same name
hides a module beside it), so `from tests.fleet import fleet` is unchanged; the fleet's own
tests are the package's modules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from minimaker.adapters.crypto.keys import encode_key, generate_key
from tests.mailserver import free_port
from tests.pg import fresh_pg_database
from tests.seaweed import SeaweedRunner, SeaweedS3

ROOT = Path(__file__).resolve().parents[2]  # the checkout: tests/fleet/__init__.py
START_TIMEOUT_S = 60.0
T = TypeVar("T")
#: What `serve --reuse-port` logs once it takes connections on the shared socket.
SHARED_LISTENING = b"(SO_REUSEPORT)"
#: What `minimaker worker` logs once it polls for jobs.
WORKER_POLLING = b"polling for jobs"


@dataclass
class Process:
    """One process of the fleet: its command, environment, log file and, while up, its Popen."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    #: A line the process logs once it is ready: `serve --reuse-port` (another process may
    #: answer /readyz on the shared port), a worker (it serves nothing to ask).
    ready_line: bytes | None = None

    @property
    def base(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} is running"
        logged = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        if self.port is not None or self.ready_line is not None:
            self._wait_ready(logged)

    def _wait_ready(self, logged: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            if self._ready(logged):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    def _ready(self, logged: int) -> bool:
        if self.ready_line is not None and self.ready_line not in self.log.read_bytes()[logged:]:
            return False
        if self.port is None:
            return True
        try:
            return httpx.get(self.base + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal it (kill -9 by default) and reap it."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within 15 s."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Fleet:
    """The running fleet: its database, object store and processes."""

    folder: Path
    database_url: str
    store: SeaweedRunner
    blob_prefix: str
    env: dict[str, str]
    apis: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    @property
    def s3(self) -> SeaweedS3:
        return self.store.server

    @property
    def bases(self) -> list[str]:
        """The URL of every API process, in order."""
        return [api.base for api in self.apis]

    def raw_objects(self) -> dict[str, bytes]:
        """Every object under the fleet's prefix, as the bucket holds it (key -> bytes)."""
        client = self.s3.client()
        found: dict[str, bytes] = {}
        pages = client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.s3.bucket, Prefix=self.blob_prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=self.s3.bucket, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found

    def logs(self) -> bytes:
        """Everything every process has logged so far."""
        return b"".join(p.log.read_bytes() for p in (*self.apis, *self.workers) if p.log.exists())


def _process(folder: Path, name: str, env: dict[str, str], *args: str) -> Process:
    data_dir = folder / name
    data_dir.mkdir(mode=0o700)
    command = [sys.executable, "-m", "minimaker.entrypoints.cli", *args]
    own = {**env, "MINIMAKER_DATA_DIR": str(data_dir)}
    return Process(name=name, command=command, env=own, log=folder / f"{name}.log")


def _environment(url: str, s3: SeaweedS3, prefix: str, more: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env.update(
        MINIMAKER_DATABASE_URL=url,
        MINIMAKER_KEYSTORE_URL=url,
        MINIMAKER_MASTER_KEY=encode_key(generate_key()),
        MINIMAKER_BLOB_URL=s3.url(prefix),
        MINIMAKER_S3_ACCESS_KEY=s3.access_key,
        MINIMAKER_S3_SECRET_KEY=s3.secret_key,
        MINIMAKER_EMBEDDED_WORKER="false",
        MINIMAKER_WORKER_POLL_S="0.1",
        MINIMAKER_LOG_FORMAT="json",
        COLUMNS="200",
    )
    env.update(more)
    return env


@contextmanager
def fleet(
    folder: Path,
    admin_url: str,
    *,
    apis: int = 2,
    workers: int = 2,
    same_port: bool = False,
    seaweed_volumes: int = 32,
    **settings: str,
) -> Iterator[Fleet]:
    """Start a fresh database on `admin_url`'s server, a SeaweedFS in `folder`, `apis` API
    and `workers` worker processes with the MINIMAKER_* `settings` given; all stopped and the
    database dropped at the end. `same_port`: the APIs share one port (`serve --reuse-port`),
    so one URL reaches them all; `seaweed_volumes` of 64 MiB bound what the store holds."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database(admin_url, tag="fleet"))
        store = SeaweedRunner(folder / "seaweed", volumes=seaweed_volumes)
        stack.callback(store.stop)
        s3 = store.start()
        prefix = f"fleet{uuid.uuid4().hex[:8]}"
        env = _environment(url, s3, f"{prefix}/blobs", settings)
        running = Fleet(folder=folder, database_url=url, store=store, blob_prefix=prefix, env=env)
        shared = free_port()
        for i in range(apis):
            port = shared if same_port else free_port()
            api = _process(folder, f"api{i}", env, "serve", "--host", "127.0.0.1", "--port")
            api.command += [str(port), "--reuse-port"] if same_port else [str(port)]
            api.port, api.ready_line = port, SHARED_LISTENING if same_port else None
            running.apis.append(api)
        running.workers = [_process(folder, f"worker{i}", env, "worker") for i in range(workers)]
        for process in running.workers:
            process.ready_line = WORKER_POLLING
        for process in (*running.apis, *running.workers):
            stack.callback(process.stop)
            process.start()
        yield running


def wait_until(check: Callable[[], T | None], *, timeout_s: float, what: str) -> T:
    """Call `check` until it returns something true (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.1)
