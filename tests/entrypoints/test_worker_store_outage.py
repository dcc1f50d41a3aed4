"""A job that could not reach the blob store is retried, however long the outage lasts: the
attempt does not count, so an outage never fails a job for good (issue 13, item 5)."""

from __future__ import annotations

from sqlalchemy import select

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import PermanentFailure, Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import StorageUnavailable


def _queue_one(c: Container, kind: str) -> str:
    with c.uow() as uow:
        job_id = queue.enqueue(
            uow.session, kind=kind, payload={}, now=c.clock.now(), max_attempts=1
        )
        uow.commit()
    return job_id


def _job(c: Container, job_id: str) -> Job:
    with c.sessions() as s:
        return s.scalars(select(Job).where(Job.id == job_id)).one()


def test_an_outage_of_many_attempts_leaves_the_job_queued_then_done(
    container: Container, clock: ManualClock
) -> None:
    c, outage = container, {"left": 4}

    def needs_the_store(c: Container, job: Job) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise StorageUnavailable("EndpointConnectionError")
        with c.uow() as uow:
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()

    job_id = _queue_one(c, "needs_store")
    worker = Worker(c, {"needs_store": needs_the_store})
    for _ in range(4):  # one allowed attempt, four met the outage
        assert worker.run_once()
        job = _job(c, job_id)
        assert (job.status, job.last_error) == ("queued", StorageUnavailable("x").message)
        clock.advance(hours=2)  # past the (growing) backoff
    assert worker.run_once()
    assert (_job(c, job_id).status, _job(c, job_id).attempts) == ("done", 5)


def test_other_failures_still_use_attempts_up(container: Container) -> None:
    c = container

    def broken(c: Container, job: Job) -> None:
        raise PermanentFailure("bad input")

    job_id = _queue_one(c, "broken")
    assert Worker(c, {"broken": broken}).run_once()
    assert _job(c, job_id).status == "failed"
