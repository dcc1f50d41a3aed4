"""Art. 17 erasure: destroy the subject's key, then delete every row and blob of theirs.

The key goes first: every copy of the subject's data that we cannot reach by a query (backups,
replicas, a blob a crashed writer left behind) is ciphertext under that key, so destroying it
erases them all at once, and the key store's erasure ledger records whom to erase again should
an old backup ever bring rows back (`replay_ledger`, run at start-up and after a restore).

Every lookup below goes by an indexed subject or owner column, so the cost of an erasure
follows the subject's own data, not the size of the database (bench/bench_erasure.py). One
exception is the database's own: deleting a photo sets `models.upload_id` to NULL wherever it
is referenced, which reads all of `models` until that column has an index (asked for; see the
strict xfail in tests/services/test_erasure.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Select, delete, select, update

from minimaker.accounts import rules
from minimaker.accounts.tables import AuthSession, LoginFailure, User
from minimaker.adapters import job_queue as queue
from minimaker.adapters.crypto.fields import blind_index, open_field
from minimaker.adapters.job_queue import Job
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import recipients
from minimaker.rights.service import Work
from minimaker.rights.tables import Archive, Disclosure, Objection, RightsRequest, VerificationToken
from minimaker.uploads.tables import Upload

#: The outbox kind of the message that tells the subject their data is gone.
CONFIRMATION = "erasure_confirmation"
_ACTOR = "system:rights"
_CHUNK = 500  # subject ids per IN (...) when the ledger is replayed


@dataclass(frozen=True)
class Erased:
    """What one pass of row deletion removed (counts only: nothing personal)."""

    rows: int
    blobs: int


def erase(c: Container, work: Work) -> str | None:
    """Fulfil an erasure request: stop work, tell, destroy the key, delete rows and blobs."""
    subject_id = work.subject_id
    if c.keys.has_subject_key(subject_id):
        _stop_and_tell(c, work)
        # Art. 17(1): "without undue delay". The key goes first so that every copy we cannot
        # reach by a query (backups, replicas, stray blobs) becomes unreadable at the same
        # moment, and the ledger in the key store records it for replays after a restore.
        c.keys.destroy_subject_key(subject_id, now=c.clock.now())
    # A retry after a crash, or a second erasure request, finds the key gone: only the
    # (idempotent) deletion is left to do, and the request completes cleanly.
    erase_rows(c, subject_id=subject_id, request_id=work.request_id)
    return None


def _stop_and_tell(c: Container, work: Work) -> None:
    """Steps taken while the key still exists: cancel work, queue the notices, drop hashes."""
    subject_id = work.subject_id
    with c.uow() as uow:
        _cancel_jobs(uow, subject_id)
        if not _confirmation_queued(uow, subject_id):
            to = outbox.subject_email(uow, subject_id)
            if to is not None:
                # Sealed under its own master-wrapped key: it outlives the subject's key.
                outbox.queue_message(
                    uow,
                    subject_id=subject_id,
                    to=to,
                    kind=CONFIRMATION,
                    subject="Your MiniMaker data has been erased",
                    body=f"As you asked (request {work.request_id}), we erased your account, "
                    "photos, models and every other record of you. This is our last message.",
                )
        # Art. 19: everyone we disclosed the data to is told, before the log of it goes.
        recipients.notify_recipients(uow, subject_id=subject_id, what="erasure")
        _forget_login_failures(uow, subject_id)
        # The request's own details are sealed under the key about to go: drop them now so
        # that a retry of this job can still open the request.
        uow.session.execute(
            update(RightsRequest)
            .where(RightsRequest.id == work.request_id)
            .values(details_enc=None)
        )
        uow.audit(
            "subject:erasure:started",
            actor=_ACTOR,
            subject=subject_id,
            object=f"request:{work.request_id}",
            purpose="service",
        )
        uow.commit()


def _cancel_jobs(uow: UnitOfWork, subject_id: str) -> int:
    """Cancel the subject's unfinished work, but not request fulfilment (this job among them)."""
    # Other requests' fulfilment jobs stay: each settles its own request (a second erasure
    # completes; anything else fails visibly for the DPO instead of vanishing unanswered).
    result = uow.session.execute(
        update(Job)
        .where(
            Job.subject_id == subject_id,
            Job.status.in_([queue.QUEUED, queue.RUNNING]),
            Job.kind != "fulfil_request",
        )
        .values(
            status=queue.CANCELLED,
            finished_at=uow.c.clock.now(),
            locked_by=None,
            locked_until=None,
        )
    )
    return _rowcount(result)


def _confirmation_queued(uow: UnitOfWork, subject_id: str) -> bool:
    found = uow.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.subject_id == subject_id, OutboxMessage.kind == CONFIRMATION)
        .limit(1)
    )
    return found is not None


def _forget_login_failures(uow: UnitOfWork, subject_id: str) -> None:
    """Failed logins are keyed by a hash of the login name: pseudonymous data, erased too."""
    user = uow.session.get(User, subject_id)
    if user is None:
        return
    dek = uow.keys.subject_key(subject_id)
    index_key = uow.c.secret("blind_index")
    names = (
        rules.username_key(
            open_field(dek, subject_id=subject_id, field="username", sealed=user.username_enc)
        ),
        rules.email_key(
            open_field(dek, subject_id=subject_id, field="email", sealed=user.email_enc)
        ),
    )
    keys = [blind_index(index_key, field="throttle-account", value=n) for n in names]
    uow.session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))


def erase_rows(c: Container, *, subject_id: str, request_id: str | None = None) -> Erased:
    """Delete every row of the subject and, once that commits, every blob the rows named."""
    with c.uow() as uow:
        _lock_subject(uow, subject_id)
        blob_ids = _blob_ids(uow, subject_id)
        rows = _delete_rows(uow, subject_id)
        for blob_id in blob_ids:
            uow.delete_blob_after_commit(blob_id)
        uow.audit(
            "subject:erasure:completed" if request_id else "subject:erasure:replayed",
            actor=_ACTOR,
            subject=subject_id,  # the pseudonymous id only: the audit outlives the subject
            object=f"request:{request_id}" if request_id else None,
            purpose="service",
        )
        uow.commit()
    return Erased(rows=rows, blobs=len(blob_ids))


def _lock_subject(uow: UnitOfWork, subject_id: str) -> None:
    # On PostgreSQL, wait for writers that still hold the account or a model of it (an upload
    # committing, a generation storing its files), so the blob lookups below see their rows.
    # SQLite's single writer already serialises them (BEGIN IMMEDIATE).
    uow.session.execute(select(User.id).where(User.id == subject_id).with_for_update())
    uow.session.execute(select(Model3D.id).where(Model3D.owner_id == subject_id).with_for_update())


def _blob_ids(uow: UnitOfWork, subject_id: str) -> list[str]:
    """Every blob the subject's rows point at: photos, model files, archives."""
    queries: Sequence[Select[Any]] = (
        select(Upload.blob_id).where(Upload.owner_id == subject_id),
        select(ModelFile.blob_id).where(ModelFile.owner_id == subject_id),
        select(Archive.blob_id).where(Archive.subject_id == subject_id),
    )
    return [blob_id for q in queries for blob_id in uow.session.scalars(q)]


def _delete_rows(uow: UnitOfWork, subject_id: str) -> int:
    """Delete the subject's rows, children first; returns how many went."""
    s = uow.session
    requests = select(RightsRequest.id).where(RightsRequest.subject_id == subject_id)
    statements = (
        # Models before uploads, so that no SET NULL has to touch them on the way.
        delete(ModelFile).where(ModelFile.owner_id == subject_id),
        delete(Model3D).where(Model3D.owner_id == subject_id),
        delete(Upload).where(Upload.owner_id == subject_id),
        delete(Archive).where(Archive.subject_id == subject_id),
        delete(UsageEvent).where(UsageEvent.subject_id == subject_id),
        delete(Disclosure).where(Disclosure.subject_id == subject_id),
        delete(VerificationToken).where(VerificationToken.request_id.in_(requests)),
        # Delivered or abandoned mail. Unsent mail must still go out, and the confirmation
        # stays as the record that the subject was told (its content is wiped once sent).
        delete(OutboxMessage).where(
            OutboxMessage.subject_id == subject_id,
            OutboxMessage.status.not_in(_UNSENT),
            OutboxMessage.kind != CONFIRMATION,
        ),
        delete(Job).where(Job.subject_id == subject_id, ~_SETTLES_A_REQUEST),
        # Sessions and objections go with the account (ON DELETE CASCADE).
        delete(User).where(User.id == subject_id),
    )
    count = sum(_rowcount(s.execute(stmt)) for stmt in statements)
    # Each request row stays as the pseudonymous record that it was answered; its details
    # (sealed under the destroyed key) go. Unfinished fulfilment jobs (this one among them)
    # keep running to settle their requests, but no longer name the subject.
    s.execute(
        update(RightsRequest)
        .where(RightsRequest.subject_id == subject_id, RightsRequest.details_enc.is_not(None))
        .values(details_enc=None)
    )
    s.execute(update(Job).where(Job.subject_id == subject_id).values(subject_id=None))
    return count


#: Mail still on its way: kept, so the confirmation (queued before the key went) goes out.
_UNSENT = (outbox.PENDING, outbox.SENDING)
#: Jobs that survive an erasure: unfinished request fulfilment (the erasure's own job too).
_SETTLES_A_REQUEST = (Job.kind == "fulfil_request") & Job.status.in_([queue.QUEUED, queue.RUNNING])


def replay_ledger(c: Container) -> int:
    """Erase again every subject the ledger names who still has rows (after a restore)."""
    erased = c.keys.erased_subjects()
    todo = sorted(_with_rows(c, erased))
    for subject_id in todo:
        erase_rows(c, subject_id=subject_id)
    return len(todo)


def _with_rows(c: Container, subject_ids: Sequence[str]) -> set[str]:
    """Which of `subject_ids` still have rows that erasure deletes (indexed IN lookups)."""
    found: set[str] = set()
    with c.uow(write=False) as uow:
        for start in range(0, len(subject_ids), _CHUNK):
            chunk = subject_ids[start : start + _CHUNK]
            for query in _row_probes(chunk):
                found.update(uow.session.scalars(query))
    return found


def _row_probes(chunk: Iterable[str]) -> list[Select[Any]]:
    ids = list(chunk)

    def probe(column: Any, *where: Any) -> Select[Any]:
        return select(column).where(column.in_(ids), *where).distinct()

    return [
        probe(User.id),
        probe(AuthSession.user_id),
        probe(Objection.subject_id),
        probe(Upload.owner_id),
        probe(Model3D.owner_id),
        probe(ModelFile.owner_id),
        probe(Archive.subject_id),
        probe(UsageEvent.subject_id),
        probe(Disclosure.subject_id),
        probe(Job.subject_id),
        probe(
            OutboxMessage.subject_id,
            OutboxMessage.status.not_in(_UNSENT),
            OutboxMessage.kind != CONFIRMATION,
        ),
        probe(RightsRequest.subject_id, RightsRequest.details_enc.is_not(None)),
    ]


def _rowcount(result: Any) -> int:
    """Rows a DML statement touched (its result is a CursorResult)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
