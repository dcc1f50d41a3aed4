"""Fulfilment: the `fulfil_request` job moves a verified request to in progress, runs its
type's fulfiller (named in `bootstrap.registries()`), then completes it and tells the subject.

A fulfiller that raises leaves the request in progress, open in the DPO's queue; the worker
retries the job only if the fault may pass (bad input, such as a rectification without
fields, fails it at once). Work that must finish once begun (an erasure whose files are not
all deleted yet: `erasure.ErasureIncomplete`) is retried however many attempts it takes, and
the request completes only after its fulfiller returned: a crash before that leaves it open
for the job's next claim, one short lease later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.rights.intake import open_details
from minimaker.rights.lifecycle import move
from minimaker.rights.rules import OPEN, RequestType, Status
from minimaker.rights.tables import RightsRequest

#: The statuses a fulfilment job acts on; anything else means the job has nothing left to do.
_FULFILLABLE = OPEN - {Status.PAUSED, Status.RECEIVED}


@dataclass(frozen=True)
class Work:
    """What a fulfiller gets: the request's id, subject, type and decrypted details."""

    request_id: str
    subject_id: str
    type: RequestType
    details: dict[str, Any]


def run_fulfilment_job(c: Container, job: Job) -> None:
    """Job handler: fulfil one verified request with its type's fulfiller."""
    work = _start(c, job)
    if work is None:
        return
    result = c.registries.fulfiller(work.type.value)(c, work)
    complete(c, request_id=work.request_id, job_id=job.id, result_ref=result)


def _start(c: Container, job: Job) -> Work | None:
    """Move the request to in progress and hand out its work; None (job done) if not open."""
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, str(job.payload["request_id"]))
        if row is None or Status(row.status) not in _FULFILLABLE:
            # Rejected, paused or gone since it was queued: nothing to fulfil.
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return None
        if row.status == Status.VERIFIED.value:
            move(uow, row, Status.IN_PROGRESS, actor=SYSTEM_RIGHTS)
        work = Work(row.id, row.subject_id, RequestType(row.type), open_details(uow, row))
        uow.commit()
        return work


def complete(c: Container, *, request_id: str, job_id: str | None, result_ref: str | None) -> None:
    """Mark a request completed and tell the subject (if they still have an address)."""
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, request_id)
        if row is None:
            return
        move(uow, row, Status.COMPLETED, actor=SYSTEM_RIGHTS)
        row.completed_at, row.result_ref = c.clock.now(), result_ref
        if row.details_enc is not None and row.type == RequestType.ERASURE.value:
            # Nothing of an erased subject is kept, not even what the request said.
            row.details_enc = None
        if job_id is not None:
            queue.finish(uow.session, job_id, now=c.clock.now())
        outbox.queue_to_subject(
            uow,
            subject_id=row.subject_id,
            kind="request_completed",
            subject="Your privacy request is done",
            body=f"Your {row.type} request {row.id} was completed on {c.clock.now():%Y-%m-%d}.",
        )
        uow.commit()
