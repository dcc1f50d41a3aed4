"""Notices already queued for a subject, so a retried use case never sends one twice."""

from __future__ import annotations

from sqlalchemy import func, select

from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail.tables import ERASURE_CONFIRMATION, OutboxMessage

__all__ = ["ERASURE_CONFIRMATION", "counts", "is_queued", "recipients"]


def is_queued(uow: UnitOfWork, *, subject_id: str, kind: str) -> bool:
    """Whether a message of `kind` to the subject is in the outbox (sent or not)."""
    found = uow.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.subject_id == subject_id, OutboxMessage.kind == kind)
        .limit(1)
    )
    return found is not None


def recipients(uow: UnitOfWork, *, kind: str) -> set[str]:
    """The subjects a message of `kind` is sent to or on its way to (one the outbox failed
    for good is not: sending it again is a retry)."""
    query = select(OutboxMessage.subject_id).where(
        OutboxMessage.kind == kind, OutboxMessage.status != "failed"
    )
    return {s for s in uow.session.scalars(query) if s is not None}


def counts(uow: UnitOfWork, *, kind: str | None = None) -> dict[str, int]:
    """How many messages (of `kind`, or of every kind) are in each status (pending, sending,
    sent, failed); never who or what."""
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return {str(status): int(n) for status, n in uow.session.execute(query)}
