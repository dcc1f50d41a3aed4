"""Art. 17 erasure: destroy the subject's key, then delete every row and blob of theirs.

The key goes first: every copy of the subject's data that we cannot reach by a query (backups,
replicas, a blob a crashed writer left behind) is ciphertext under that key, so destroying it
erases them all at once, and the key store's erasure ledger records whom to erase again should
an old backup ever bring rows back (`replay_ledger`, run at start-up and after a restore).

What goes, what is scrubbed and what stays, with its reason, is the personal-data registry's
(`c.personal_data`, each feature declaring its own tables): nothing here names a table of
another feature, so a table declared there is erased with no change here.

Every lookup below goes by an indexed subject or owner column, so the cost of an erasure
follows the subject's own data, not the size of the database (bench/bench_erasure.py); a
test runs EXPLAIN on every statement of an erasure and a replay (tests/rights/test_erasure.py).

An erasure completes only when all of it is done: the subject's blobs are deleted before the
rows that name them, in the rows' unit of work, so a crash or a blob that cannot be deleted
leaves the rows for the job's retry to find (ErasureIncomplete: retried until it succeeds), and
a last probe checks that nothing the registry erases is left before the request completes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Select, update
from sqlalchemy.schema import sort_tables

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job, WorkUnfinished
from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.container import Container
from minimaker.kernel.faults import crash_point
from minimaker.kernel.personal_data import PersonalTable
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import folder as mail_folder
from minimaker.mail import notices, outbox
from minimaker.retention import holds
from minimaker.rights import events, held, owned_rows, recipients
from minimaker.rights.fulfil import Deferred, Work
from minimaker.rights.tables import RightsRequest

#: The outbox kind of the message that tells the subject their data is gone.
CONFIRMATION = notices.ERASURE_CONFIRMATION
_ACTOR = SYSTEM_RIGHTS
_CHUNK = 500  # subject ids per IN (...) when the ledger is replayed
log = logging.getLogger("minimaker.rights")


@dataclass(frozen=True)
class Erased:
    """What one pass of row deletion removed (counts only: nothing personal)."""

    rows: int
    blobs: int


class ErasureIncomplete(WorkUnfinished):
    """Some of the subject's data is still there: the erasure stays open and is retried."""

    def __init__(self, what: str) -> None:
        super().__init__(f"erasure unfinished: {what}; it is retried")


def erase(c: Container, work: Work) -> str | None:
    """Fulfil an erasure request: stop work, tell, destroy the key, delete rows and blobs."""
    subject_id = work.subject_id
    if c.keys.has_subject_key(subject_id):
        # Art. 17(3)(b)/(e): a legal hold of any rule defers the whole erasure (the key it
        # would destroy is every datum's): the request waits, held, until the last hold goes.
        if _held_back(c, work):
            raise Deferred("erasure held by a legal hold")
        _stop_and_tell(c, work)
        # Art. 17(1): "without undue delay". The key goes first so that every copy we cannot
        # reach by a query (backups, replicas, stray blobs) becomes unreadable at the same
        # moment, and the ledger in the key store records it for replays after a restore.
        c.keys.destroy_subject_key(subject_id, now=c.clock.now())
        crash_point("erasure.key_destroyed")
    # A retry after a crash, or a second erasure request, finds the key gone: only the
    # (idempotent) deletion is left to do, and the request completes cleanly.
    erase_rows(c, subject_id=subject_id, request_id=work.request_id)
    # "Completed" is a promise that nothing is left: checked, not assumed.
    if _with_rows(c, [subject_id]):
        raise ErasureIncomplete("rows of the subject are still there")
    crash_point("erasure.before_completion")
    return None


def _held_back(c: Container, work: Work) -> bool:
    """Whether a legal hold stops this erasure; if so the request is held (rights/held.py)."""
    with c.uow() as uow:
        reason = holds.reason_held(uow, work.subject_id)
        if reason is None:
            return False
        held.hold_erasure(uow, work, reason)
        uow.commit()
    return True


def _confirmation(work: Work) -> str:
    """The last message: why the account was erased (the subject's request, or the policy's
    rule for unused accounts, of which they were warned), and what went."""
    why = f"As you asked (request {work.request_id})"
    if work.channel == "retention":
        why = (
            "Your account had not been used for as long as our data protection policy allows, "
            f"so, as it says and as we warned you (request {work.request_id})"
        )
    return (
        f"{why}, we erased your account, photos, models and every other record of you. "
        "This is our last message."
    )


def _stop_and_tell(c: Container, work: Work) -> None:
    """Steps taken while the key still exists: cancel work, queue the notices, drop hashes."""
    subject_id = work.subject_id
    with c.uow() as uow:
        _cancel_jobs(uow, subject_id)
        if not notices.is_queued(uow, subject_id=subject_id, kind=CONFIRMATION):
            to = outbox.subject_email(uow, subject_id)
            if to is not None:
                # Sealed under its own master-wrapped key: it outlives the subject's key.
                outbox.queue_message(
                    uow,
                    subject_id=subject_id,
                    to=to,
                    kind=CONFIRMATION,
                    subject="Your MiniMaker data has been erased",
                    body=_confirmation(work),
                )
        # Art. 19: everyone we disclosed the data to is told, before the log of it goes.
        recipients.notify_recipients(uow, subject_id=subject_id, what="erasure")
        # Rows found only through the subject's sealed data (failed-login counters keyed by
        # a hash of the login name) must go while the key can still open it.
        for forget in c.personal_data.forgetters():
            forget(uow, subject_id)
        # The request's own details are sealed under the key about to go: drop them now so
        # that a retry of this job can still open the request.
        uow.session.execute(
            update(RightsRequest)
            .where(RightsRequest.id == work.request_id)
            .values(details_enc=None)
        )
        uow.audit(
            events.ERASURE_STARTED,
            actor=_ACTOR,
            subject=subject_id,
            object=f"request:{work.request_id}",
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


def erase_rows(c: Container, *, subject_id: str, request_id: str | None = None) -> Erased:
    """Delete every blob the subject's rows name, then the rows; ErasureIncomplete (every row
    kept for the retry) if a blob could not be deleted. The key must be destroyed already."""
    with c.uow() as uow:
        _lock_subject(uow, subject_id)
        blob_ids = _blob_ids(uow, subject_id)
        # Blobs before rows, in the rows' unit: the rows are the only record of which blobs
        # are the subject's, so they go only once every blob has. A crash or a failed delete
        # leaves them for the retry; the key is gone, so meanwhile they disclose nothing.
        _delete_blobs(c, blob_ids)
        # Issue 8: their mail waiting in the outbox folder goes too (it is sealed under the
        # destroyed key already; the files are deleted all the same).
        mail_folder.remove_subject_files(uow, subject_id)
        rows = _delete_rows(uow, subject_id)
        uow.audit(
            events.ERASURE_COMPLETED if request_id else events.ERASURE_REPLAYED,
            actor=_ACTOR,
            subject=subject_id,  # the pseudonymous id only: the audit outlives the subject
            object=f"request:{request_id}" if request_id else None,
        )
        uow.commit()
    return Erased(rows=rows, blobs=len(blob_ids))


def _delete_blobs(c: Container, blob_ids: Sequence[str]) -> None:
    """Delete each blob (idempotently); ErasureIncomplete if any is still there."""
    failed = 0
    for blob_id in blob_ids:
        try:
            c.blobs.delete(blob_id)
        except Exception as exc:  # any store fault: try the rest, then keep the request open
            failed += 1
            log.warning("erasure: a blob could not be deleted (%s)", type(exc).__name__)
        crash_point("erasure.blob_deleted")
    if failed:
        raise ErasureIncomplete(f"{failed} of {len(blob_ids)} files could not be deleted yet")


def _lock_subject(uow: UnitOfWork, subject_id: str) -> None:
    # On PostgreSQL, wait for writers that still hold the account or a model of it (an upload
    # committing, a generation storing its files), so the blob lookups below see their rows.
    # SQLite's single writer already serialises them (BEGIN IMMEDIATE).
    for d in uow.c.personal_data.locked():
        uow.session.execute(owned_rows.lock(d, subject_id))


def _blob_ids(uow: UnitOfWork, subject_id: str) -> list[str]:
    """Every blob the subject's rows point at: photos, model files, archives."""
    queries = [
        q for d in uow.c.personal_data.with_blobs() for q in owned_rows.blob_ids(d, subject_id)
    ]
    return [blob_id for q in queries for blob_id in uow.session.scalars(q)]


def _delete_rows(uow: UnitOfWork, subject_id: str) -> int:
    """Delete the subject's rows, children first, then scrub the rows that stay; a count."""
    s = uow.session
    # Children before parents (models before uploads, so that no SET NULL touches them on
    # the way; sessions and objections before the account, relying on no cascade).
    # Unsent mail, the confirmation and unfinished request fulfilment stay, as declared.
    count = sum(
        _rowcount(s.execute(owned_rows.deletion(d, subject_id)))
        for d in _children_first(uow.c.personal_data.deleted())
    )
    # Each request row stays as the pseudonymous record that it was answered; its details
    # (sealed under the destroyed key) go. Unfinished fulfilment jobs (this one among them)
    # keep running to settle their requests, but no longer name the subject.
    for d in uow.c.personal_data.scrubbed():
        s.execute(owned_rows.scrubbing(d, subject_id))
    return count


def _children_first(tables: Sequence[PersonalTable]) -> list[PersonalTable]:
    """The declarations ordered so that a table comes before every table it references."""
    by_table = {d.table.__table__: d for d in tables}
    return [by_table[t] for t in reversed(sort_tables(list(by_table)))]


def replay_ledger(c: Container) -> int:
    """Erase again every subject the ledger names who still has rows (after a restore)."""
    erased = c.keys.erased_subjects()
    todo = sorted(_with_rows(c, erased))
    done = 0
    for subject_id in todo:
        try:
            erase_rows(c, subject_id=subject_id)
        except ErasureIncomplete:
            # The rows stay, so the next replay (or the request's retry) tries again; one
            # stuck blob must not keep every other subject's replay, or a start-up, waiting.
            continue
        done += 1
    return done


def _with_rows(c: Container, subject_ids: Sequence[str]) -> set[str]:
    """Which of `subject_ids` still have rows that erasure deletes (indexed IN lookups)."""
    found: set[str] = set()
    with c.uow(write=False) as uow:
        for start in range(0, len(subject_ids), _CHUNK):
            chunk = subject_ids[start : start + _CHUNK]
            for query in _row_probes(c, chunk):
                found.update(uow.session.scalars(query))
    return found


def _row_probes(c: Container, chunk: Sequence[str]) -> list[Select[Any]]:
    probes = (owned_rows.probe(d, chunk) for d in c.personal_data.personal)
    return [p for p in probes if p is not None]


def _rowcount(result: Any) -> int:
    """Rows a DML statement touched (its result is a CursorResult)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
