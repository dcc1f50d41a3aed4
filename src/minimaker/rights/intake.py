"""Taking requests in: a new request with its legal due date, its details sealed under the
subject's key; the signed-in subject's own requests (the app channel).

The other channels create requests through `create_request` too: by email with a link to
confirm (`public_intake.py`), and recorded by staff on the subject's behalf (`decisions.py`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import events, lifecycle
from minimaker.rights.read_model import RequestRead, request_read, request_reads
from minimaker.rights.rules import OPEN, Deadline, RequestType, Status, parse_type
from minimaker.rights.tables import RightsRequest

#: The most JSON a request's details may hold.
MAX_DETAILS_CHARS = 4096


def create_request(
    uow: UnitOfWork,
    *,
    subject_id: str,
    type: RequestType,
    details: dict[str, Any] | None,
    channel: str,
    actor: Actor,
    verified: bool,
    recorded_by: str | None = None,
) -> RightsRequest:
    """A new request, received now, due in one calendar month; verified ones are queued.

    Asking for erasure while one is open, by any verified channel, is that one again.
    """
    erasure = type is RequestType.ERASURE and verified
    open_one = _open_erasure(uow, subject_id, actor=actor) if erasure else None
    if open_one is not None:
        return open_one
    row = _received(uow, subject_id, type, details, channel=channel, recorded_by=recorded_by)
    uow.session.add(row)
    uow.session.flush()  # the events below reference it; no ORM relationship orders them
    lifecycle.log_event(uow, row, None, channel)
    lifecycle.audit(uow, row, events.REQUEST_RECEIVED, actor=actor)
    if verified:
        lifecycle.mark_verified(uow, row, actor=actor)
    return row


def _received(
    uow: UnitOfWork,
    subject_id: str,
    type: RequestType,
    details: dict[str, Any] | None,
    *,
    channel: str,
    recorded_by: str | None,
) -> RightsRequest:
    now = uow.c.clock.now()
    deadline = Deadline.for_receipt(now)
    return RightsRequest(
        id=uuid.uuid4().hex,
        subject_id=subject_id,
        type=type.value,
        status=Status.RECEIVED.value,
        channel=channel,
        details_enc=seal_details(uow, subject_id, details),
        received_at=now,
        due_at=deadline.due_at,
        original_due_at=deadline.original_due_at,
        extended_months=0,
        paused_seconds=0,
        recorded_by=recorded_by,
    )


def has_open_erasure(uow: UnitOfWork, subject_id: str) -> bool:
    """Whether an erasure of the subject is already asked for and not yet closed."""
    query = select(RightsRequest.id).where(
        RightsRequest.subject_id == subject_id,
        RightsRequest.type == RequestType.ERASURE.value,
        RightsRequest.status.in_([s.value for s in OPEN]),
    )
    return uow.session.scalars(query.limit(1)).first() is not None


def _open_erasure(uow: UnitOfWork, subject_id: str, *, actor: Actor) -> RightsRequest | None:
    """The subject's open erasure request, verified now if it waited for a confirmation.

    The account row is locked first, so concurrent asks queue here and the second one sees
    the request the first made. One waiting for its emailed link is verified by this ask,
    which proves the person itself (a signed-in password check, staff who checked).
    """
    accounts.lock_account(uow, subject_id)
    row = uow.session.scalars(
        select(RightsRequest)
        .where(
            RightsRequest.subject_id == subject_id,
            RightsRequest.type == RequestType.ERASURE.value,
            RightsRequest.status.in_([s.value for s in OPEN]),
        )
        .order_by(RightsRequest.received_at)
        .limit(1)
    ).first()
    if row is not None and row.status == Status.RECEIVED.value:
        lifecycle.mark_verified(uow, row, actor=actor)
    return row


def checked_details(details: object) -> dict[str, Any] | None:
    """The details of a request as given, if they are an object (or absent)."""
    if details is not None and not isinstance(details, dict):
        raise ValidationFailed("details", "must be an object")
    return details


def seal_details(uow: UnitOfWork, subject_id: str, details: dict[str, Any] | None) -> bytes | None:
    # Details can be personal (a corrected name): sealed under the subject's own key.
    if not details:
        return None
    text = json.dumps(details, sort_keys=True)
    if len(text) > MAX_DETAILS_CHARS:
        raise ValidationFailed("details", f"must be at most {MAX_DETAILS_CHARS} characters of JSON")
    dek = uow.keys.subject_key(subject_id)
    return seal_field(dek, subject_id=subject_id, field="request-details", value=text)


def open_details(uow: UnitOfWork, row: RightsRequest) -> dict[str, Any]:
    """The request's details, decrypted with its subject's key ({} when there are none)."""
    value = open_sealed(uow, row, "request-details", row.details_enc)
    return {} if value is None else dict(json.loads(value))


def open_sealed(
    uow: UnitOfWork, row: RightsRequest, field: str, sealed: bytes | None
) -> str | None:
    """A sealed field of the request (details, the officer's statement or evidence), opened."""
    if sealed is None:
        return None
    dek = uow.keys.subject_key(row.subject_id)
    return open_field(dek, subject_id=row.subject_id, field=field, sealed=sealed)


def submit(
    c: Container,
    *,
    user_id: str,
    type: object,
    details: dict[str, Any] | None = None,
) -> RequestRead:
    """A signed-in subject's request: identity is proven by the session, so it is verified.

    An erasure while one is open answers with that one. Callers that erase an account
    prove the person first (DELETE /me and the delete page ask for the password).
    """
    kind = parse_type(type)
    checked = checked_details(details)
    with c.uow() as uow:
        row = create_request(
            uow,
            subject_id=user_id,
            type=kind,
            details=checked,
            channel="app",
            actor=Actor.subject(user_id),
            verified=True,
        )
        uow.commit()
        return request_read(uow, row)


def owned_request(uow: UnitOfWork, *, user_id: str, request_id: str) -> RightsRequest:
    """The subject's request; another subject's id answers exactly like a missing one."""
    row = uow.session.get(RightsRequest, request_id) if is_id(request_id) else None
    if row is None or row.subject_id != user_id:
        raise NotFound("request")
    return row


def list_for_subject(c: Container, *, user_id: str) -> list[RequestRead]:
    """The subject's requests, newest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_id == user_id)
            .order_by(RightsRequest.received_at.desc())
        ).all()
        return request_reads(uow, rows)


def get_for_subject(c: Container, *, user_id: str, request_id: str) -> RequestRead:
    """One of the subject's requests, with its history."""
    with c.uow(write=False) as uow:
        return request_read(uow, owned_request(uow, user_id=user_id, request_id=request_id))


def get_any(c: Container, *, request_id: str) -> RequestRead:
    """Any request by id (for the system and tests; staff read through `decisions.py`)."""
    with c.uow(write=False) as uow:
        return request_read(uow, lifecycle.find(uow, request_id))
