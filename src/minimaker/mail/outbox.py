"""The outbox: messages sealed at rest until a worker delivers them, then wiped.

Delivery is at least once: a message is claimed (status `sending`, with a lease), opened,
handed to the mailer, then marked sent and wiped in one transaction with its audit event. A
worker that dies mid-send leaves the lease to run out, and another worker sends it again.
`next_attempt_at` is the earliest time a message may be claimed (the end of a retry's backoff,
or of a sending lease); `sent_at` is the time of delivery.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from minimaker.accounts import service as accounts
from minimaker.adapters import job_queue as queue
from minimaker.adapters import mailers as mail
from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.adapters.crypto.keys import MasterKey, generate_key
from minimaker.kernel.actors import SYSTEM_CLI, SYSTEM_MAIL
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable, ProcessingRefused
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import events
from minimaker.mail.folder import FolderSealer, folder_mailer
from minimaker.mail.tables import OutboxMessage
from minimaker.sharing import relay as smtp_relay
from minimaker.sharing import service as sharing
from minimaker.sharing.rules import PayloadRefused, ShareRefused

log = logging.getLogger("minimaker.mail")

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
#: Attempts before a message is failed; with the backoff below that is about an hour.
MAX_ATTEMPTS = 6
#: A message claimed this long ago and not finished is taken to be lost with its worker.
SEND_LEASE = timedelta(minutes=5)
_not_before = OutboxMessage.next_attempt_at


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
    return accounts.email_on_file(uow, subject_id)


def queue_to_subject(
    uow: UnitOfWork, *, subject_id: str, kind: str, subject: str, body: str
) -> str | None:
    """Queue a message to the subject's address on file; None if there is none any more."""
    to = subject_email(uow, subject_id)
    if to is None:
        return None
    return queue_message(uow, subject_id=subject_id, to=to, kind=kind, subject=subject, body=body)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the nth failed attempt: 1, 2, 4, 8... minutes, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the lease on, opened for sending."""

    id: str
    kind: str
    subject_id: str | None
    attempts: int
    content: dict[str, str] | None  # None when it cannot be opened any more


def deliver_pending(c: Container, *, mailer: mail.Mailer | None = None, limit: int = 100) -> int:
    """Send every message that is due, safe with many workers; returns how many were sent."""
    _fail_abandoned(c)
    mailer = mailer or mail.mailer_for(c.settings, sealer=FolderSealer(c))
    # Policy 7.2: the SMTP relay is a processor; what it is handed leaves through sharing.
    # The outbox folder stays on this machine: no third party receives anything.
    through_relay = isinstance(mailer, mail.SmtpMailer)
    sent = 0
    for _ in range(limit):
        claimed = _claim_next(c)
        if claimed is None:
            break
        if claimed.content is None:
            _record_failure(c, claimed, "KeyUnavailable", permanent=True)
            continue
        sent += _send(c, mailer, claimed, through_relay=through_relay)
    return sent


def _send(c: Container, mailer: mail.Mailer, claimed: Claimed, *, through_relay: bool) -> int:
    """Hand one opened message to the mailer (cleared by sharing first for the relay); 1 if
    it went. A refused share waits and retries: an operator may renew a DPA meanwhile."""
    assert claimed.content is not None
    cleared: sharing.Cleared | None = None
    if through_relay:
        share = smtp_relay.message_share(c, subject_id=claimed.subject_id, content=claimed.content)
        try:
            with c.uow(write=False) as uow:
                cleared = sharing.clear(uow, share, actor=SYSTEM_MAIL)
        except (ShareRefused, PayloadRefused, ProcessingRefused) as exc:
            _record_failure(c, claimed, f"sharing refused: {exc.code}", permanent=False)
            return 0
    content = cleared.payload if cleared is not None else claimed.content
    try:
        mailer.send(content["to"], content["subject"], content["body"], claimed.id)
    except mail.DeliveryFailed as exc:
        _record_failure(c, claimed, exc.reason, permanent=exc.permanent)
    except Exception as exc:
        # Only the type: a message of an unknown error may quote the address.
        _record_failure(c, claimed, type(exc).__name__, permanent=False)
    else:
        _record_sent(c, claimed, cleared)
        return 1
    return 0


def _claimable(now: datetime) -> ColumnElement[bool]:
    due = or_(_not_before.is_(None), _not_before <= now)
    return or_(
        and_(OutboxMessage.status == PENDING, due),
        and_(
            OutboxMessage.status == SENDING,
            _not_before < now,
            OutboxMessage.attempts < MAX_ATTEMPTS,
        ),
    )


def _claim_next(c: Container) -> Claimed | None:
    """Take the oldest due message under a lease, and open it; None when nothing is due."""
    now = c.clock.now()
    # The lease's end is next_attempt_at: a worker that dies mid-send frees it by then.
    lease = {
        "status": SENDING,
        "attempts": OutboxMessage.attempts + 1,
        "next_attempt_at": now + SEND_LEASE,
    }
    with c.uow() as uow:
        row = queue.claim_oldest(
            uow.session,
            OutboxMessage,
            claimable=_claimable(now),
            oldest=OutboxMessage.created_at,
            lease=lease,
        )
        if row is None:
            return None
        try:
            content: dict[str, str] | None = open_message(uow, row)
        except KeyUnavailable:
            content = None
        uow.commit()
        return Claimed(row.id, row.kind, row.subject_id, row.attempts, content)


def _record_sent(c: Container, claimed: Claimed, cleared: sharing.Cleared | None) -> None:
    """Sent: keep only id, kind, subject and times; the content and its key are wiped. A
    message the relay took is logged as a disclosure to it, in the same unit (policy 7.2)."""
    with c.uow() as uow:
        if cleared is not None:
            sharing.record(uow, cleared, actor=SYSTEM_MAIL)
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.id)
            .values(
                status=SENT,
                sent_at=c.clock.now(),
                next_attempt_at=None,
                sealed=None,
                wrapped_key=None,
                last_error=None,
            )
        )
        uow.audit(
            events.MESSAGE_SENT,
            actor=SYSTEM_MAIL,
            subject=claimed.subject_id,
            object=f"message:{claimed.id}:{claimed.kind}",
        )
        uow.commit()


def _record_failure(c: Container, claimed: Claimed, reason: str, *, permanent: bool) -> None:
    """Retry later with backoff, or fail for good (content wiped: it will never be sent)."""
    final = permanent or claimed.attempts >= MAX_ATTEMPTS
    now = c.clock.now()
    with c.uow() as uow:
        values: dict[str, object] = {"last_error": reason[:255]}
        if final:
            values.update(status=FAILED, next_attempt_at=None, sealed=None, wrapped_key=None)
            uow.audit(
                events.MESSAGE_FAILED,
                actor=SYSTEM_MAIL,
                subject=claimed.subject_id,
                object=f"message:{claimed.id}:{claimed.kind}",
            )
        else:
            values.update(status=PENDING, next_attempt_at=now + retry_delay(claimed.attempts))
        uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == claimed.id).values(**values)
        )
        uow.commit()
    log.warning(
        "message %s (%s) attempt %d failed%s: %s",
        claimed.id,
        claimed.kind,
        claimed.attempts,
        "" if final else ", will retry",
        reason,
    )


def _fail_abandoned(c: Container) -> None:
    """Messages whose last allowed attempt died with its worker are failed, not retried."""
    now = c.clock.now()
    with c.uow() as uow:
        abandoned = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.status == SENDING,
                _not_before < now,
                OutboxMessage.attempts >= MAX_ATTEMPTS,
            )
        ).all()
        if not abandoned:
            return
        for row in abandoned:
            row.status, row.last_error, row.next_attempt_at = FAILED, "lease expired", None
            row.sealed, row.wrapped_key = None, None
            uow.audit(
                events.MESSAGE_FAILED,
                actor=SYSTEM_MAIL,
                subject=row.subject_id,
                object=f"message:{row.id}:{row.kind}",
            )
        uow.commit()


@dataclass(frozen=True)
class MessageRead:
    """What an operator may see of a message: never its recipient or content."""

    id: str
    kind: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None


def list_messages(c: Container, *, limit: int = 200) -> list[MessageRead]:
    """The newest messages, newest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
        )
        return [
            MessageRead(
                id=r.id,
                kind=r.kind,
                status=r.status,
                created_at=r.created_at,
                sent_at=r.sent_at,
                next_attempt_at=r.next_attempt_at,
                attempts=r.attempts,
                last_error=r.last_error,
            )
            for r in rows
        ]


@dataclass(frozen=True)
class Overview:
    """What `outbox list` shows: the newest messages, and the files waiting in the folder."""

    messages: list[MessageRead]
    folder: Path
    files: list[mail.WaitingFile]
    sealed_legacy: int = 0  # plaintext files of an earlier version, sealed by this listing


def overview(c: Container, *, limit: int = 200) -> Overview:
    """The newest messages (never their content) and the outbox folder's waiting files.

    Plaintext `.eml` files an earlier version left are sealed first (under the folder key):
    no mail stays readable at rest once an operator has looked at the folder.
    """
    folder = folder_mailer(c)
    legacy = folder.legacy()
    for f in legacy:
        folder.seal_legacy(f.message_id)
    return Overview(list_messages(c, limit=limit), folder.folder, folder.waiting(), len(legacy))


def show_file(c: Container, *, message_id: str, keep: bool = False) -> str:
    """One message file of the outbox folder, opened for an operator, then removed (read is
    delivered: the operator forwards it) unless `keep`; the reading is audited."""
    folder = folder_mailer(c)
    text = folder.read(message_id)
    with c.uow() as uow:
        row = uow.session.get(OutboxMessage, message_id)
        uow.audit(
            events.OUTBOX_FILE_READ,
            actor=SYSTEM_CLI,
            subject=row.subject_id if row else None,
            object=f"message:{message_id}:{row.kind if row else 'unknown'}",
        )
        uow.commit()
    if not keep:
        folder.remove(message_id)
    return text


def rewrap_keys(uow: UnitOfWork, *, old: MasterKey, new: MasterKey) -> int:
    """Master-key rotation: re-wrap the keys of messages not yet delivered, in `uow`."""
    rows = uow.session.scalars(
        select(OutboxMessage).where(OutboxMessage.wrapped_key.is_not(None))
    ).all()
    for row in rows:
        assert row.wrapped_key is not None
        context = f"outbox:{row.id}"
        row.wrapped_key = new.wrap(old.unwrap(row.wrapped_key, context=context), context=context)
    return len(rows)


def withdraw_unsent(uow: UnitOfWork, *, subject_ids: list[str]) -> int:
    """Drop the unsent mail of these (erased) subjects, in `uow`; how many messages.

    A restore that cannot tell which of a backup's unsent mail went out since uses it: an
    erased person is sent nothing more, their erasure confirmation included.
    """
    count = 0
    for start in range(0, len(subject_ids), 500):
        chunk = subject_ids[start : start + 500]
        result = uow.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.subject_id.in_(chunk), OutboxMessage.status.in_((PENDING, SENDING))
            )
        )
        count += int(getattr(result, "rowcount", 0))
    return count
