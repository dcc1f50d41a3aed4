"""The database adapter: transactions begin as the unit of work asks, idle pooled connections
are pinged and busy ones are not (the hot reads: tests/adapters/test_driver_read.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from minimaker.adapters import db
from minimaker.adapters.db import WRITE_OPTION, make_engine


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.strip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_ordinary_reads_and_writes_still_begin_a_transaction_on_sqlite(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("psycopg begins its own transactions; only SQLite's BEGIN is ours to send")
    engine = make_engine(database_url)
    seen = _statements(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert seen.count("BEGIN") == 2


def _postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's transactions and pooled network connections")


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(database_url: str, pid: int) -> None:
    admin = make_engine(database_url, poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    admin.dispose()


def test_an_idle_pooled_connection_the_server_dropped_is_replaced_unseen(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres_only(database_url)
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every checkout counts as idle
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    first = _backend_pid(engine)
    _kill(database_url, first)
    assert _backend_pid(engine) != first  # pinged, found gone, replaced: no error
    engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the trade: within IDLE_PING_S no ping guards the checkout, so a
    # connection killed just now fails its next statement (and the pool then replaces it).
    _postgres_only(database_url)
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    first = _backend_pid(engine)
    _kill(database_url, first)
    with pytest.raises(DBAPIError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first
    engine.dispose()
