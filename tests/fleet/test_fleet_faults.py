"""Faults under load (issue 13, item 5): kill -9 of an API process and of a worker, during a
load run, a generation and an erasure, on two APIs and two workers over PostgreSQL and
SeaweedFS. No request is lost (clients retry what HTTP says is safe to retry on the other
API), no job is lost or run twice to a different result, and the erasure completes.

One fleet serves the module: every test restarts what it killed before it ends.
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import httpx
import pytest

from minimaker.kernel.faults import CRASH_AT
from tests.fleet import Fleet, Process, wait_until
from tests.fleet.fault_support import (
    LEASE_S,
    PASSWORD,
    Database,
    Person,
    generate,
    object_ids,
    photo,
    running_fleet,
    sign_up,
    upload,
)

pytestmark = pytest.mark.server

GRID = 192  # samples: a generation lasts long enough to be caught running
FORMATS = ("stl", "glb", "obj")
# Load, not saturation: on two cores a restarted process must still get the CPU to start.
CLIENTS, PACE_S = 4, 0.02


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Database]]:
    with running_fleet(tmp_path_factory.mktemp("fleet")) as running:
        db = Database.of(running)
        yield running, db
        db.engine.dispose()


def _get(bases: list[str], start: int, path: str, headers: dict[str, str]) -> httpx.Response:
    """A GET (safe, idempotent: RFC 9110 9.2.2) retried on the next API while one is down."""
    deadline, tried = time.monotonic() + 30, start
    while True:
        base = bases[tried % len(bases)]
        try:
            answer = httpx.get(base + path, headers=headers, timeout=10)
            answer.extensions["served_by"] = base
            answer.extensions["retries"] = tried - start
            return answer
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            tried += 1


def _reads(running: Fleet, people: list[Person]) -> dict[tuple[str, str], tuple[int, str]]:
    """Every read of the load, with the answer it must get: (status, sha256 of the body)."""
    expected = {}
    for person in people:
        paths = ["/api/v1/me", "/api/v1/uploads", "/api/v1/models"]
        for upload_id in person.uploads:
            paths += [f"/api/v1/uploads/{upload_id}", f"/api/v1/uploads/{upload_id}/content"]
        for path in paths:
            answer = httpx.get(running.bases[1] + path, headers=person.headers, timeout=10)
            assert answer.status_code == 200, answer.text
            expected[(person.username, path)] = (200, hashlib.sha256(answer.content).hexdigest())
    return expected


def _load(
    running: Fleet, people: list[Person], stop: threading.Event
) -> tuple[Counter[str], list[str]]:
    """Threads of clients reading round-robin over both APIs until `stop`; what they got."""
    expected = _reads(running, people)
    by_name = {p.username: p for p in people}
    calls, seen, wrong, lock = count(), Counter[str](), list[str](), threading.Lock()

    def client() -> None:
        while not stop.is_set():
            n = next(calls)
            (username, path), want = list(expected.items())[n % len(expected)]
            answer = _get(running.bases, n, path, by_name[username].headers)
            got = (answer.status_code, hashlib.sha256(answer.content).hexdigest())
            with lock:
                seen[f"{answer.extensions['served_by']} {answer.status_code}"] += 1
                seen["retried"] += answer.extensions["retries"]
                seen["logical"] += 1
                if got != want:
                    wrong.append(f"{path}: {answer.status_code}")
            stop.wait(PACE_S)

    with ThreadPoolExecutor(CLIENTS) as pool:
        for _ in range(CLIENTS):
            pool.submit(client)
    return seen, wrong


def test_an_api_killed_under_load_loses_no_request_and_serves_again_after_restart(
    shared: tuple[Fleet, Database],
) -> None:
    running, _db = shared
    people = [sign_up(running.bases[i % 2], f"load{i}") for i in range(3)]
    for i, person in enumerate(people):
        assert upload(running.bases[i % 2], person, photo(seed=i)).status_code == 201
    stop = threading.Event()
    result: list[tuple[Counter[str], list[str]]] = []
    loader = threading.Thread(target=lambda: result.append(_load(running, people, stop)))
    loader.start()
    try:
        time.sleep(1.5)
        running.apis[0].kill()  # kill -9, mid-run
        time.sleep(1.5)
        running.apis[0].start()  # waits until its /readyz answers 200
        time.sleep(1.5)
    finally:
        stop.set()
        loader.join(timeout=60)
    (seen, wrong) = result[0]
    assert wrong == [], wrong  # every logical request got the answer it should
    assert seen["retried"] > 0, seen  # the kill did hit requests in flight or on their way
    assert not [k for k in seen if k.split()[-1].startswith("5")], seen  # no 5xx anywhere
    restarted = running.apis[0].base
    assert seen[f"{restarted} 200"] > 0, seen
    answer = httpx.get(restarted + "/api/v1/me", headers=people[0].headers, timeout=10)
    assert answer.status_code == 200 and answer.json()["id"] == people[0].id


def _holder(running: Fleet, db: Database, kind: str) -> tuple[str, Process] | None:
    """A running job of `kind` and the worker process whose lease it is under."""
    rows = db.rows("SELECT id, locked_by FROM jobs WHERE kind = :k AND status = 'running'", k=kind)
    for job_id, locked_by in rows:
        pid = int(str(locked_by).split(":")[1])  # Worker.name: host:pid:random
        for worker in running.workers:
            if worker.popen is not None and worker.popen.pid == pid:
                return job_id, worker
    return None


def _files(running: Fleet, person: Person, model_id: str) -> dict[str, str]:
    """sha256 of each format of one model, downloaded."""
    found = {}
    for fmt in FORMATS:
        answer = httpx.get(
            f"{running.bases[0]}/api/v1/models/{model_id}/content",
            params={"format": fmt},
            headers=person.headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        found[fmt] = hashlib.sha256(answer.content).hexdigest()
    return found


def _all_done(db: Database, model_ids: list[str]) -> bool:
    statuses = db.rows("SELECT status FROM models WHERE id = ANY(:ids)", ids=model_ids)
    assert "failed" not in {s for (s,) in statuses}
    return {s for (s,) in statuses} == {"done"}


def test_a_worker_killed_mid_generation_loses_no_job_and_none_runs_twice_differently(
    shared: tuple[Fleet, Database],
) -> None:
    running, db = shared
    person = sign_up(running.bases[0], "gen")
    assert (
        upload(running.bases[0], person, photo(seed=42, width=400, height=300)).status_code == 201
    )
    upload_id = person.uploads[0]
    reference = generate(running.bases[0], person, upload_id, max_resolution=GRID)
    wait_until(lambda: _all_done(db, [reference]), timeout_s=60, what="the reference model")
    want = _files(running, person, reference)

    queued = [
        generate(running.bases[i % 2], person, upload_id, max_resolution=GRID) for i in range(3)
    ]
    job_id, victim = wait_until(
        lambda: _holder(running, db, "generate_model"), timeout_s=30, what="a running job"
    )
    victim.kill()  # kill -9 of the worker holding the job
    wait_until(lambda: _all_done(db, queued), timeout_s=60 + LEASE_S, what="every model")
    victim.start()

    jobs = db.rows(
        "SELECT id, status, attempts FROM jobs WHERE subject_id = :s AND kind = 'generate_model'",
        s=person.id,
    )
    assert {status for _, status, _ in jobs} == {"done"}, jobs
    attempts = {j: a for j, _, a in jobs}
    assert attempts.pop(job_id) == 2  # its first run died with its worker; one more ran it
    assert set(attempts.values()) == {1}, attempts
    for model_id in queued:
        assert _files(running, person, model_id) == want  # deterministic: the same bytes
    files = db.rows("SELECT model_id, format FROM model_files WHERE owner_id = :s", s=person.id)
    assert Counter(m for m, _ in files) == {m: 3 for m in [reference, *queued]}
    assert db.blob_ids(person.id) <= object_ids(running)
    # What the dead run wrote and no row names is ciphertext for the sweep: at most its files
    # and its preview (a relief has one view).
    named = db.blob_ids()
    assert len(object_ids(running) - named) <= len(FORMATS) + 1


def _erasure_done(db: Database, subject_id: str) -> bool:
    statuses = db.rows(
        "SELECT status FROM rights_requests WHERE subject_id = :s AND type = 'erasure'",
        s=subject_id,
    )
    return [s for (s,) in statuses] == ["completed"]


def _has_data(db: Database, running: Fleet, person: Person, blobs: set[str]) -> dict[str, int]:
    """What of the person is still there: rows of theirs and objects of their blobs."""
    left = {
        table: db.value(f"SELECT count(*) FROM {table} WHERE {column} = :s", s=person.id)
        for table, column in (("users", "id"), ("uploads", "owner_id"), ("models", "owner_id"))
    }
    left["objects"] = len(blobs & object_ids(running))
    return {k: v for k, v in left.items() if v}


def _with_data(
    running: Fleet, db: Database, tag: str, *, model: bool = True
) -> tuple[Person, set[str]]:
    """A person with two photos (and a model of one); their blob ids."""
    person = sign_up(running.bases[1], tag)
    for seed in (1, 2):
        assert upload(running.bases[1], person, photo(seed=seed)).status_code == 201
    if model:
        made = generate(running.bases[1], person, person.uploads[0])
        wait_until(lambda: _all_done(db, [made]), timeout_s=60, what="their model")
    blobs = db.blob_ids(person.id)  # two photos, a model's three files and its preview
    assert len(blobs) == (6 if model else 2) and blobs <= object_ids(running)
    return person, blobs


def _erase(base: str, person: Person) -> httpx.Response:
    return httpx.request(
        "DELETE",
        base + "/api/v1/me",
        json={"password": PASSWORD},
        headers=person.headers,
        timeout=30,
    )


def test_a_worker_killed_mid_erasure_leaves_it_to_another_worker_and_it_completes(
    shared: tuple[Fleet, Database],
) -> None:
    running, db = shared
    person, blobs = _with_data(running, db, "erase")
    first, second = running.workers
    second.stop()  # the first worker takes the erasure, and dies in it
    first.stop()
    first.env[CRASH_AT] = "erasure.blob_deleted@2"  # SIGKILL after 2 of its 6 blob deletes
    first.start()
    try:
        assert _erase(running.bases[0], person).status_code == 202
        assert first.popen is not None and first.popen.wait(timeout=60) == -signal.SIGKILL
        assert 0 < len(blobs & object_ids(running)) < len(blobs)  # killed mid-erasure
        second.start()
        wait_until(lambda: _erasure_done(db, person.id), timeout_s=20 + LEASE_S, what="the erasure")
    finally:
        del first.env[CRASH_AT]
        first.start()
    assert _has_data(db, running, person, blobs) == {}
    job = db.rows(
        "SELECT status, attempts FROM jobs WHERE kind = 'fulfil_request' "
        "AND payload->>'request_id' IN "
        "(SELECT id FROM rights_requests WHERE subject_id = :s)",
        s=person.id,
    )
    assert job == [("done", 2)]
    assert httpx.get(running.bases[1] + "/api/v1/me", headers=person.headers).status_code == 401


@pytest.mark.parametrize("after_s", [0.0, 0.3])
def test_an_api_killed_during_an_erasure_request_leaves_it_retried_safely_and_completed(
    shared: tuple[Fleet, Database], after_s: float
) -> None:
    running, db = shared
    person, blobs = _with_data(running, db, f"kill{int(after_s * 10)}", model=False)
    answers: list[httpx.Response | Exception] = []

    def ask() -> None:
        try:
            answers.append(_erase(running.bases[0], person))
        except httpx.TransportError as exc:
            answers.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(after_s)
    running.apis[0].kill()
    asking.join(timeout=30)
    try:
        if isinstance(answers[0], Exception):
            # Lost with the process: DELETE /me is safe to ask again (an open erasure answers
            # with itself; an account already erased no longer signs in).
            again = _erase(running.bases[1], person)
            assert again.status_code in (202, 401), again.text
        else:
            assert answers[0].status_code == 202
        wait_until(lambda: _erasure_done(db, person.id), timeout_s=30, what="the erasure")
    finally:
        running.apis[0].start()
    assert _has_data(db, running, person, blobs) == {}
