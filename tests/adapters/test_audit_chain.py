"""The audit chain on real SQLite and PostgreSQL: appends, tampering, concurrency, privacy."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, String, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from minimaker.accounts import service as accounts
from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry, AuditHead
from minimaker.adapters.db import make_engine, make_sessionmaker
from minimaker.kernel.audit import FIELD_LIMITS, GENESIS_HASH, AuditEvent, entry_hash
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import AuditChainBroken, InvalidCredentials

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CHAIN_LENGTH = 12
FULL, SPARSE = 7, 8  # entries with every field set, and with every optional field NULL


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


def event(i: int, *, sparse: bool = False) -> AuditEvent:
    if sparse:
        return AuditEvent("system:test", "test:entry:made")
    return AuditEvent(
        actor=f"staff:{i:04d}",
        action="upload:content:read",
        subject=f"{i:032x}",
        object=f"upload:{i:032x}",
        purpose="service",
    )


def append_one_by_one(sessions: sessionmaker[Session], count: int) -> None:
    for i in range(1, count + 1):
        with sessions() as session:
            audit.append(session, [event(i, sparse=i == SPARSE)], now=NOW + timedelta(seconds=i))
            session.commit()


@pytest.fixture
def chained(engine: Engine, sessions: sessionmaker[Session]) -> Engine:
    """A sound chain of CHAIN_LENGTH entries, one transaction each."""
    append_one_by_one(sessions, CHAIN_LENGTH)
    assert audit.verify(engine).entries == CHAIN_LENGTH
    return engine


def tamper(engine: Engine, *statements: str, **params: Any) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def entry(engine: Engine, seq: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(AuditEntry.__table__).where(AuditEntry.seq == seq)).one()
    return dict(row._mapping)


def broken_at(engine: Engine) -> AuditChainBroken:
    with pytest.raises(AuditChainBroken) as info:
        audit.verify(engine, batch=5)  # small batches: breaks across batch boundaries count too
    return info.value


def count_entries(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        n, low, high = conn.execute(
            select(func.count(), func.min(AuditEntry.seq), func.max(AuditEntry.seq))
        ).one()
    return n, low or 0, high or 0


# --- appending -----------------------------------------------------------------------------


def test_an_empty_database_verifies_as_an_empty_chain(engine: Engine) -> None:
    assert audit.verify(engine) == audit.VerifyReport(0, 0, GENESIS_HASH)


def test_the_chain_verifies_after_many_appends_through_the_unit_of_work(
    container: Container, clock: ManualClock
) -> None:
    for i in range(40):
        with container.uow() as uow:
            for j in range(i % 3 + 1):
                uow.audit(
                    "test:entry:made",
                    actor=f"subject:{i:032x}",
                    subject=f"{i:032x}" if j else None,
                    object=None if i % 2 else f"upload:{j:032x}",
                    purpose="service",
                )
            uow.commit()
        clock.advance(seconds=1)
    with container.uow() as uow:
        uow.audit("test:entry:discarded", actor="system:test")
        # Not committed: rolled back with the unit, so it never joins the chain.
    report = audit.verify(container.engine, batch=7)
    expected = sum(i % 3 + 1 for i in range(40))
    assert report.entries == report.head_seq == expected
    assert count_entries(container.engine) == (expected, 1, expected)


def test_the_chain_verifies_after_many_batched_appends(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    total = 0
    for size in (1, 500, 3, 1000, 2, 250, 1):
        with sessions() as session:
            batch = [event(total + i, sparse=i % 4 == 0) for i in range(size)]
            assert audit.append(session, batch, now=NOW) == total + size
            session.commit()
        total += size
    seen: list[int] = []
    report = audit.verify(engine, batch=300, progress=seen.append)
    assert report.entries == total == seen[-1]
    assert seen == sorted(seen)
    assert count_entries(engine) == (total, 1, total)


def test_a_rolled_back_append_leaves_no_trace(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    append_one_by_one(sessions, 3)
    with sessions() as session:
        audit.append(session, [event(99)] * 5, now=NOW)
        session.rollback()
    append_one_by_one(sessions, 2)
    assert audit.verify(engine).entries == 5
    assert count_entries(engine) == (5, 1, 5)


def test_append_stores_the_time_in_utc_and_links_to_the_previous_entry(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    cet = timezone(timedelta(hours=1))
    with sessions() as session:
        audit.append(session, [event(1), event(2, sparse=True)], now=NOW.astimezone(cet))
        session.commit()
    first, second = entry(engine, 1), entry(engine, 2)
    assert first["ts"] == second["ts"] == "2025-03-01T12:00:00.000000+00:00"
    assert first["prev_hash"] == GENESIS_HASH
    assert second["prev_hash"] == first["hash"]
    assert second["subject"] is None and second["object"] is None and second["purpose"] is None
    fields = ("seq", "ts", "actor", "action", "subject", "object", "purpose")
    assert second["hash"] == entry_hash(second["prev_hash"], *(second[f] for f in fields))


def test_append_refuses_an_empty_batch_and_a_naive_time(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(ValueError, match="nothing to append"):
            audit.append(session, [], now=NOW)
        with pytest.raises(ValueError, match="naive"):
            audit.append(session, [event(1)], now=datetime(2025, 1, 1))


def test_verify_refuses_a_batch_that_would_read_nothing(chained: Engine) -> None:
    with pytest.raises(ValueError, match="batch"):
        audit.verify(chained, batch=0)
    assert audit.verify(chained, batch=1).entries == CHAIN_LENGTH


def test_the_event_width_limits_match_the_audit_columns() -> None:
    for name, limit in FIELD_LIMITS.items():
        column_type = AuditEntry.__table__.c[name].type
        assert isinstance(column_type, String)
        assert column_type.length == limit, name


def test_values_at_the_column_widths_are_stored_and_verified(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    widest = AuditEvent(**{name: "é" * limit for name, limit in FIELD_LIMITS.items()})
    with sessions() as session:
        audit.append(session, [widest], now=NOW)
        session.commit()
    assert audit.verify(engine).entries == 1


# --- tampering -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["actor", "action", "subject", "object", "purpose", "ts"])
def test_an_edited_field_is_detected_at_its_entry(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = :value WHERE seq = :seq", value="x", seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "contents do not match its hash")


@pytest.mark.parametrize("field", ["subject", "object", "purpose"])
def test_a_null_field_set_to_the_empty_string_is_detected(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = '' WHERE seq = :seq", seq=SPARSE)
    assert broken_at(chained).seq == SPARSE


@pytest.mark.parametrize("field", ["subject", "object", "purpose"])
def test_a_field_set_to_null_is_detected(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = NULL WHERE seq = :seq", seq=FULL)
    assert broken_at(chained).seq == FULL


def test_an_edited_hash_is_detected_at_its_entry(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET hash = :h WHERE seq = :seq", h="f" * 64, seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "contents do not match its hash")


def test_an_edited_link_is_detected_at_its_entry(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET prev_hash = :h WHERE seq = :seq", h="f" * 64, seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "does not link to the previous entry")


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_link_of_the_next(chained: Engine) -> None:
    forged = entry(chained, FULL) | {"actor": "staff:9999"}
    fields = ("seq", "ts", "actor", "action", "subject", "object", "purpose")
    forged_hash = entry_hash(forged["prev_hash"], *(forged[f] for f in fields))
    tamper(
        chained,
        "UPDATE audit_log SET actor = 'staff:9999', hash = :h WHERE seq = :seq",
        h=forged_hash,
        seq=FULL,
    )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL + 1, "does not link to the previous entry")


@pytest.mark.parametrize("victim", [1, FULL], ids=["first", "middle"])
def test_a_deleted_entry_is_detected_at_its_seq(chained: Engine, victim: int) -> None:
    tamper(chained, "DELETE FROM audit_log WHERE seq = :seq", seq=victim)
    broken = broken_at(chained)
    assert broken.seq == victim
    assert "missing" in broken.reason


def test_a_deleted_last_entry_leaves_the_head_pointing_past_the_chain(chained: Engine) -> None:
    tamper(chained, "DELETE FROM audit_log WHERE seq = :seq", seq=CHAIN_LENGTH)
    broken = broken_at(chained)
    assert broken.seq == CHAIN_LENGTH
    assert "ends before its head" in broken.reason


def test_deleting_every_entry_is_detected(chained: Engine) -> None:
    tamper(chained, "DELETE FROM audit_log")
    assert broken_at(chained).seq == 1


def test_an_edited_or_deleted_head_is_detected(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_head SET hash = :h", h="e" * 64)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (CHAIN_LENGTH, "does not match the chain head's hash")
    tamper(chained, "DELETE FROM audit_head")
    assert "head is missing" in broken_at(chained).reason


def insert_entry(engine: Engine, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    tamper(engine, f"INSERT INTO audit_log ({columns}) VALUES ({values})", **row)


def forge(prev_hash: str, seq: int) -> dict[str, Any]:
    """An entry that links to prev_hash and carries its own correct hash."""
    row = {
        "seq": seq,
        "ts": NOW.isoformat(timespec="microseconds"),
        "actor": "staff:0666",
        "action": "upload:content:read",
        "subject": "f" * 32,
        "object": None,
        "purpose": "service",
        "prev_hash": prev_hash,
    }
    fields = ("seq", "ts", "actor", "action", "subject", "object", "purpose")
    return row | {"hash": entry_hash(prev_hash, *(row[f] for f in fields))}


def test_a_forged_entry_inserted_in_the_middle_breaks_the_chain_right_after_it(
    chained: Engine,
) -> None:
    # To make room at FULL, the attacker renumbers FULL.. up by one (through negatives, so no
    # seq collides midway), inserts a forgery that links to FULL - 1 and hashes correctly,
    # and relinks the displaced entry to it (its old link is now the forgery's).
    # The forgery itself is indistinguishable; the displaced entry's hash covers its old seq
    # and link, so the break shows at FULL + 1.
    before = entry(chained, FULL - 1)
    forged = forge(before["hash"], FULL)
    tamper(
        chained,
        "UPDATE audit_log SET seq = -seq WHERE seq >= :seq",
        "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
        "UPDATE audit_log SET prev_hash = :forged WHERE seq = :next",
        seq=FULL,
        next=FULL + 1,
        forged=forged["hash"],
    )
    insert_entry(chained, forged)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL + 1, "contents do not match its hash")


def test_a_forged_entry_appended_without_moving_the_head_is_detected(chained: Engine) -> None:
    insert_entry(chained, forge(entry(chained, CHAIN_LENGTH)["hash"], CHAIN_LENGTH + 1))
    broken = broken_at(chained)
    assert broken.seq == CHAIN_LENGTH + 1
    assert "not covered by the chain head" in broken.reason


@pytest.mark.parametrize(("low", "high"), [(5, 9), (5, 6)], ids=["apart", "adjacent"])
def test_two_entries_swapped_in_place_are_detected_at_the_first(
    chained: Engine, low: int, high: int
) -> None:
    a, b = entry(chained, low), entry(chained, high)
    columns = [c for c in a if c != "seq"]
    assign = ", ".join(f"{c} = :{c}" for c in columns)
    tamper(chained, "UPDATE audit_log SET prev_hash = 'parked' WHERE seq = :seq", seq=low)
    for target, source in ((high, a), (low, b)):
        values = {c: source[c] for c in columns}
        tamper(
            chained, f"UPDATE audit_log SET {assign} WHERE seq = :target", target=target, **values
        )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (low, "does not link to the previous entry")


def test_two_entries_with_their_seq_swapped_are_detected_at_the_first(chained: Engine) -> None:
    tamper(
        chained,
        "UPDATE audit_log SET seq = -1 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = -1",
    )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (5, "does not link to the previous entry")


def test_an_entry_moved_to_the_end_is_detected_where_it_went_missing(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET seq = :end WHERE seq = 3", end=CHAIN_LENGTH + 1)
    broken = broken_at(chained)
    assert broken.seq == 3
    assert "missing or out of order" in broken.reason


def test_a_field_rewritten_as_another_type_is_reported_not_crashed(chained: Engine) -> None:
    if chained.dialect.name != "sqlite":
        pytest.skip("only SQLite stores a blob in a text column")
    tamper(chained, "UPDATE audit_log SET subject = X'616461' WHERE seq = :seq", seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "a field holds a value of the wrong type")


# --- reading while others write ------------------------------------------------------------


def test_verify_reads_one_snapshot_while_appends_go_on(
    chained: Engine, sessions: sessionmaker[Session]
) -> None:
    appended: list[int] = []

    def append_meanwhile(_done: int) -> None:
        if not appended:  # after the first batch: head and cursor are both already read
            with sessions() as session:
                appended.append(audit.append(session, [event(0)] * 3, now=NOW))
                session.commit()

    report = audit.verify(chained, batch=4, progress=append_meanwhile)
    assert report.entries == CHAIN_LENGTH
    assert appended == [CHAIN_LENGTH + 3]
    assert audit.verify(chained).entries == CHAIN_LENGTH + 3


# --- many processes at once ----------------------------------------------------------------


def _append_from_a_process(url: str, worker: int, count: int, batch: int) -> int:
    """Child process: its own engine, `count` appends of `batch` events, one tx each."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        for i in range(count):
            with sessions() as session:
                events = [
                    AuditEvent(f"system:worker{worker}", "test:entry:made", object=f"n:{i}:{j}")
                    for j in range(batch)
                ]
                audit.append(session, events, now=datetime.now(UTC))
                session.commit()
        return count * batch
    finally:
        engine.dispose()


def _race_first_appends(url: str, worker: int, barrier: Any, rounds: int) -> list[str]:
    """Child process: each round, append the moment the parent has emptied log and head."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    errors = []
    try:
        with engine.connect() as conn:  # connect before the race, not during it
            conn.execute(text("SELECT 1"))
        for _ in range(rounds):
            barrier.wait(timeout=120)  # go
            try:
                with sessions() as session:
                    one = [AuditEvent(f"system:worker{worker}", "test:entry:made")]
                    audit.append(session, one, now=datetime.now(UTC))
                    session.commit()
            except Exception as exc:  # reported to the parent, which fails the test
                errors.append(repr(exc))
            barrier.wait(timeout=120)  # done: the parent checks the round
        return errors
    finally:
        engine.dispose()


@pytest.fixture
def spawn() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


def test_appends_from_many_processes_at_once_never_fork_the_chain(
    database_url: str, engine: Engine, spawn: multiprocessing.context.SpawnContext
) -> None:
    workers, per_worker = 4, 50
    # Starts from an empty head, so the first appends also race to create it.
    with spawn.Pool(workers) as pool:
        results = [
            pool.apply_async(_append_from_a_process, (database_url, w, per_worker, 1))
            for w in range(workers)
        ]
        assert [r.get(timeout=300) for r in results] == [per_worker] * workers
    report = audit.verify(engine)
    assert report.entries == workers * per_worker
    assert count_entries(engine) == (workers * per_worker, 1, workers * per_worker)
    with engine.connect() as conn:
        per_actor = dict(
            conn.execute(select(AuditEntry.actor, func.count()).group_by(AuditEntry.actor)).all()
        )
    assert per_actor == {f"system:worker{w}": per_worker for w in range(workers)}


def test_batched_appends_from_many_processes_interleave_whole_batches(
    database_url: str, engine: Engine, spawn: multiprocessing.context.SpawnContext
) -> None:
    workers, per_worker, batch = 3, 10, 25
    with spawn.Pool(workers) as pool:
        results = [
            pool.apply_async(_append_from_a_process, (database_url, w, per_worker, batch))
            for w in range(workers)
        ]
        assert sum(r.get(timeout=300) for r in results) == workers * per_worker * batch
    assert audit.verify(engine).entries == workers * per_worker * batch
    with engine.connect() as conn:
        actors = conn.execute(select(AuditEntry.actor).order_by(AuditEntry.seq)).scalars().all()
    # Each transaction's events sit together: a batch is never split by another writer's.
    runs = [actors[i : i + batch] for i in range(0, len(actors), batch)]
    assert all(len(set(run)) == 1 for run in runs)


def test_concurrent_first_appends_on_an_empty_head_all_succeed(
    database_url: str, engine: Engine, spawn: multiprocessing.context.SpawnContext
) -> None:
    # Every round starts with no head row, and every process appends at the same moment:
    # each must find or create the one head, none may fail or fork the chain.
    workers, rounds = 4, 6
    with spawn.Manager() as manager, spawn.Pool(workers) as pool:
        barrier = manager.Barrier(workers + 1)
        results = [
            pool.apply_async(_race_first_appends, (database_url, w, barrier, rounds))
            for w in range(workers)
        ]
        for _ in range(rounds):
            tamper(engine, "DELETE FROM audit_log", "DELETE FROM audit_head")
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            assert count_entries(engine) == (workers, 1, workers)
            assert audit.verify(engine).entries == workers
        assert [r.get(timeout=60) for r in results] == [[]] * workers


# --- nothing personal ----------------------------------------------------------------------


def test_the_audit_holds_no_name_email_username_or_address(container: Container) -> None:
    secrets = {
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.org",
        "username": "countess_ada",
        "password": "correct horse battery staple",
    }
    profile = accounts.signup(container, **secrets)
    accounts.correct_profile(
        container,
        user_id=profile.id,
        name="Augusta Ada King",
        email="augusta.king@example.org",
        username="augusta_k",
    )
    accounts.login(
        container, login="augusta_k", password=secrets["password"], client_ip="203.0.113.77"
    )
    for login in ("augusta.king@example.org", "nobody_here"):
        with pytest.raises(InvalidCredentials):
            accounts.login(container, login=login, password="wrong guess", client_ip="198.51.100.9")

    with container.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(AuditEntry.__table__))]
        head = conn.execute(select(AuditHead.__table__)).all()
    assert [row["action"] for row in rows] == [
        "account:subject:created",
        "account:profile:corrected",
        "account:session:created",
        "account:login:failed",
        "account:login:failed",
    ]
    # Not "Ada" alone: a, d and a are hex digits, and ids and hashes are hex.
    personal = [
        "Lovelace", "ada.lovelace", "countess", "Augusta", "King", "augusta",
        "example.org", "nobody_here", "203.0.113", "198.51.100", "horse", "wrong guess",
    ]  # fmt: skip
    stored = [str(value) for row in rows for value in row.values()] + [str(h) for h in head]
    leaks = [
        (word, value) for word in personal for value in stored if word.lower() in value.lower()
    ]
    assert leaks == []
    # The subject appears by pseudonymous id only.
    assert {row["subject"] for row in rows} == {profile.id, None}
    assert audit.verify(container.engine).entries == len(rows)
