"""The staff side of data-subject requests: the queue, the closed requests, one request, the
DPO's decisions (extend, reject, pause, resume, complete by hand) and recording a request on
a subject's behalf.

Staff see request metadata and pseudonymous subject ids, never profile data or the request's
details. Each use case checks the role first (a refusal is audited in a unit of its own, by
`staff.service.permit`); then ONE unit holds the change, its lifecycle event, the rights audit
`rights:request:<verb>` and the staff audit `staff:request:<verb>`: a decision cannot happen
unaudited, nor be audited without happening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select

from minimaker.adapters import job_queue
from minimaker.adapters.crypto.fields import seal_field
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, ValidationFailed
from minimaker.kernel.ids import audited_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events, lifecycle, recording
from minimaker.rights.read_model import StaffRequestView, staff_view, staff_views
from minimaker.rights.rules import (
    CLOCK_RUNNING,
    CLOSED,
    OPEN,
    ExtensionRefused,
    Status,
    rejection_reason_required,
    statement_required,
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
    needs_officer: bool = False,
) -> list[StaffRequestView]:
    """Open requests (or those of one status), soonest due first, with their deadlines.

    `needs_officer`: only those whose automatic fulfilment failed for good."""
    permit(c, staff, Action.VIEW_QUEUE)
    if due_within_days is not None and not 0 <= due_within_days <= 366:
        raise ValidationFailed("due_within_days", "must be between 0 and 366")
    query = _queue_query(c.clock.now(), overdue, due_within_days, _status(status))
    if needs_officer:
        query = query.where(
            RightsRequest.attention_at.is_not(None),
            RightsRequest.status.in_([s.value for s in OPEN]),
        )
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
    if overdue or due_within_days is not None:
        # A held request waits on the law, not on us: never due, never overdue (rules.py).
        query = query.where(RightsRequest.status.in_([s.value for s in CLOCK_RUNNING]))
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


@dataclass(frozen=True)
class ClosedPage:
    """One page of closed requests, newest first."""

    items: list[StaffRequestView]
    page: int
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


#: What the console says after a recording, whether or not the address is registered.
RECORDED = recording.RECORDED
RECORDED_MESSAGE = RECORDED["message"]
#: Recording on a subject's behalf, with its role checks and one answer: `recording.py`.
record = recording.record
#: The most closed requests one page shows.
MAX_PER_PAGE = 100


def closed(c: Container, staff: StaffIdentity, *, page: int = 1, per_page: int = 25) -> ClosedPage:
    """Completed and refused requests, most recently closed first, one page at a time."""
    permit(c, staff, Action.VIEW_QUEUE)
    if not 1 <= page <= 100_000:
        raise ValidationFailed("page", "must be between 1 and 100000")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed("per_page", f"must be between 1 and {MAX_PER_PAGE}")
    done = RightsRequest.status.in_([s.value for s in CLOSED])
    closed_at = func.coalesce(RightsRequest.completed_at, RightsRequest.received_at)
    query = (
        select(RightsRequest)
        .where(done)
        .order_by(closed_at.desc(), RightsRequest.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    with c.uow() as uow:
        total = uow.session.scalar(select(func.count()).select_from(RightsRequest).where(done))
        views = staff_views(uow, uow.session.scalars(query).all())
        uow.audit(staff_events.CLOSED_VIEWED, actor=staff.actor, object=f"requests:{len(views)}")
        uow.commit()
    return ClosedPage(views, page, per_page, int(total or 0))


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


def complete(
    c: Container, staff: StaffIdentity, *, request_id: str, statement: str
) -> StaffRequestView:
    """Complete by hand a request whose fulfilment failed; the subject is told what was done."""
    permit(c, staff, Action.COMPLETE_REQUEST, object=_ref(request_id))
    said = statement_required(statement)
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        if Status(row.status) not in OPEN or row.attention_at is None:
            raise Conflict("only a request waiting for the officer is completed by hand")
        if row.status == Status.VERIFIED.value:
            lifecycle.move(uow, row, Status.IN_PROGRESS, actor=staff.actor)
        # An unverified or paused request cannot complete: the lifecycle refuses the move.
        lifecycle.move(uow, row, Status.COMPLETED, actor=staff.actor, note="completed by hand")
        now = c.clock.now()
        row.completed_at = now
        # What the officer did may name the person (a corrected name): sealed like details.
        dek = uow.keys.subject_key(row.subject_id)
        row.resolution_enc = seal_field(
            dek, subject_id=row.subject_id, field="request-resolution", value=said
        )
        job_queue.cancel_for_request(uow.session, row.id, now=now)
        outbox.queue_to_subject(
            uow,
            subject_id=row.subject_id,
            kind="request_completed",
            subject="Your privacy request is done",
            body=f"Your {row.type} request {row.id} was completed on {now:%Y-%m-%d}.\n\n"
            f"What our privacy officer did: {said}",
        )
        _audit_staff(uow, staff, row, "completed")
        uow.commit()
        return staff_view(uow, row)


def _ref(request_id: str) -> str:
    # The id comes from a URL: only an id we could have minted goes into the audit.
    return audited_id("request", request_id)


def _audit_staff(uow: UnitOfWork, staff: StaffIdentity, row: RightsRequest, verb: str) -> None:
    """`staff:request:<verb>` against the request's subject, in the decision's own unit."""
    lifecycle.audit(uow, row, staff_events.REQUEST[verb], actor=staff.actor)
