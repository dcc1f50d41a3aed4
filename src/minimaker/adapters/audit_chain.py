"""The append-only audit chain: appends inside the caller's transaction, and verification.

Plain SQL rather than the ORM: these two functions are the audit log's whole hot path
(bench/bench_audit.py), and the ORM's bulk insert split each batch into one statement per
pattern of NULL fields, i.e. nearly one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Index, Integer, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from minimaker.adapters.db import Base
from minimaker.kernel import audit as rules
from minimaker.kernel.audit import GENESIS_HASH, AuditEvent
from minimaker.kernel.errors import AuditChainBroken
from minimaker.kernel.personal_data import Declaration, NotPersonal

#: The condition of the staff entries' partial index; a query must say it word for word (as
#: text, not a bound parameter) for SQLite's and PostgreSQL's planners to use the index.
STAFF_ENTRIES = "actor LIKE 'staff:%'"


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log. Subjects by pseudonym only."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    ts: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    object: Mapped[str | None] = mapped_column(String(128), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(32), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # Breach scoping (breach/scope.py): whom a staff account touched in a time range, and whom
    # a window's entries name, each a range scan of a covering index (migration 0010). The
    # staff index is partial: an index led by the actor made every append 4x slower (bench
    # audit), one over staff entries only costs the appends almost nothing.
    __table_args__ = (
        Index(
            "ix_audit_log_staff_ts_subject",
            "actor",
            "ts",
            "subject",
            sqlite_where=text(STAFF_ENTRIES),
            postgresql_where=text(STAFF_ENTRIES),
        ),
        Index("ix_audit_log_ts_subject", "ts", "subject"),
    )


class AuditHead(Base):
    """The chain's head (one row). Appends lock it first, which serialises every writer."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


_HEAD_ID = 1
_COLUMNS = "seq, ts, actor, action, subject, object, purpose, prev_hash, hash"
_LOCK_HEAD = text("UPDATE audit_head SET seq = seq + :n WHERE id = :id RETURNING seq, hash")
_CREATE_HEAD = text(
    "INSERT INTO audit_head (id, seq, hash) VALUES (:id, 0, :hash) ON CONFLICT (id) DO NOTHING"
)
_SET_HEAD = text("UPDATE audit_head SET hash = :hash WHERE id = :id")
_READ_HEAD = text("SELECT seq, hash FROM audit_head WHERE id = :id")
_INSERT_QMARK = f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - constant columns
_INSERT_NAMED = text(
    f"INSERT INTO audit_log ({_COLUMNS}) VALUES "  # noqa: S608 - constant columns
    "(:seq, :ts, :actor, :action, :subject, :object, :purpose, :prev_hash, :hash)"
)
_COPY = f"COPY audit_log ({_COLUMNS}) FROM STDIN"
_HASH_AT = text("SELECT hash FROM audit_log WHERE seq = :seq")
_SELECT_ALL = f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq"  # noqa: S608 - constant columns


def append(session: Session, events: Sequence[AuditEvent], *, now: datetime) -> int:
    """Append events to the chain in the session's transaction; returns the last seq."""
    if not events:
        raise ValueError("nothing to append")
    if now.tzinfo is None:
        raise ValueError("naive datetime refused: pass an aware UTC datetime")
    ts = now.astimezone(UTC).isoformat(timespec="microseconds")
    # The caller's own rows go first, so the head lock below is held only for the audit rows
    # and the commit: the shortest wait for every other writer.
    session.flush()
    conn = session.connection()
    last_seq, prev = _lock_head(conn, len(events))
    rows = rules.chain(events, after_seq=last_seq - len(events), after_hash=prev, ts=ts)
    _insert(conn, rows)
    conn.execute(_SET_HEAD, {"hash": rows[-1][8], "id": _HEAD_ID})
    return last_seq


def _lock_head(conn: Connection, count: int) -> tuple[int, str]:
    # Writing the head first takes the write lock (SQLite) or the row lock (PostgreSQL)
    # before the head is read, so concurrent writers queue up instead of forking the chain.
    head = conn.execute(_LOCK_HEAD, {"n": count, "id": _HEAD_ID}).one_or_none()
    if head is None:
        # A fresh database, where several first appends may arrive at once. On PostgreSQL
        # they can all get here (an UPDATE of no row locks nothing): ON CONFLICT lets one
        # create the head while the others wait for its transaction, do nothing, then lock
        # the row it made, where a plain INSERT failed them. On SQLite the UPDATE above has
        # already taken the write lock, so they get here one at a time.
        conn.execute(_CREATE_HEAD, {"id": _HEAD_ID, "hash": GENESIS_HASH})
        head = conn.execute(_LOCK_HEAD, {"n": count, "id": _HEAD_ID}).one_or_none()
        if head is None:  # only under an isolation level whose snapshot predates the head
            raise RuntimeError("the audit head was created by a transaction this one cannot see")
    return int(head.seq), str(head.hash)


def _insert(conn: Connection, rows: list[rules.Row]) -> None:
    if conn.dialect.driver == "psycopg":
        # COPY is psycopg's fastest way in: about twice executemany's rate.
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    elif conn.dialect.paramstyle == "qmark":  # sqlite3: executemany of plain tuples
        conn.exec_driver_sql(_INSERT_QMARK, rows)
    else:
        names = _COLUMNS.split(", ")
        conn.execute(_INSERT_NAMED, [dict(zip(names, row, strict=True)) for row in rows])


@dataclass(frozen=True)
class VerifyReport:
    """What `audit verify` found: how many entries, and the head it ended on."""

    entries: int
    head_seq: int
    head_hash: str


@dataclass
class ChainWalk:
    """One walk of the whole chain: how far it held, and its hash at each size asked for."""

    entries: int = 0  # entries that link and hash correctly, from the first on
    last_hash: str = GENESIS_HASH
    head: tuple[int, str] | None = None  # the audit_head row, if there is one
    first_ts: str | None = None  # the first entry's time: a restarted chain is younger
    hash_at: dict[int, str] = field(default_factory=dict)
    broken: AuditChainBroken | None = None  # the first break, if any


def verify(
    engine: Engine, *, batch: int = 50_000, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Walk the whole chain; raise AuditChainBroken at the first edit, gap, insert or swap."""
    found = walk(engine, (), batch=batch, progress=progress)
    if found.broken is not None:
        raise found.broken
    return check_head(found)


def walk(
    engine: Engine,
    sizes: Iterable[int],
    *,
    batch: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> ChainWalk:
    """Check every entry's link and hash, noting the chain's hash at each of `sizes`."""
    if batch < 1:
        raise ValueError("batch must be at least 1")  # fetchmany(0) would read an empty log
    wanted = sorted({s for s in sizes if s > 0}, reverse=True)  # popped smallest first
    found = ChainWalk()
    with _snapshot(engine) as conn:
        head = conn.execute(_READ_HEAD, {"id": _HEAD_ID}).one_or_none()
        found.head = None if head is None else (int(head.seq), str(head.hash))
        for rows in _entries(conn, batch):
            if found.first_ts is None:
                found.first_ts = str(rows[0][1])
            try:
                end, last = rules.check_chain(
                    rows, after_seq=found.entries, after_hash=found.last_hash
                )
            except AuditChainBroken as exc:
                # The entries before the break still count: checkpoints within them are checked.
                found.broken, sound = exc, rows[: max(exc.seq - 1 - found.entries, 0)]
                _note_hashes(found, sound, wanted)
                if sound:
                    found.entries, found.last_hash = found.entries + len(sound), str(sound[-1][8])
                break
            _note_hashes(found, rows, wanted)
            found.entries, found.last_hash = end, last
            if progress is not None:
                progress(end)
    return found


def _note_hashes(found: ChainWalk, rows: Sequence[Any], wanted: list[int]) -> None:
    # Rows passed check_chain, so their seqs run on from found.entries + 1 without a gap.
    first = found.entries + 1
    while wanted and wanted[-1] < first + len(rows):
        size = wanted.pop()
        found.hash_at[size] = str(rows[size - first][8])


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for the head and every entry: appends go on while a live system is
            # verified, and under READ COMMITTED later batches would see entries past the head
            # read first, and report a sound chain as broken. (SQLite's transaction already is
            # one snapshot.)
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def head_now(engine: Engine, *, at: int | None) -> tuple[int, str, str | None]:
    """The head (seq, hash) and the stored hash of entry `at`, read in one snapshot."""
    with _snapshot(engine) as conn:
        head = conn.execute(_READ_HEAD, {"id": _HEAD_ID}).one_or_none()
        if head is None:
            seq, digest = 0, GENESIS_HASH
        else:
            seq, digest = int(head.seq), str(head.hash)
        if not at:
            return seq, digest, GENESIS_HASH if at == 0 else None
        stored = conn.execute(_HASH_AT, {"seq": at}).scalar_one_or_none()
    return seq, digest, None if stored is None else str(stored)


def _entries(conn: Connection, batch: int) -> Iterator[list[Any]]:
    # Straight from the driver's cursor in batches: plain tuples, memory flat over millions
    # of entries. psycopg needs a named (server-side) cursor not to load them all at once;
    # sqlite3 cursors step through the table lazily anyway.
    driver = conn.connection.driver_connection
    assert driver is not None
    named = {"name": "minimaker_audit_verify"} if conn.dialect.driver == "psycopg" else {}
    cursor = driver.cursor(**named)
    try:
        cursor.execute(_SELECT_ALL)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def check_head(found: ChainWalk) -> VerifyReport:
    """The report of a sound walk, if the head agrees with it; else AuditChainBroken."""
    last_seq, last_hash = found.entries, found.last_hash
    if found.head is None:
        if last_seq:
            raise AuditChainBroken(last_seq, "entries exist but the chain head is missing")
        return VerifyReport(0, 0, GENESIS_HASH)
    head_seq, head_hash = found.head
    if last_seq < head_seq:
        # Entries cut from the end leave the head pointing past the last one.
        raise AuditChainBroken(last_seq + 1, f"missing: the chain ends before its head {head_seq}")
    if last_seq > head_seq:
        # Only append() moves the head: entries beyond it were written some other way.
        raise AuditChainBroken(head_seq + 1, f"not covered by the chain head {head_seq}")
    if last_hash != head_hash:
        # The last entry was rewritten with a fresh hash, or the head itself was edited.
        raise AuditChainBroken(last_seq, "does not match the chain head's hash")
    return VerifyReport(last_seq, head_seq, last_hash)


def personal_data() -> tuple[Declaration, ...]:
    """The audit tables, declared not erased with a subject, with the reason."""
    return (
        NotPersonal(
            AuditEntry,
            reason="Art. 5(2) accountability: the append-only log names subjects by "
            "pseudonymous id only and outlives them; deleting an entry would break the chain",
        ),
    )
