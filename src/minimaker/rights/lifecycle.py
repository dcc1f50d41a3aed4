"""A request's lifecycle: every move is checked against the state machine in `rules.py`,
logged as a RequestEvent and audited, in the caller's unit of work (never committed here)."""

from __future__ import annotations

from datetime import timedelta

from minimaker.adapters import job_queue as queue
from minimaker.kernel.actors import Actor
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events
from minimaker.rights.rules import Deadline, Status, transition
from minimaker.rights.tables import RequestEvent, RightsRequest

#: The Art. 12(4)/77 sentence every rejection carries.
COMPLAINT = (
    "You may lodge a complaint with a supervisory authority, in particular in the EU member "
    "state of your habitual residence, place of work or place of the alleged infringement "
    "(Art. 77 GDPR), and seek a judicial remedy (Art. 79 GDPR)."
)


def find(uow: UnitOfWork, request_id: str) -> RightsRequest:
    """Any request by id; a malformed id answers like a missing one (NotFound)."""
    row = uow.session.get(RightsRequest, request_id) if is_id(request_id) else None
    if row is None:
        raise NotFound("request")
    return row


def deadline_of(row: RightsRequest) -> Deadline:
    """The request's deadline as the pure rules see it."""
    return Deadline(
        received_at=row.received_at,
        due_at=row.due_at,
        original_due_at=row.original_due_at,
        extended_months=row.extended_months,
        paused_for=timedelta(seconds=row.paused_seconds),
    )


def log_event(
    uow: UnitOfWork, row: RightsRequest, from_status: str | None, note: str | None
) -> None:
    """Add one step to the request's history, ending in its current status."""
    uow.session.add(
        RequestEvent(
            request_id=row.id,
            at=uow.c.clock.now(),
            from_status=from_status,
            to_status=row.status,
            note=note,
        )
    )


def audit(uow: UnitOfWork, row: RightsRequest, tag: AuditTag, *, actor: Actor) -> None:
    """Audit `tag` against the request's subject, naming the request by id and type only."""
    uow.audit(tag, actor=actor, subject=row.subject_id, object=f"request:{row.id}:{row.type}")


def move(
    uow: UnitOfWork,
    row: RightsRequest,
    target: Status,
    *,
    actor: Actor,
    note: str | None = None,
) -> None:
    """Move a request to `target` if the lifecycle allows it; logged and audited."""
    current = Status(row.status)
    row.status = transition(current, target).value
    log_event(uow, row, current.value, note)
    audit(uow, row, events.REQUEST_MOVED[target], actor=actor)


def mark_verified(uow: UnitOfWork, row: RightsRequest, *, actor: Actor) -> None:
    """Identity verified: the request is queued for automatic fulfilment."""
    move(uow, row, Status.VERIFIED, actor=actor)
    queue.enqueue(
        uow.session,
        kind="fulfil_request",
        payload={"request_id": row.id},
        subject_id=row.subject_id,
        now=uow.c.clock.now(),
        max_attempts=uow.c.settings.job_max_attempts,
    )


def refuse(uow: UnitOfWork, row: RightsRequest, *, actor: Actor, justification: str) -> None:
    """Art. 12(4): close the request as rejected; the subject is told why and of Art. 77."""
    now = uow.c.clock.now()
    move(uow, row, Status.REJECTED, actor=actor, note="rejected with a stated reason")
    row.rejection_reason, row.completed_at = justification, now
    queue.cancel_for_request(uow.session, row.id, now=now)
    outbox.queue_to_subject(
        uow,
        subject_id=row.subject_id,
        kind="request_rejected",
        subject="Your privacy request was refused",
        body=f"We refused your {row.type} request {row.id}. The reason: {justification}\n\n"
        + COMPLAINT,
    )
