"""The durable job queue: claims, retries with backoff, leases, and ids-only payloads."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import GenerationFailed
from minimaker.settings import Settings


def _enqueue(c: Container, kind: str = "probe", n: int = 1) -> list[str]:
    ids = []
    with c.uow() as uow:
        for _ in range(n):
            ids.append(
                queue.enqueue(
                    uow.session,
                    kind=kind,
                    payload={"model_id": uuid.uuid4().hex},
                    now=c.clock.now(),
                    max_attempts=3,
                )
            )
        uow.commit()
    return ids


def _job(c: Container, job_id: str) -> Job:
    with c.sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_payloads_must_be_ids_only(container: Container) -> None:
    with container.uow() as uow:
        for payload in ({"email": "a@example.org"}, {"model_id": "Ada Lovelace"}, {"model_id": 5}):
            with pytest.raises(ValueError, match="ids only"):
                queue.enqueue(uow.session, kind="x", payload=payload, now=container.clock.now())  # type: ignore[arg-type]


def test_a_job_runs_once_and_is_marked_done(container: Container) -> None:
    ran: list[str] = []

    def handler(c: Container, job: Job) -> None:
        ran.append(job.id)
        with c.uow() as uow:
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()

    (job_id,) = _enqueue(container)
    worker = Worker(container, {"probe": handler})
    assert worker.run_until_idle() == 1
    assert ran == [job_id]
    assert _job(container, job_id).status == "done"
    assert worker.run_once() is False


def test_passing_faults_retry_with_backoff_then_fail_with_a_reason(
    container: Container, clock: ManualClock
) -> None:
    def flaky(c: Container, job: Job) -> None:
        raise ConnectionError("database went away (this text must not be stored)")

    (job_id,) = _enqueue(container)
    worker = Worker(container, {"probe": flaky})
    assert worker.run_once() is True
    job = _job(container, job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.run_after > clock.now()  # backoff: not due again yet
    assert worker.run_once() is False
    clock.advance(hours=2)
    assert worker.run_once() is True
    clock.advance(hours=2)
    assert worker.run_once() is True
    job = _job(container, job_id)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.last_error == "internal error (ConnectionError)"


def test_a_refused_input_fails_at_once_without_retry(container: Container) -> None:
    def refuses(c: Container, job: Job) -> None:
        raise GenerationFailed("the photo has no usable contrast")

    (job_id,) = _enqueue(container)
    Worker(container, {"probe": refuses}).run_until_idle()
    job = _job(container, job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.last_error == "model generation failed: the photo has no usable contrast"


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)
    first = queue.claim(container.engine, worker="dead", now=clock.now(), lease_s=60)
    assert first is not None and first.id == job_id
    assert queue.claim(container.engine, worker="w2", now=clock.now(), lease_s=60) is None
    clock.advance(seconds=61)
    again = queue.claim(container.engine, worker="w2", now=clock.now(), lease_s=60)
    assert again is not None and again.id == job_id
    assert again.attempts == 2


def test_two_claims_never_take_the_same_job(container: Container) -> None:
    ids = set(_enqueue(container, n=5))
    taken = []
    while job := queue.claim(container.engine, worker="w", now=container.clock.now(), lease_s=60):
        taken.append(job.id)
    assert sorted(taken) == sorted(ids)


def test_a_worker_leaves_jobs_of_kinds_it_cannot_run_for_another(container: Container) -> None:
    (job_id,) = _enqueue(container, kind="newer-kind")
    assert Worker(container, {"probe": lambda c, job: None}).run_until_idle() == 0
    assert _job(container, job_id).status == "queued"


def test_cancel_for_subject_stops_only_that_subjects_jobs(container: Container) -> None:
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    with container.uow() as uow:
        for subject in (a, a, b):
            queue.enqueue(
                uow.session,
                kind="probe",
                payload={"model_id": uuid.uuid4().hex},
                now=container.clock.now(),
                subject_id=subject,
            )
        uow.commit()
    with container.uow() as uow:
        assert queue.cancel_for_subject(uow.session, a, now=container.clock.now()) == 2
        uow.commit()
    with container.sessions() as s:
        statuses = {(j.subject_id, j.status) for j in s.scalars(select(Job))}
    assert statuses == {(a, "cancelled"), (b, "queued")}


def test_claims_take_the_oldest_due_job_first_and_leave_jobs_not_yet_due(
    container: Container, clock: ManualClock
) -> None:
    first = _enqueue(container)[0]
    clock.advance(seconds=1)
    second = _enqueue(container)[0]
    with container.uow() as uow:
        later = queue.enqueue(
            uow.session,
            kind="probe",
            payload={"model_id": uuid.uuid4().hex},
            now=clock.now() + timedelta(hours=1),
        )
        uow.commit()

    def claim(worker: str) -> Job | None:
        return queue.claim(container.engine, worker=worker, now=clock.now(), lease_s=60)

    claims = [claim("w") for _ in range(3)]
    assert [job.id if job else None for job in claims] == [first, second, None]
    claimed = claims[0]
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.locked_by) == ("running", 1, "w")
    assert claimed.locked_until == clock.now() + timedelta(seconds=60)
    clock.advance(hours=2)  # the later job is due; the first two's leases ran out long ago
    again = [
        queue.claim(container.engine, worker="w2", now=clock.now(), lease_s=60) for _ in "abcd"
    ]
    assert [job.id if job else None for job in again] == [first, second, later, None]


def test_concurrent_workers_claim_every_job_exactly_once(
    settings: Settings, clock: ManualClock
) -> None:
    workers = [build(settings, clock=clock) for _ in range(4)]
    try:
        ids = _enqueue(workers[0], n=40)
        taken: list[str] = []

        def drain(c: Container, name: str) -> None:
            while job := queue.claim(c.engine, worker=name, now=clock.now(), lease_s=60):
                taken.append(job.id)  # list.append is atomic under the GIL

        threads = [threading.Thread(target=drain, args=(w, f"w{i}")) for i, w in enumerate(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for w in workers:
            w.close()
    assert sorted(taken) == sorted(ids)  # none twice, none left behind


# --- leases: heartbeats, fencing, workers that die ----------------------------------------


def test_a_worker_that_lost_its_lease_cannot_finish_the_job_and_its_work_rolls_back(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)
    taken: list[Job | None] = []

    def stalls(c: Container, job: Job) -> None:
        clock.advance(seconds=c.settings.job_lease_s + 1)  # stalled past its lease...
        taken.append(queue.claim(c.engine, worker="other", now=clock.now(), lease_s=60))
        with c.uow() as uow:  # ...then it tries to store its result and finish
            blob = c.blobs.put_bytes(bytes(32), b"the stalled run's output")
            uow.wrote_blob(blob.blob_id)
            queue.finish(uow.session, job.id, now=clock.now())
            uow.commit()

    Worker(container, {"probe": stalls}).run_once()

    assert taken[0] is not None and taken[0].id == job_id  # another worker runs it now
    job = _job(container, job_id)
    assert (job.status, job.locked_by, job.last_error) == ("running", "other", None)
    assert list(container.blobs.store.iter_ids()) == []  # the stalled run stored nothing


def test_a_failure_of_a_run_whose_lease_was_lost_does_not_touch_the_new_run(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)

    def stalls_then_fails(c: Container, job: Job) -> None:
        clock.advance(seconds=c.settings.job_lease_s + 1)
        assert queue.claim(c.engine, worker="other", now=clock.now(), lease_s=60) is not None
        raise ConnectionError("the database went away")

    Worker(container, {"probe": stalls_then_fails}).run_once()

    job = _job(container, job_id)
    assert (job.status, job.locked_by, job.attempts, job.last_error) == (
        "running",
        "other",
        2,
        None,
    )


def test_a_lease_is_renewed_only_while_its_worker_still_holds_it(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)
    mine = queue.claim(container.engine, worker="w1", now=clock.now(), lease_s=10)
    assert mine is not None
    clock.advance(seconds=8)
    assert queue.renew(container.engine, mine, now=clock.now(), lease_s=10)
    clock.advance(seconds=8)  # 16 s after the claim, but renewed at 8: still held
    assert queue.claim(container.engine, worker="w2", now=clock.now(), lease_s=10) is None
    clock.advance(seconds=3)
    theirs = queue.claim(container.engine, worker="w2", now=clock.now(), lease_s=10)
    assert theirs is not None and theirs.id == job_id
    assert not queue.renew(container.engine, mine, now=clock.now(), lease_s=10)


def test_a_heartbeat_keeps_a_job_that_outlasts_its_lease_from_other_workers(
    settings: Settings,
) -> None:
    lease_s = 2
    # The system clock: the lease runs out in real time unless the heartbeat renews it.
    c = build(settings.model_copy(update={"job_lease_s": lease_s}))
    try:
        (job_id,) = _enqueue(c)
        stolen: list[Job] = []

        def slow(c: Container, job: Job) -> None:
            until = time.monotonic() + 2.5 * lease_s
            while time.monotonic() < until:
                other = queue.claim(c.engine, worker="other", now=c.clock.now(), lease_s=60)
                stolen.extend([other] if other else [])
                time.sleep(0.25)
            with c.uow() as uow:
                queue.finish(uow.session, job.id, now=c.clock.now())
                uow.commit()

        Worker(c, {"probe": slow}).run_once()
        assert stolen == []
        job = _job(c, job_id)
        assert (job.status, job.attempts) == ("done", 1)
    finally:
        c.close()


def test_a_job_whose_worker_died_during_every_attempt_is_failed_not_run_again(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)  # max_attempts=3
    for n in range(3):  # three workers, each killed while running it (out of memory, say)
        assert queue.claim(container.engine, worker=f"dead{n}", now=clock.now(), lease_s=30)
        clock.advance(seconds=31)
    ran: list[str] = []
    failed: list[str] = []

    def handler(c: Container, job: Job) -> None:
        ran.append(job.id)

    handler.on_final_failure = lambda c, job, reason: failed.append(reason)  # type: ignore[attr-defined]

    assert Worker(container, {"probe": handler}).run_once() is True

    assert ran == []  # it would only have taken this worker down too
    job = _job(container, job_id)
    assert (job.status, job.last_error) == ("failed", "its worker stopped during every attempt")
    assert failed == ["its worker stopped during every attempt"]


def test_unfinished_work_is_retried_past_the_attempt_limit_until_it_is_done(
    container: Container, clock: ManualClock
) -> None:
    (job_id,) = _enqueue(container)  # max_attempts=3
    runs: list[int] = []

    def partly(c: Container, job: Job) -> None:
        runs.append(job.attempts)
        if len(runs) < 5:
            raise queue.WorkUnfinished("2 of 40 files are still there")
        with c.uow() as uow:
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()

    worker = Worker(container, {"probe": partly})
    while worker.run_once():
        job = _job(container, job_id)
        assert job.status in ("queued", "done")
        clock.advance(hours=2)

    assert runs == [1, 2, 3, 4, 5]
    assert _job(container, job_id).status == "done"
