"""The staff side of data-subject requests: the queue, one request, and the DPO's decisions
(extend, reject, pause, resume) and recording a request on a subject's behalf.

Staff see request metadata and pseudonymous subject ids, never profile data or the request's
details. Each use case checks the role first (a refusal is audited in a unit of its own, by
`staff.service.permit`); then ONE unit holds the change, its lifecycle event, the rights audit
`rights:request:<verb>` and the staff audit `staff:request:<verb>`: a decision cannot happen
unaudited, nor be audited without happening.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from minimaker.accounts import rules as account_rules
from minimaker.accounts import service as accounts
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events, lifecycle
from minimaker.rights.intake import checked_details, create_request
from minimaker.rights.read_model import StaffRequestView, staff_view, staff_views
from minimaker.rights.rules import (
    OPEN,
    ExtensionRefused,
    Status,
    parse_type,
    rejection_reason_required,
)
from minimaker.rights.tables import RightsRequest
from minimaker.staff import events as staff_events
from minimaker.staff.rules import Action
from minimaker.staff.service import StaffIdentity, permit


def queue(
    c: Container,
    staff: StaffIdentity,
    *,
    overdue: bool = False,
    due_within_days: int | None = None,
    status: str | None = None,
) -> list[StaffRequestView]:
    """Open requests (or those of one status), soonest due first, with their deadlines."""
    permit(c, staff, Action.VIEW_QUEUE)
    if due_within_days is not None and not 0 <= due_within_days <= 366:
        raise ValidationFailed("due_within_days", "must be between 0 and 366")
    query = _queue_query(c.clock.now(), overdue, due_within_days, _status(status))
    with c.uow() as uow:
        views = staff_views(uow, uow.session.scalars(query).all())
        # One entry per view, not per listed subject: the listing shows ids and dates only.
        uow.audit(staff_events.QUEUE_VIEWED, actor=staff.actor, object=f"requests:{len(views)}")
        uow.commit()
    return views


def _queue_query(
    now: datetime, overdue: bool, due_within_days: int | None, status: str | None
) -> Select[RightsRequest]:
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
    return query


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return Status(value).value
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationFailed("status", f"must be one of {allowed}") from None


def get_request(c: Container, staff: StaffIdentity, *, request_id: str) -> StaffRequestView:
    """One request with its history; the view is audited against its subject."""
    permit(c, staff, Action.VIEW_REQUEST)
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        _audit_staff(uow, staff, row, "viewed")
        uow.commit()
        return staff_view(uow, row)


def extend(
    c: Container, staff: StaffIdentity, *, request_id: str, months: int, reason: str
) -> StaffRequestView:
    """Art. 12(3): extend once by one or two months; the subject is told the reason."""
    permit(c, staff, Action.EXTEND_REQUEST, object=_ref(request_id))
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        _extend(uow, row, actor=staff.actor, months=months, reason=reason)
        _audit_staff(uow, staff, row, "extended")
        uow.commit()
        return staff_view(uow, row)


def _extend(uow: UnitOfWork, row: RightsRequest, *, actor: Actor, months: int, reason: str) -> None:
    if Status(row.status) not in OPEN:
        # A closed request has no deadline left to extend (and its subject was told why).
        raise ExtensionRefused(f"the request is already {row.status}")
    deadline = lifecycle.deadline_of(row).extend(months, now=uow.c.clock.now(), reason=reason)
    row.due_at, row.extended_months = deadline.due_at, deadline.extended_months
    row.extension_reason = reason.strip()
    lifecycle.log_event(uow, row, row.status, f"extended by {months} month(s)")
    lifecycle.audit(uow, row, events.REQUEST_EXTENDED, actor=actor)
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


def reject(c: Container, staff: StaffIdentity, *, request_id: str, reason: str) -> StaffRequestView:
    """Art. 12(5): refuse with a justification; the subject is told of the right to complain."""
    permit(c, staff, Action.REJECT_REQUEST, object=_ref(request_id))
    justification = rejection_reason_required(reason)
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        lifecycle.refuse(uow, row, actor=staff.actor, justification=justification)
        _audit_staff(uow, staff, row, "rejected")
        uow.commit()
        return staff_view(uow, row)


def pause(c: Container, staff: StaffIdentity, *, request_id: str, note: str) -> StaffRequestView:
    """Stop the clock while waiting on the subject; the note says what for."""
    permit(c, staff, Action.PAUSE_REQUEST, object=_ref(request_id))
    if not note.strip():
        raise ValidationFailed("note", "say what the subject is asked for")
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        row.paused_at = c.clock.now()
        lifecycle.move(uow, row, Status.PAUSED, actor=staff.actor, note=note.strip()[:255])
        _audit_staff(uow, staff, row, "paused")
        uow.commit()
        return staff_view(uow, row)


def resume(c: Container, staff: StaffIdentity, *, request_id: str) -> StaffRequestView:
    """The subject answered: the clock runs again and fulfilment is queued anew."""
    permit(c, staff, Action.RESUME_REQUEST, object=_ref(request_id))
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        if row.status != Status.PAUSED.value or row.paused_at is None:
            raise ValidationFailed("status", "the request is not paused")
        # The time spent waiting on the subject does not count against the deadline.
        deadline = lifecycle.deadline_of(row).paused(c.clock.now() - row.paused_at)
        row.due_at, row.original_due_at = deadline.due_at, deadline.original_due_at
        row.paused_seconds = int(deadline.paused_for.total_seconds())
        row.paused_at = None
        # Back to where fulfilment starts again: a verified request is queued anew.
        lifecycle.mark_verified(uow, row, actor=staff.actor)
        _audit_staff(uow, staff, row, "resumed")
        uow.commit()
        return staff_view(uow, row)


def record(
    c: Container,
    staff: StaffIdentity,
    *,
    email: str,
    type: str,
    details: dict[str, Any] | None = None,
) -> StaffRequestView:
    """Record a request received by email or post, for a subject whose identity staff checked."""
    permit(c, staff, Action.RECORD_REQUEST)
    kind = parse_type(type)
    address = account_rules.clean_email(email)
    checked = checked_details(details)
    index_key = c.secret("blind_index")
    with c.uow() as uow:
        subject_id = accounts.subject_by_email(uow.session, index_key=index_key, email=address)
        if subject_id is None:
            raise NotFound("subject")
        row = create_request(
            uow,
            subject_id=subject_id,
            type=kind,
            details=checked,
            channel="staff",
            actor=staff.actor,
            verified=True,
            recorded_by=staff.id,
        )
        _audit_staff(uow, staff, row, "recorded")
        uow.commit()
        return staff_view(uow, row)


def _ref(request_id: str) -> str:
    # The id comes from a URL: only an id we could have minted goes into the audit.
    return f"request:{request_id}" if is_id(request_id) else "request:malformed"


def _audit_staff(uow: UnitOfWork, staff: StaffIdentity, row: RightsRequest, verb: str) -> None:
    """`staff:request:<verb>` against the request's subject, in the decision's own unit."""
    lifecycle.audit(uow, row, staff_events.REQUEST[verb], actor=staff.actor)
