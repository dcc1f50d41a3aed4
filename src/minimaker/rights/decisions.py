"""The staff side of data-subject requests: the queue, the DPO's decisions, the overdue alarm.

Staff see request metadata and pseudonymous subject ids, never profile data or the request's
details. Each use case checks the role first (a refusal is audited), then calls the rights
service, which moves the request and audits it with the staff member as actor in its own
transaction; the staff event `staff:request:<verb>` follows it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.rights import public_intake
from minimaker.rights import service as rights
from minimaker.rights.rules import OPEN, ExtensionRefused, Status
from minimaker.rights.service import EventRead, RequestRead
from minimaker.rights.tables import RightsRequest
from minimaker.staff.rules import Action
from minimaker.staff.service import StaffIdentity, permit

log = logging.getLogger("minimaker.rights")

#: The alarm also names requests due within this many days.
DUE_SOON_DAYS = 7
#: The same alarm is repeated at most this often per database (many workers, one tick each).
REPEAT_ALARM = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class StaffRequestView:
    """A request as staff see it: metadata, the pseudonymous subject id, the deadline."""

    id: str
    subject_id: str
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
    overdue: bool
    days_left: int
    events: tuple[EventRead, ...]


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until the due date, rounded down: 0 is due today, negative is overdue."""
    return math.floor((due_at - now) / _DAY)


def _view(read: RequestRead, subject_id: str, now: datetime) -> StaffRequestView:
    is_open = Status(read.status) in OPEN
    return StaffRequestView(
        id=read.id,
        subject_id=subject_id,
        type=read.type,
        status=read.status,
        channel=read.channel,
        received_at=read.received_at,
        due_at=read.due_at,
        original_due_at=read.original_due_at,
        extended_months=read.extended_months,
        extension_reason=read.extension_reason,
        completed_at=read.completed_at,
        rejection_reason=read.rejection_reason,
        overdue=is_open and now > read.due_at,
        days_left=days_left(read.due_at, now),
        events=read.events,
    )


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return Status(value).value
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationFailed("status", f"must be one of {allowed}") from None


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
    reads = rights.staff_queue(
        c, overdue=overdue, due_within_days=due_within_days, status=_status(status)
    )
    with c.uow() as uow:
        ids = [r.id for r in reads]
        pairs = uow.session.execute(
            select(RightsRequest.id, RightsRequest.subject_id).where(RightsRequest.id.in_(ids))
        )
        subjects = {request_id: subject_id for request_id, subject_id in pairs}
        # One entry per view, not per listed subject: the listing shows ids and dates only.
        uow.audit(
            "staff:queue:viewed",
            actor=staff.actor,
            object=f"requests:{len(ids)}",
            purpose="service",
        )
        uow.commit()
    now = c.clock.now()
    return [_view(r, subjects[r.id], now) for r in reads if r.id in subjects]


def get_request(c: Container, staff: StaffIdentity, *, request_id: str) -> StaffRequestView:
    """One request with its history; the view is audited against its subject."""
    permit(c, staff, Action.VIEW_REQUEST)
    return _after(c, staff, rights.get_any(c, request_id=request_id), "viewed")


def extend(
    c: Container, staff: StaffIdentity, *, request_id: str, months: int, reason: str
) -> StaffRequestView:
    """Art. 12(3): extend once by one or two months; the subject is told the reason."""
    permit(c, staff, Action.EXTEND_REQUEST, object=_ref(request_id))
    current = rights.get_any(c, request_id=request_id)
    if Status(current.status) not in OPEN:
        # A closed request has no deadline left to extend (and its subject was told why).
        raise ExtensionRefused(f"the request is already {current.status}")
    read = rights.extend(c, actor=staff.actor, request_id=request_id, months=months, reason=reason)
    return _after(c, staff, read, "extended")


def reject(c: Container, staff: StaffIdentity, *, request_id: str, reason: str) -> StaffRequestView:
    """Art. 12(5): refuse with a justification; the subject is told of the right to complain."""
    permit(c, staff, Action.REJECT_REQUEST, object=_ref(request_id))
    read = rights.reject(c, actor=staff.actor, request_id=request_id, reason=reason)
    return _after(c, staff, read, "rejected")


def pause(c: Container, staff: StaffIdentity, *, request_id: str, note: str) -> StaffRequestView:
    """Stop the clock while waiting on the subject; the note says what for."""
    permit(c, staff, Action.PAUSE_REQUEST, object=_ref(request_id))
    if not note.strip():
        raise ValidationFailed("note", "say what the subject is asked for")
    read = rights.pause(c, actor=staff.actor, request_id=request_id, note=note.strip())
    return _after(c, staff, read, "paused")


def resume(c: Container, staff: StaffIdentity, *, request_id: str) -> StaffRequestView:
    """The subject answered: the clock runs again and fulfilment is queued anew."""
    permit(c, staff, Action.RESUME_REQUEST, object=_ref(request_id))
    read = rights.resume(c, actor=staff.actor, request_id=request_id)
    return _after(c, staff, read, "resumed")


def record(
    c: Container,
    staff: StaffIdentity,
    *,
    email: str,
    type: str,
    details: dict[str, Any] | None = None,
) -> StaffRequestView:
    """Record a request received by email or post on the subject's behalf."""
    permit(c, staff, Action.RECORD_REQUEST)
    read = public_intake.record_on_behalf(
        c, staff_id=staff.id, email=email, type=type, details=details
    )
    return _after(c, staff, read, "recorded")


def _ref(request_id: str) -> str:
    # The id comes from a URL: only an id we could have minted goes into the audit.
    return f"request:{request_id}" if is_id(request_id) else "request:malformed"


def _after(c: Container, staff: StaffIdentity, read: RequestRead, verb: str) -> StaffRequestView:
    """Audit `staff:request:<verb>` against the request's subject; the staff view of it."""
    with c.uow() as uow:
        subject_id = uow.session.scalar(
            select(RightsRequest.subject_id).where(RightsRequest.id == read.id)
        )
        uow.audit(
            f"staff:request:{verb}",
            actor=staff.actor,
            subject=subject_id,
            object=f"request:{read.id}:{read.type}",
            purpose="service",
        )
        uow.commit()
    return _view(read, subject_id or "", c.clock.now())


_last_alarm: dict[str, tuple[frozenset[str], datetime]] = {}


def alert_overdue(c: Container) -> int:
    """Warn (ids only) about overdue open requests and those due soon; returns the overdue count."""
    now = c.clock.now()
    with c.uow(write=False) as uow:
        rows = uow.session.execute(
            select(RightsRequest.id, RightsRequest.due_at)
            .where(
                RightsRequest.status.in_([s.value for s in OPEN]),
                RightsRequest.due_at <= now + timedelta(days=DUE_SOON_DAYS),
            )
            .order_by(RightsRequest.due_at)
        ).all()
    overdue = [r.id for r in rows if r.due_at < now]
    soon = [r.id for r in rows if r.due_at >= now]
    key = c.settings.resolved_database_url()
    seen = frozenset(overdue) | frozenset(soon)
    previous = _last_alarm.get(key)
    if seen and (previous is None or previous[0] != seen or now - previous[1] >= REPEAT_ALARM):
        _last_alarm[key] = (seen, now)
        if overdue:
            log.warning("%d data-subject request(s) OVERDUE: %s", len(overdue), ", ".join(overdue))
        if soon:
            log.warning(
                "%d data-subject request(s) due within %d days: %s",
                len(soon),
                DUE_SOON_DAYS,
                ", ".join(soon),
            )
    return len(overdue)
