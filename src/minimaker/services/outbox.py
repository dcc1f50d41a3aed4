"""The outbox: messages sealed at rest until a worker delivers them, then wiped."""

from __future__ import annotations

import json
import uuid

from minimaker.bootstrap import UnitOfWork
from minimaker.crypto.fields import open_field, seal_field
from minimaker.crypto.keys import generate_key
from minimaker.domain.errors import KeyUnavailable
from minimaker.store.models import OutboxMessage, User

PENDING, SENT, FAILED = "pending", "sent", "failed"


def queue_message(
    uow: UnitOfWork, *, subject_id: str | None, to: str, kind: str, subject: str, body: str
) -> str:
    """Queue an email in the caller's transaction, sealed under its own per-message key.

    The key is wrapped by the master key, not the subject's key, so a confirmation queued just
    before an erasure can still be delivered after the subject's key is destroyed.
    """
    message_id = uuid.uuid4().hex
    key = generate_key()
    content = json.dumps({"to": to, "subject": subject, "body": body})
    uow.session.add(
        OutboxMessage(
            id=message_id,
            subject_id=subject_id,
            kind=kind,
            sealed=seal_field(key, subject_id=message_id, field="message", value=content),
            wrapped_key=uow.c.master.wrap(key, context=f"outbox:{message_id}"),
            status=PENDING,
            attempts=0,
            created_at=uow.c.clock.now(),
        )
    )
    return message_id


def open_message(uow: UnitOfWork, row: OutboxMessage) -> dict[str, str]:
    """The message's recipient, subject line and body (for delivery)."""
    if row.sealed is None or row.wrapped_key is None:
        raise KeyUnavailable("the message was already delivered and wiped")
    key = uow.c.master.unwrap(row.wrapped_key, context=f"outbox:{row.id}")
    content = open_field(key, subject_id=row.id, field="message", sealed=row.sealed)
    return dict(json.loads(content))


def subject_email(uow: UnitOfWork, subject_id: str) -> str | None:
    """The subject's address on file, or None when the account or its key is gone."""
    user = uow.session.get(User, subject_id)
    if user is None:
        return None
    try:
        dek = uow.keys.subject_key(subject_id)
    except KeyUnavailable:
        return None
    return open_field(dek, subject_id=subject_id, field="email", sealed=user.email_enc)


def queue_to_subject(
    uow: UnitOfWork, *, subject_id: str, kind: str, subject: str, body: str
) -> str | None:
    """Queue a message to the subject's address on file; None if there is none any more."""
    to = subject_email(uow, subject_id)
    if to is None:
        return None
    return queue_message(uow, subject_id=subject_id, to=to, kind=kind, subject=subject, body=body)
