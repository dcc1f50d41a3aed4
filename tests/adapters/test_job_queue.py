"""The durable job queue: claims, retries with backoff, leases, and ids-only payloads."""

from __future__ import annotations

import threading
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
