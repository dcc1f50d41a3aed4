"""SeaweedFS stopped mid-run and started again (issue 13, item 5): uploads and reads of blobs
answer a clear 503 meanwhile, nothing is half-written, readiness names the blob store, and
the work resumes once the store is back, with no API or worker restarted.

The fleet allows one attempt per job: an outage must not use attempts up (a job that could
not reach the store is retried however long the outage lasts, never failed for good).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.fleet import Fleet, wait_until
from tests.fleet.fault_support import (
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

BACK_WITHIN_S = 45  # the store's start, then one retry's backoff (10 s, 20 s after a second)


@pytest.fixture(scope="module")
def outage_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Database]]:
    folder = tmp_path_factory.mktemp("outage")
    with running_fleet(folder, apis=1, workers=1, MINIMAKER_JOB_MAX_ATTEMPTS="1") as running:
        db = Database.of(running)
        yield running, db
        db.engine.dispose()


def _uploading(
    base: str, person: Person, stop: threading.Event, taken: dict[str, str], seen: Counter[int]
) -> None:
    """Upload new photos until `stop`: the statuses seen, and what each taken upload holds."""
    seed = 1000 + threading.get_ident() % 1000 * 100
    while not stop.is_set():
        seed += 1
        data = photo(seed=seed, width=64, height=48)
        answer = upload(base, person, data)
        seen[answer.status_code] += 1
        if answer.status_code == 201:
            taken[answer.json()["id"]] = hashlib.sha256(data).hexdigest()
        stop.wait(0.05)


def _unavailable(answer: httpx.Response) -> None:
    """The store's 503: the one error body, a code that says what, and when to try again."""
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "storage_unavailable"
    assert "storage is unavailable" in answer.json()["error"]["message"]
    assert int(answer.headers["Retry-After"]) > 0


def _while_down(running: Fleet, db: Database, person: Person, model_id: str) -> None:
    """What the fleet answers and does while the store is gone."""
    base, first = running.bases[0], person.uploads[0]
    _unavailable(upload(base, person, photo(seed=99)))
    _unavailable(httpx.get(f"{base}/api/v1/uploads/{first}/content", headers=person.headers))
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": True,
        "schema": True,
        "key_store": True,
        "blob_store": False,
    }
    # Deleting a photo reads it first (its corpus copy): refused whole, the photo still there.
    _unavailable(httpx.delete(f"{base}/api/v1/uploads/{first}", headers=person.headers))
    assert db.value("SELECT count(*) FROM uploads WHERE id = :u", u=first) == 1
    # The generation's job met the outage: retried later, its one attempt not used up.
    job = wait_until(
        lambda: db.rows(
            "SELECT status, attempts, last_error FROM jobs "
            "WHERE payload->>'model_id' = :m AND last_error IS NOT NULL",
            m=model_id,
        ),
        timeout_s=30,
        what="the generation's attempt during the outage",
    )
    assert job[0][0] == "queued" and "storage" in job[0][2], job
    assert db.value("SELECT status FROM models WHERE id = :m", m=model_id) != "failed"


def test_the_store_stopped_mid_run_answers_503_writes_nothing_half_and_work_resumes(
    outage_fleet: tuple[Fleet, Database],
) -> None:
    running, db = outage_fleet
    base = running.bases[0]
    person = sign_up(base, "outage")
    assert upload(base, person, photo(seed=5)).status_code == 201
    taken: dict[str, str] = {}
    seen: Counter[int] = Counter()
    stop = threading.Event()
    uploaders = [
        threading.Thread(target=_uploading, args=(base, person, stop, taken, seen))
        for _ in range(2)
    ]
    for thread in uploaders:
        thread.start()
    try:
        time.sleep(1.0)
        running.store.stop()  # mid-run: uploads in flight
        model_id = generate(base, person, person.uploads[0])
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in uploaders:
            thread.join(timeout=60)
    _while_down(running, db, person, model_id)

    running.store.start()
    wait_until(
        lambda: httpx.get(base + "/readyz").status_code == 200, timeout_s=20, what="readiness"
    )
    assert upload(base, person, photo(seed=99)).status_code == 201  # the same upload, now
    wait_until(
        lambda: db.value("SELECT status FROM models WHERE id = :m", m=model_id) == "done",
        timeout_s=BACK_WITHIN_S,
        what="the generation, once the store is back",
    )
    assert set(seen) == {201, 503}, seen  # each upload taken whole or refused clearly
    _nothing_half_written(running, db, person, taken)


def _nothing_half_written(
    running: Fleet, db: Database, person: Person, taken: dict[str, str]
) -> None:
    """Every upload row is one that answered 201, its object whole; no upload is unfinished."""
    rows = {r[0] for r in db.rows("SELECT id FROM uploads WHERE owner_id = :s", s=person.id)}
    assert set(taken) <= rows and len(rows) == len(taken) + 2  # + the first and the retried
    for upload_id, digest in taken.items():
        answer = httpx.get(
            f"{running.bases[0]}/api/v1/uploads/{upload_id}/content", headers=person.headers
        )
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == digest
    assert db.blob_ids(person.id) <= object_ids(running)
    client = running.s3.client()
    unfinished = client.list_multipart_uploads(
        Bucket=running.s3.bucket, Prefix=running.blob_prefix
    ).get("Uploads", [])
    assert unfinished == []
