"""Engine construction: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, String, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

#: Execution option a write transaction sets on its connection (see _sqlite_on_begin).
WRITE_OPTION = "minimaker_write"


ID = String(32)  # uuid4 hex: random, so ids reveal nothing about their subject or order


class Base(DeclarativeBase):
    """Declarative base of every table."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned in UTC, aware, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_on_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # A deferred BEGIN that reads and then writes fails at once with SQLITE_BUSY if another
    # process committed in between (WAL cannot upgrade a stale snapshot; the busy timeout
    # does not apply). Units of work that will write ask for BEGIN IMMEDIATE, which takes
    # the write lock up front and waits its turn; readers stay deferred and concurrent.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


@contextmanager
def exclusive_transaction(engine: Engine, lock: int) -> Iterator[Connection]:
    """A transaction no other process's `exclusive_transaction(…, lock)` runs beside: on
    PostgreSQL a transaction-scoped advisory lock numbered `lock`, on SQLite the write lock
    (BEGIN IMMEDIATE). Several processes starting on one fresh database migrate it in turn:
    the first applies the revisions, the others then find it at head."""
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
        yield conn


def _create_private(path: str | None) -> None:
    # SQLite gives its -wal and -shm files the database file's mode: create it 0600 first,
    # so no file holding (encrypted) personal data is readable by other local users.
    if path and path != ":memory:" and not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, configured for this project's needs on its dialect."""
    if url.startswith("sqlite"):
        _create_private(make_url(url).database)
        # As many pooled connections as the thread pool has threads (anyio's 40): with fewer,
        # every request past the fifth opened a new connection and ran its pragmas again.
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 40)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    # Enough pooled connections for the requests one process serves at once: past the pool,
    # each request opened (and closed) a connection of its own, a TCP and auth handshake.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 16)
        kwargs.setdefault("max_overflow", 24)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _note_checkin)  # new: as good as just pinged
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _idle_pinger(engine.dialect))
    return engine


#: A pooled connection unused for this long is pinged before use (the server may have
#: restarted or dropped it); one in steady use is not: a ping is a round trip as dear as the
#: query it guards (pool_pre_ping pinged every checkout: half the round trips of GET /me).
IDLE_PING_S = 5.0


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _idle_pinger(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    def ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get("checked_in_at")
        if last is not None and time.monotonic() - last < IDLE_PING_S:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's
            # documented pessimistic disconnect handling, on our own schedule).
            raise DisconnectionError("pooled connection is gone") from exc

    return ping_if_idle


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def insert_unless_present(session: Session, table: type[Base], **values: Any) -> None:
    """INSERT one row unless one with its key exists (committed or not): ON CONFLICT DO
    NOTHING in the dialect of the session, so two requests at once never collide on the key
    (PostgreSQL waits for the first to commit; SQLite's single writer already serialised them)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing())
