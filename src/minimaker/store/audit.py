"""The append-only audit chain: appends inside the caller's transaction, and verification."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.orm import Session

from minimaker.domain.audit import GENESIS_HASH, AuditEvent, entry_hash
from minimaker.domain.errors import AuditChainBroken
from minimaker.store.models import AuditEntry, AuditHead

_HEAD_ID = 1


def append(session: Session, events: Sequence[AuditEvent], *, now: datetime) -> int:
    """Append events to the chain in the session's transaction; returns the last seq."""
    if not events:
        raise ValueError("nothing to append")
    # Writing the head first takes the write lock (SQLite) or the row lock (PostgreSQL)
    # before the head is read, so concurrent writers queue up instead of forking the chain.
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == _HEAD_ID)
        .values(seq=AuditHead.seq + len(events))
        .returning(AuditHead.seq, AuditHead.hash)
    ).one_or_none()
    if head is None:
        _create_head(session)
        return append(session, events, now=now)
    last_seq, prev = head.seq, head.hash
    seq = last_seq - len(events)
    ts = now.isoformat(timespec="microseconds")
    rows = []
    for event in events:
        seq += 1
        digest = entry_hash(
            prev, seq, ts, event.actor, event.action, event.subject, event.object, event.purpose
        )
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "actor": event.actor,
                "action": event.action,
                "subject": event.subject,
                "object": event.object,
                "purpose": event.purpose,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(hash=prev))
    return seq


def _create_head(session: Session) -> None:
    # Only the very first append of a fresh database gets here; a concurrent first append
    # fails on the primary key and its transaction is retried by the caller's error path.
    session.execute(insert(AuditHead).values(id=_HEAD_ID, seq=0, hash=GENESIS_HASH))


@dataclass(frozen=True)
class VerifyReport:
    """What `audit verify` found: how many entries, and the head it ended on."""

    entries: int
    head_seq: int
    head_hash: str


def verify(
    engine: Engine, *, batch: int = 50_000, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Walk the whole chain; raise AuditChainBroken at the first edit, gap, insert or swap."""
    with engine.connect() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash)).one_or_none()
        expected_seq, prev = 0, GENESIS_HASH
        for rows in _batches(conn, batch):
            for seq, ts, actor, action, subject, obj, purpose, prev_hash, digest in rows:
                expected_seq += 1
                if seq != expected_seq:
                    raise AuditChainBroken(expected_seq, f"missing or reordered (found {seq})")
                if prev_hash != prev:
                    raise AuditChainBroken(seq, "does not link to the previous entry")
                if entry_hash(prev, seq, ts, actor, action, subject, obj, purpose) != digest:
                    raise AuditChainBroken(seq, "contents do not match its hash")
                prev = digest
            if progress is not None:
                progress(expected_seq)
    if head is None:
        if expected_seq:
            raise AuditChainBroken(expected_seq, "entries exist but the chain head is missing")
        return VerifyReport(0, 0, GENESIS_HASH)
    if head.seq != expected_seq or head.hash != prev:
        # Entries cut from the end leave the head pointing past them.
        raise AuditChainBroken(expected_seq + 1, f"chain ends before its head (seq {head.seq})")
    return VerifyReport(expected_seq, expected_seq, prev)


def _batches(conn: Connection, batch: int) -> Iterable[Sequence[tuple]]:  # type: ignore[type-arg]
    # Keyset pagination on seq keeps memory flat and each query cheap over millions of rows.
    cols = "seq, ts, actor, action, subject, object, purpose, prev_hash, hash"
    query = text(f"SELECT {cols} FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :n")  # noqa: S608 - constant columns
    after = 0
    while True:
        rows = conn.execute(query, {"after": after, "n": batch}).all()
        if not rows:
            return
        yield [tuple(r) for r in rows]
        after = rows[-1][0]
