"""How a request reads, declared once: the subject's view and the staff view share one set of
facts and one builder. The HTTP schemas (`rights/api.py`, `staff/api.py`) derive from these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.deadlines import days_left
from minimaker.rights.rules import CLOCK_RUNNING, OPEN, Status
from minimaker.rights.tables import RequestEvent, RightsRequest

_SLICE = 500


@dataclass(frozen=True)
class EventRead:
    """One step of a request's history."""

    at: datetime
    from_status: str | None
    to_status: str
    note: str | None


@dataclass(frozen=True)
class RequestFacts:
    """What every view of a request shows: type, status, channel, deadline and history."""

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
    events: tuple[EventRead, ...]


@dataclass(frozen=True)
class RequestRead(RequestFacts):
    """The subject's view: the facts and, once done, the result (an archive's id)."""

    result_ref: str | None


@dataclass(frozen=True)
class StaffRequestView(RequestFacts):
    """The staff view: the facts, the pseudonymous subject id, the deadline in days.

    Never profile data nor the request's details (they may hold a corrected name)."""

    subject_id: str
    overdue: bool
    days_left: int
    #: Open and waiting for the officer: automatic fulfilment failed for good, for this reason.
    needs_officer: bool
    attention_reason: str | None
    #: A DPO recorded the evidence of identity (the evidence itself is sealed, never shown).
    evidence_recorded: bool


def request_read(uow: UnitOfWork, row: RightsRequest) -> RequestRead:
    """The subject's view of one request."""
    return request_reads(uow, [row])[0]


def request_reads(uow: UnitOfWork, rows: Sequence[RightsRequest]) -> list[RequestRead]:
    """The subject's view of each request, in the order given."""
    events = _events_of(uow, [r.id for r in rows])
    return [RequestRead(**_facts(r, events), result_ref=r.result_ref) for r in rows]


def staff_view(uow: UnitOfWork, row: RightsRequest) -> StaffRequestView:
    """The staff view of one request."""
    return staff_views(uow, [row])[0]


def staff_views(uow: UnitOfWork, rows: Sequence[RightsRequest]) -> list[StaffRequestView]:
    """The staff view of each request, in the order given, with days left as of now."""
    now = uow.c.clock.now()
    events = _events_of(uow, [r.id for r in rows])
    return [
        StaffRequestView(
            **_facts(r, events),
            subject_id=r.subject_id,
            overdue=Status(r.status) in CLOCK_RUNNING and now > r.due_at,
            days_left=days_left(r.due_at, now),
            needs_officer=Status(r.status) in OPEN and r.attention_at is not None,
            attention_reason=r.attention_reason,
            evidence_recorded=r.evidence_enc is not None,
        )
        for r in rows
    ]


def _facts(row: RightsRequest, events: dict[str, list[EventRead]]) -> dict[str, Any]:
    """The one builder: a request row and its events -> the fields of RequestFacts."""
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "channel": row.channel,
        "received_at": row.received_at,
        "due_at": row.due_at,
        "original_due_at": row.original_due_at,
        "extended_months": row.extended_months,
        "extension_reason": row.extension_reason,
        "completed_at": row.completed_at,
        "rejection_reason": row.rejection_reason,
        "events": tuple(events.get(row.id, ())),
    }


def _events_of(uow: UnitOfWork, request_ids: list[str]) -> dict[str, list[EventRead]]:
    # One query per slice of a listing (not one per request), oldest event first; slices
    # keep the IN list well under SQLite's bound-parameter limit.
    found: dict[str, list[EventRead]] = {}
    for start in range(0, len(request_ids), _SLICE):
        rows = uow.session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id.in_(request_ids[start : start + _SLICE]))
            .order_by(RequestEvent.id)
        )
        for e in rows:
            event = EventRead(e.at, e.from_status, e.to_status, e.note)
            found.setdefault(e.request_id, []).append(event)
    return found
