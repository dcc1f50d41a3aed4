"""The audit chain on SQLite and PostgreSQL: appends, concurrent writers and readers, privacy."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, String, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from minimaker.accounts import service as accounts
from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry, AuditHead
from minimaker.adapters.db import make_engine, make_sessionmaker
from minimaker.kernel.actors import SYSTEM_CLI, Actor
from minimaker.kernel.audit import FIELD_LIMITS, GENESIS_HASH, AuditEvent, AuditTag, entry_hash
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import InvalidCredentials
from minimaker.kernel.purposes import Purpose
from minimaker.rights import rectification
from tests.adapters.audit_helpers import (
    CHAIN_LENGTH,
    NOW,
    append_one_by_one,
    count_entries,
    entry,
    event,
    tamper,
)

# --- appending -----------------------------------------------------------------------------


def test_an_empty_database_verifies_as_an_empty_chain(engine: Engine) -> None:
    assert audit.verify(engine) == audit.VerifyReport(0, 0, GENESIS_HASH)


MADE = AuditTag("test", "entry", "made", Purpose.SERVICE)
DISCARDED = AuditTag("test", "entry", "discarded", Purpose.SERVICE)


def test_a_unit_of_work_refuses_a_typed_in_action_or_actor(container: Container) -> None:
    with container.uow() as uow, pytest.raises(TypeError, match="AuditTag and an Actor"):
        uow.audit("test:entry:made", actor=SYSTEM_CLI)  # type: ignore[arg-type]
    with container.uow() as uow, pytest.raises(TypeError, match="AuditTag and an Actor"):
        uow.audit(MADE, actor="system:cli")  # type: ignore[arg-type]


def test_the_chain_verifies_after_many_appends_through_the_unit_of_work(
    container: Container, clock: ManualClock
) -> None:
    for i in range(40):
        with container.uow() as uow:
            for j in range(i % 3 + 1):
                uow.audit(
                    MADE,
                    actor=Actor.subject(f"{i:032x}"),
                    subject=f"{i:032x}" if j else None,
                    object=None if i % 2 else f"upload:{j:032x}",
                )
            uow.commit()
        clock.advance(seconds=1)
    with container.uow() as uow:
        uow.audit(DISCARDED, actor=SYSTEM_CLI)
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


def sign_up_correct_and_sign_in(container: Container) -> str:
    """A subject's life so far: sign-up, a correction, a sign-in and two failed ones."""
    password = "correct horse battery staple"
    profile = accounts.signup(
        container,
        name="Ada Lovelace",
        email="ada.lovelace@example.org",
        username="countess_ada",
        password=password,
    )
    rectification.correct(
        container,
        user_id=profile.id,
        name="Augusta Ada King",
        email="augusta.king@example.org",
        username="augusta_k",
    )
    accounts.login(container, login="augusta_k", password=password, client_ip="203.0.113.77")
    for login in ("augusta.king@example.org", "nobody_here"):
        with pytest.raises(InvalidCredentials):
            accounts.login(container, login=login, password="wrong guess", client_ip="198.51.100.9")
    return profile.id


def test_the_audit_holds_no_name_email_username_or_address(container: Container) -> None:
    subject_id = sign_up_correct_and_sign_in(container)

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
    assert {row["subject"] for row in rows} == {subject_id, None}
    assert audit.verify(container.engine).entries == len(rows)
