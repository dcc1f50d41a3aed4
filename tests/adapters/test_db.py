"""The database adapter: transactions begin as the unit of work asks, one-read connections
skip the transaction statements on SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from minimaker.adapters.db import WRITE_OPTION, make_engine, one_read


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.strip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_one_read_connection_on_sqlite_sends_only_its_select(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:  # warm the pool: connect-time pragmas are not counted
        conn.execute(text("SELECT 1"))
    seen = _statements(engine)
    with one_read(engine) as conn:
        assert conn.execute(text("SELECT 41 + 1")).scalar_one() == 42
    engine.dispose()
    assert seen == ["SELECT"]


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
