"""What the audit chain tests share: a chain's shape, its events, and ways to poke at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.audit import AuditEvent
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
