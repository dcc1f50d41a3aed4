"""Data-subject requests: intake, lifecycle, deadlines, and dispatch to fulfilment jobs.

Fulfilment of each type lives in its own module, named in `bootstrap.registries()`; the job
handler here moves the request through the lifecycle around it, so every transition is
logged as a RequestEvent and audited in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from minimaker.adapters import job_queue as queue
from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.adapters.job_queue import Job
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights.rules import (
    OPEN,
    Deadline,
    ExtensionRefused,
    RequestType,
    Status,
    parse_type,
    rejection_reason_required,
    transition,
)
from minimaker.rights.tables import RequestEvent, RightsRequest


#: What a fulfiller gets: the request's id, subject, type and decrypted details.
@dataclass(frozen=True)
class Work:
    request_id: str
    subject_id: str
    type: RequestType
    details: dict[str, Any]


#: The Art. 12(4)/77 sentence every rejection carries.
COMPLAINT = (
    "You may lodge a complaint with a supervisory authority, in particular in the EU member "
    "state of your habitual residence, place of work or place of the alleged infringement "
    "(Art. 77 GDPR), and seek a judicial remedy (Art. 79 GDPR)."
)


@dataclass(frozen=True)
class EventRead:
    at: datetime
    from_status: str | None
    to_status: str
    note: str | None


@dataclass(frozen=True)
class RequestRead:
    id: str
    type: str
    status: str
    channel: str
    received_at: datetime
    due_at: datetime
    original_due_at: datetime
    extended_months: int
    extension_reason: str | None
    completed_at: datetime | None
    rejection_reason: str | None
    result_ref: str | None
    events: tuple[EventRead, ...]


def _read(uow: UnitOfWork, row: RightsRequest) -> RequestRead:
    events = uow.session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == row.id).order_by(RequestEvent.id)
    ).all()
    return RequestRead(
        id=row.id,
        type=row.type,
        status=row.status,
        channel=row.channel,
        received_at=row.received_at,
        due_at=row.due_at,
        original_due_at=row.original_due_at,
        extended_months=row.extended_months,
        extension_reason=row.extension_reason,
        completed_at=row.completed_at,
        rejection_reason=row.rejection_reason,
        result_ref=row.result_ref,
        events=tuple(EventRead(e.at, e.from_status, e.to_status, e.note) for e in events),
    )


def deadline_of(row: RightsRequest) -> Deadline:
    return Deadline(
        received_at=row.received_at,
        due_at=row.due_at,
        original_due_at=row.original_due_at,
        extended_months=row.extended_months,
        paused_for=timedelta(seconds=row.paused_seconds),
    )


def move(
    uow: UnitOfWork, row: RightsRequest, target: Status, *, actor: str, note: str | None = None
) -> None:
    """Move a request to `target` if the lifecycle allows it; logged and audited."""
    current = Status(row.status)
    row.status = transition(current, target).value
    uow.session.add(
        RequestEvent(
            request_id=row.id,
            at=uow.c.clock.now(),
            from_status=current.value,
            to_status=target.value,
            note=note,
        )
    )
    uow.audit(
        f"rights:request:{target.value}",
        actor=actor,
        subject=row.subject_id,
        object=f"request:{row.id}:{row.type}",
        purpose="service",
    )


def create_request(
    uow: UnitOfWork,
    *,
    subject_id: str,
    type: RequestType,
    details: dict[str, Any] | None,
    channel: str,
    actor: str,
    verified: bool,
    recorded_by: str | None = None,
) -> RightsRequest:
    """A new request, received now, due in one calendar month; verified ones are queued."""
    now = uow.c.clock.now()
    deadline = Deadline.for_receipt(now)
    row = RightsRequest(
        id=uuid.uuid4().hex,
        subject_id=subject_id,
        type=type.value,
        status=Status.RECEIVED.value,
        channel=channel,
        details_enc=_seal_details(uow, subject_id, details),
        received_at=now,
        due_at=deadline.due_at,
        original_due_at=deadline.original_due_at,
        extended_months=0,
        paused_seconds=0,
        recorded_by=recorded_by,
    )
    uow.session.add(row)
    uow.session.flush()  # the events below reference it; no ORM relationship orders them
    uow.session.add(
        RequestEvent(
            request_id=row.id, at=now, from_status=None, to_status="received", note=channel
        )
    )
    uow.audit(
        "rights:request:received",
        actor=actor,
        subject=subject_id,
        object=f"request:{row.id}:{type.value}",
        purpose="service",
    )
    if verified:
        mark_verified(uow, row, actor=actor)
    return row


def mark_verified(uow: UnitOfWork, row: RightsRequest, *, actor: str) -> None:
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


def _seal_details(uow: UnitOfWork, subject_id: str, details: dict[str, Any] | None) -> bytes | None:
    # Details can be personal (a corrected name): sealed under the subject's own key.
    if not details:
        return None
    text = json.dumps(details, sort_keys=True)
    if len(text) > 4096:
        raise ValidationFailed("details", "must be at most 4096 characters of JSON")
    dek = uow.keys.subject_key(subject_id)
    return seal_field(dek, subject_id=subject_id, field="request-details", value=text)


def open_details(uow: UnitOfWork, row: RightsRequest) -> dict[str, Any]:
    if row.details_enc is None:
        return {}
    dek = uow.keys.subject_key(row.subject_id)
    value = open_field(
        dek, subject_id=row.subject_id, field="request-details", sealed=row.details_enc
    )
    return dict(json.loads(value))


def submit(
    c: Container,
    *,
    user_id: str,
    type: object,
    details: dict[str, Any] | None = None,
) -> RequestRead:
    """A signed-in subject's request: identity is proven by the session, so it is verified."""
    kind = parse_type(type)
    if details is not None and not isinstance(details, dict):
        raise ValidationFailed("details", "must be an object")
    with c.uow() as uow:
        row = create_request(
            uow,
            subject_id=user_id,
            type=kind,
            details=details,
            channel="app",
            actor=f"subject:{user_id}",
            verified=True,
        )
        uow.commit()
        return _read(uow, row)


def owned_request(uow: UnitOfWork, *, user_id: str, request_id: str) -> RightsRequest:
    """The subject's request; another subject's id answers exactly like a missing one."""
    row = uow.session.get(RightsRequest, request_id) if is_id(request_id) else None
    if row is None or row.subject_id != user_id:
        raise NotFound("request")
    return row


def list_for_subject(c: Container, *, user_id: str) -> list[RequestRead]:
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_id == user_id)
            .order_by(RightsRequest.received_at.desc())
        ).all()
        return [_read(uow, r) for r in rows]


def get_for_subject(c: Container, *, user_id: str, request_id: str) -> RequestRead:
    with c.uow(write=False) as uow:
        return _read(uow, owned_request(uow, user_id=user_id, request_id=request_id))


def get_any(c: Container, *, request_id: str) -> RequestRead:
    """Any request by id (staff views, after their role was checked)."""
    with c.uow(write=False) as uow:
        row = uow.session.get(RightsRequest, request_id) if is_id(request_id) else None
        if row is None:
            raise NotFound("request")
        return _read(uow, row)


def extend(c: Container, *, actor: str, request_id: str, months: int, reason: str) -> RequestRead:
    """Art. 12(3): extend once by up to two months; the subject is told the reason."""
    with c.uow() as uow:
        row = _open_request(uow, request_id)
        if Status(row.status) not in OPEN:
            raise ExtensionRefused(f"the request is already {row.status}")
        deadline = deadline_of(row).extend(months, now=c.clock.now(), reason=reason)
        row.due_at, row.extended_months = deadline.due_at, deadline.extended_months
        row.extension_reason = reason.strip()
        uow.session.add(
            RequestEvent(
                request_id=row.id,
                at=c.clock.now(),
                from_status=row.status,
                to_status=row.status,
                note=f"extended by {months} month(s)",
            )
        )
        uow.audit(
            "rights:request:extended",
            actor=actor,
            subject=row.subject_id,
            object=f"request:{row.id}:{row.type}",
            purpose="service",
        )
        outbox.queue_to_subject(
            uow,
            subject_id=row.subject_id,
            kind="request_extended",
            subject="Your privacy request needs more time",
            body=(
                f"We need more time to answer your {row.type} request {row.id}. "
                f"It is now due by {row.due_at:%Y-%m-%d}. The reason: {row.extension_reason}"
            ),
        )
        uow.commit()
        return _read(uow, row)


def reject(c: Container, *, actor: str, request_id: str, reason: str) -> RequestRead:
    """Art. 12(5): refuse a manifestly unfounded or excessive request, with a justification."""
    justification = rejection_reason_required(reason)
    with c.uow() as uow:
        row = _open_request(uow, request_id)
        move(uow, row, Status.REJECTED, actor=actor, note="rejected with a stated reason")
        row.rejection_reason, row.completed_at = justification, c.clock.now()
        queue.cancel_for_request(uow.session, row.id, now=c.clock.now())
        outbox.queue_to_subject(
            uow,
            subject_id=row.subject_id,
            kind="request_rejected",
            subject="Your privacy request was refused",
            body=f"We refused your {row.type} request {row.id}. The reason: {justification}\n\n"
            + COMPLAINT,
        )
        uow.commit()
        return _read(uow, row)


def pause(c: Container, *, actor: str, request_id: str, note: str) -> RequestRead:
    """Wait on the subject (e.g. for a clarification); the clock stops, and it is logged."""
    with c.uow() as uow:
        row = _open_request(uow, request_id)
        row.paused_at = c.clock.now()
        move(uow, row, Status.PAUSED, actor=actor, note=note[:255])
        uow.commit()
        return _read(uow, row)


def resume(c: Container, *, actor: str, request_id: str) -> RequestRead:
    """The subject answered: the clock runs again, the due date moved by the pause."""
    with c.uow() as uow:
        row = _open_request(uow, request_id)
        if row.status != Status.PAUSED.value or row.paused_at is None:
            raise ValidationFailed("status", "the request is not paused")
        waited = c.clock.now() - row.paused_at
        deadline = deadline_of(row).paused(waited)
        row.due_at, row.original_due_at = deadline.due_at, deadline.original_due_at
        row.paused_seconds = int(deadline.paused_for.total_seconds())
        row.paused_at = None
        # Back to where fulfilment starts again: a verified request is queued anew.
        mark_verified(uow, row, actor=actor)
        uow.commit()
        return _read(uow, row)


def _open_request(uow: UnitOfWork, request_id: str) -> RightsRequest:
    row = uow.session.get(RightsRequest, request_id) if is_id(request_id) else None
    if row is None:
        raise NotFound("request")
    return row


def run_fulfilment_job(c: Container, job: Job) -> None:
    """Job handler: fulfil one verified request with its type's fulfiller."""
    request_id = str(job.payload["request_id"])
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, request_id)
        if row is None or Status(row.status) not in OPEN - {Status.PAUSED, Status.RECEIVED}:
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return
        if row.status == Status.VERIFIED.value:
            move(uow, row, Status.IN_PROGRESS, actor="system:rights")
        work = Work(row.id, row.subject_id, RequestType(row.type), open_details(uow, row))
        uow.commit()
    result = c.registries.fulfiller(work.type.value)(c, work)
    complete(c, request_id=request_id, job_id=job.id, result_ref=result)


def complete(c: Container, *, request_id: str, job_id: str | None, result_ref: str | None) -> None:
    """Mark a request completed and tell the subject (if they still have an address)."""
    with c.uow() as uow:
        row = uow.session.get(RightsRequest, request_id)
        if row is None:
            return
        move(uow, row, Status.COMPLETED, actor="system:rights")
        row.completed_at, row.result_ref = c.clock.now(), result_ref
        if row.details_enc is not None and row.type == RequestType.ERASURE.value:
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


def staff_queue(
    c: Container,
    *,
    overdue: bool = False,
    due_within_days: int | None = None,
    status: str | None = None,
) -> list[RequestRead]:
    """Open requests for the DPO, soonest due first; filters for overdue and due soon."""
    now = c.clock.now()
    with c.uow(write=False) as uow:
        query = select(RightsRequest).order_by(RightsRequest.due_at)
        if status is not None:
            query = query.where(RightsRequest.status == status)
        else:
            query = query.where(RightsRequest.status.in_([s.value for s in OPEN]))
        if overdue:
            query = query.where(RightsRequest.due_at < now)
        if due_within_days is not None:
            query = query.where(
                RightsRequest.due_at >= now,
                RightsRequest.due_at <= now + timedelta(days=due_within_days),
            )
        return [_read(uow, r) for r in uow.session.scalars(query)]
