"""Notices already queued for a subject, so a retried use case never sends one twice."""

from __future__ import annotations

from sqlalchemy import select

from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail.tables import ERASURE_CONFIRMATION, OutboxMessage

__all__ = ["ERASURE_CONFIRMATION", "is_queued"]


def is_queued(uow: UnitOfWork, *, subject_id: str, kind: str) -> bool:
    """Whether a message of `kind` to the subject is in the outbox (sent or not)."""
    found = uow.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.subject_id == subject_id, OutboxMessage.kind == kind)
        .limit(1)
    )
    return found is not None
