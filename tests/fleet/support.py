"""What the fleet tests share: requests that take turns between the API processes, a watch
on the jobs and duty leases as the fleet runs them, and small waits and cookie helpers."""

from __future__ import annotations

import itertools
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, text

from tests.fleet import Fleet, Process
from tests.mailserver import Mailbox
from tests.scan import find_in_bytes

T = TypeVar("T")
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


class Rotation:
    """One HTTP client per API process; every request goes to the next process in turn, so
    a session or token obtained on one is always used on another."""

    def __init__(self, bases: list[str], *, timeout_s: float = 60.0) -> None:
        self.clients = [httpx.Client(base_url=b, timeout=timeout_s) for b in bases]
        self.turn = 0
        self.served: list[int] = []  # which process answered each request, in order

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        i = self.turn % len(self.clients)
        self.turn += 1
        self.served.append(i)
        r = self.clients[i].request(method, url, **options)
        self.clients[i].cookies.clear()  # state travels only as the test sends it
        return r

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def sign_up(api: Rotation, person: dict[str, str]) -> None:
    """POST /auth/signup: created."""
    r = api.post("/api/v1/auth/signup", json=person)
    assert r.status_code == 201, r.text


def sign_in(api: Rotation, username: str, password: str) -> dict[str, str]:
    """POST /auth/token: the bearer token's headers."""
    r = api.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def worker_pids(running: Fleet) -> set[int]:
    """The process ids of the fleet's workers."""
    return {p.popen.pid for p in running.workers if p.popen is not None}


def job_status(engine: Engine, kind: str) -> list[str]:
    """The status of every job of `kind`."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status FROM jobs WHERE kind = :k"), {"k": kind})
        return [r.status for r in rows]


def leaks_in_bucket(
    running: Fleet, needles: list[bytes], photo: set[bytes]
) -> dict[str, list[str]]:
    """Every raw object under the fleet's prefix, read as the bucket holds it."""
    found = {}
    for key, blob in running.raw_objects().items():
        hits = find_in_bytes(blob, needles, photo)
        if hits:
            found[key] = hits
    return found


def mail_to(mailbox: Mailbox, address: str) -> list[str]:
    """The subjects of the messages the mailbox got for `address`."""
    return [str(m.message["Subject"]) for m in mailbox.received if address in m.rcpt_tos]


def set_cookies(r: httpx.Response) -> dict[str, str]:
    """The cookies a response sets (name -> value), Secure or not, as a browser keeps them."""
    found = {}
    for header in r.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        found[name.strip()] = rest.split(";", 1)[0]
    return found


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def csrf_on(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@contextmanager
def paused(processes: list[Process]) -> Iterator[None]:
    """SIGSTOP every process given, SIGCONT them at the end (whatever happens)."""
    stopped = [p for p in processes if p.popen is not None and p.popen.poll() is None]
    try:
        for p in stopped:
            assert p.popen is not None
            p.popen.send_signal(signal.SIGSTOP)
        yield
    finally:
        for p in stopped:
            assert p.popen is not None
            p.popen.send_signal(signal.SIGCONT)


def gaps_s(times: list[datetime]) -> list[float]:
    """Seconds between each time and the next."""
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def pid_of(holder: str) -> int:
    """The process id in a worker's name (`host:pid:random`)."""
    return int(holder.split(":")[-2])


@dataclass
class Watch:
    """Reads the jobs a worker holds and the duty leases every `every_s`, in a thread of
    its own, for as long as the fleet runs: who ran what, and when each duty started."""

    engine: Engine
    every_s: float = 0.02
    #: (job kind, the worker holding it) of every running job seen.
    job_holders: set[tuple[str, str]] = field(default_factory=set)
    #: duty name -> every distinct start time seen.
    duty_starts: dict[str, set[datetime]] = field(default_factory=dict)
    duty_holders: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fleet-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading, and wait until the last read is over (before the database goes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            with self.engine.connect() as conn:
                jobs = conn.execute(
                    text("SELECT kind, locked_by FROM jobs WHERE status = 'running'")
                ).all()
                leases = conn.execute(
                    text("SELECT name, holder, last_started_at FROM duty_leases")
                ).all()
            with self._lock:
                self.job_holders |= {(k, h) for k, h in jobs if h}
                for name, holder, started in leases:
                    if started is not None:
                        self.duty_starts.setdefault(name, set()).add(started)
                    if holder:
                        self.duty_holders.add(holder)

    def starts(self, name: str, since: datetime | None = None) -> list[datetime]:
        with self._lock:
            seen = sorted(self.duty_starts.get(name, set()))
        return [s for s in seen if since is None or s >= since]

    def jobs_seen(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self.job_holders)
