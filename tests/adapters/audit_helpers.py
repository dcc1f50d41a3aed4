"""What the audit chain tests share: a chain's shape, its events, and ways to poke at it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.audit import GENESIS_HASH, AuditEvent, entry_hash
from minimaker.kernel.errors import AuditChainBroken

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CHAIN_LENGTH = 12
FULL, SPARSE = 7, 8  # entries with every field set, and with every optional field NULL


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


# --- Consistent rewrites: what a writer of the data database can do that the chain alone
# --- cannot see (issue 7, item 4). Each leaves a chain that links and hashes correctly.

Rewrite = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
FIELDS = ("seq", "ts", "actor", "action", "subject", "object", "purpose")


def rows_of(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq))
        return [dict(r._mapping) for r in rows]


def rehash(engine: Engine, transform: Rewrite, *, start_hash: str = GENESIS_HASH) -> None:
    """Replace the chain by `transform(rows)`, renumbered, relinked, rehashed; head moved."""
    kept = transform(rows_of(engine))
    prev, rebuilt = start_hash, []
    for seq, row in enumerate(kept, start=1):
        row = row | {"seq": seq, "prev_hash": prev}
        row["hash"] = prev = entry_hash(prev, *(row[f] for f in FIELDS))
        rebuilt.append(row)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        if rebuilt:
            conn.execute(AuditEntry.__table__.insert(), rebuilt)
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash"),
            {"seq": len(rebuilt), "hash": prev},
        )


def cut_tail(engine: Engine, keep: int) -> None:
    """1. The tail cut and the head moved back to match."""
    last = entry(engine, keep)["hash"]
    tamper(
        engine,
        "DELETE FROM audit_log WHERE seq > :keep",
        "UPDATE audit_head SET seq = :keep, hash = :hash",
        keep=keep,
        hash=last,
    )


def delete_everything(engine: Engine) -> None:
    """2. Every audit row and the head deleted."""
    tamper(engine, "DELETE FROM audit_log", "DELETE FROM audit_head")


def restart_from_genesis(engine: Engine, sessions: sessionmaker[Session], count: int) -> None:
    """3. The head reset and a new chain begun from genesis, entries stamped now."""
    tamper(
        engine, "DELETE FROM audit_log", "UPDATE audit_head SET seq = 0, hash = :g", g=GENESIS_HASH
    )
    later = datetime.now(UTC) + timedelta(days=1)
    for i in range(1, count + 1):
        with sessions() as session:
            audit.append(session, [event(100 + i)], now=later + timedelta(seconds=i))
            session.commit()


def remove_subject(engine: Engine, subject: str) -> None:
    """4. One subject's entries removed, the rest renumbered and rehashed consistently."""
    rehash(engine, lambda rows: [r for r in rows if r["subject"] != subject])


def rewrite_actors(engine: Engine) -> None:
    """5. Every actor rewritten, everything rehashed consistently."""
    rehash(engine, lambda rows: [r | {"actor": "system:nobody"} for r in rows])
