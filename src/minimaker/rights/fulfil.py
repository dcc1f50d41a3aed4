"""Fulfilment: the `fulfil_request` job moves a verified request to in progress, runs its
type's fulfiller (named in `bootstrap.registries()`), then completes it and tells the subject.

A fulfiller that raises leaves the request in progress, open in the DPO's queue; the worker
retries the job only if the fault may pass (bad input, such as a rectification without
fields, fails it at once). Work that must finish once begun (an erasure whose files are not
all deleted yet: `erasure.ErasureIncomplete`) is retried however many attempts it takes, and
the request completes only after its fulfiller returned: a crash before that leaves it open
for the job's next claim, one short lease later. A job that fails for good puts its request
before the officer (`refer_to_officer`, the worker's final-failure hook), with the reason:
flagged in the queue, to be completed or refused by hand (`decisions.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.rights import download_links
from minimaker.rights.intake import open_details
from minimaker.rights.lifecycle import audit, log_event, move
from minimaker.rights.rules import OPEN, RequestType, Status
from minimaker.rights.tables import RightsRequest
from minimaker.staff import events as staff_events

#: The statuses a fulfilment job acts on; anything else means the job has nothing left to do.
_FULFILLABLE = OPEN - {Status.PAUSED, Status.RECEIVED, Status.HELD}


@dataclass(frozen=True)
class Work:
    """What a fulfiller gets: the request's id, subject, type and decrypted details."""

    request_id: str
    subject_id: str
    type: RequestType
    details: dict[str, Any]
    channel: str = "app"  # how the request came: app, email, staff, retention (by the policy)


class Deferred(Exception):
    """Raised by a fulfiller that put its request in a waiting state of its own, in its own
    unit (an erasure under a legal hold: rights/held.py): the job is done, the request not."""


def run_fulfilment_job(c: Container, job: Job) -> None:
    """Job handler: fulfil one verified request with its type's fulfiller."""
    work = _start(c, job)
    if work is None:
        return
    try:
        result = c.registries.fulfiller(work.type.value)(c, work)
    except Deferred:
        # The request waits (held); whatever resumes it queues a fulfilment job anew. A
        # crash before this leaves the job to be claimed again: `_start` then finishes it.
        with c.uow() as uow:
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
        return
    complete(c, request_id=work.request_id, job_id=job.id, result_ref=result)


def refer_to_officer(c: Container, job: Job, reason: str) -> None:
    """Final-failure hook: the request waits for the officer, with the job's (safe) reason."""
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, str(job.payload.get("request_id")))
        if row is None or Status(row.status) not in OPEN:
            return  # rejected or gone meanwhile: nothing waits for anyone
        # Job reasons are error messages, which never carry personal data (kernel/errors.py).
        row.attention_reason, row.attention_at = reason[:255], c.clock.now()
        log_event(uow, row, row.status, f"needs the privacy officer: {reason}"[:255])
        audit(uow, row, staff_events.REQUEST_REFERRED, actor=SYSTEM_RIGHTS)
        uow.commit()


# The worker calls a handler's `on_final_failure` once a job has failed for good.
run_fulfilment_job.on_final_failure = refer_to_officer  # type: ignore[attr-defined]


def _start(c: Container, job: Job) -> Work | None:
    """Move the request to in progress and hand out its work; None (job done) if not open."""
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, str(job.payload["request_id"]))
        if row is None or Status(row.status) not in _FULFILLABLE:
            # Rejected, paused, held or gone since it was queued: nothing to fulfil.
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return None
        if row.status == Status.VERIFIED.value:
            move(uow, row, Status.IN_PROGRESS, actor=SYSTEM_RIGHTS)
        details = open_details(uow, row)
        work = Work(row.id, row.subject_id, RequestType(row.type), details, row.channel)
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
        body = f"Your {row.type} request {row.id} was completed on {c.clock.now():%Y-%m-%d}."
        # Asked without the app (by email, through staff): the archive comes by a link.
        link = download_links.issue(uow, row)
        if link is not None:
            body += "\n\n" + link.instructions
        outbox.queue_to_subject(
            uow,
            subject_id=row.subject_id,
            kind="request_completed",
            subject="Your privacy request is done",
            body=body,
        )
        uow.commit()
