"""Speed of the audit chain: batched appends up to N entries, then `verify` over all of them.

Run: python bench/bench_audit.py [--entries 1000000] [--batch 5000] [--pg URL] [--profile]

What is measured, in one run per backend:
- append: `minimaker.adapters.audit_chain.append(session, events, now=...)` with --batch events per
  transaction (each its own session and commit), from an empty chain to --entries entries;
  the rate is entries / wall time, commits included;
- single: --single one-event transactions on top of the full chain (the everyday cost of one
  audited action; what UnitOfWork.commit adds to a service's transaction);
- verify: `minimaker.adapters.audit_chain.verify(engine)` over the whole chain, as `audit
  verify` runs it;
- read: the same SELECT through the same kind of driver cursor, rows fetched and dropped: the
  ceiling verify cannot pass on this backend and machine, whatever its hashing costs.
SQLite runs on a temp file in WAL mode (as deployed); PostgreSQL (--pg or
MINIMAKER_TEST_DATABASE_URL) on a temp database created for the run and dropped afterwards.
Targets: >= 100k appends/s batched, >= 400k verified entries/s.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from minimaker.adapters import audit_chain as audit
from minimaker.adapters import migrate
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.db import make_engine, make_sessionmaker
from minimaker.kernel.audit import AuditEvent

APPEND_TARGET = 100_000
VERIFY_TARGET = 400_000
ACTIONS = ("upload:content:read", "model:generation:started", "account:session:created")
PURPOSES = ("service", "security", "training", None)


def sample_events(n: int) -> list[AuditEvent]:
    """Events shaped like real ones: 32-hex pseudonymous ids, tags, an occasional None."""
    events = []
    for i in range(n):
        subject = uuid.uuid4().hex
        events.append(
            AuditEvent(
                actor=f"subject:{subject}" if i % 5 else "system:worker",
                action=ACTIONS[i % len(ACTIONS)],
                subject=subject,
                object=f"upload:{uuid.uuid4().hex}" if i % 3 else None,
                purpose=PURPOSES[i % len(PURPOSES)],
            )
        )
    return events


def machine(pg_engine: Engine | None) -> None:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    print(f"CPU         {model}; {os.cpu_count()} cores")
    print(f"Python      {platform.python_version()} ({sys.executable})")
    print(f"SQLAlchemy  {sqlalchemy.__version__}")
    print(f"SQLite      {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)")
    if pg_engine is not None:
        with pg_engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        print(f"PostgreSQL  {version} (psycopg {psycopg.__version__})")


@contextmanager
def sqlite_database() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'audit.db'}")
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def pg_database(url: str) -> Iterator[Engine]:
    admin_url = make_url(url)
    name = f"minimaker_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def timed(action: Callable[[], object], profile: bool, label: str) -> float:
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    action()
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - start
    if profiler is not None:
        print(f"--- profile: {label} ---")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return elapsed


def read_all(engine: Engine, batch: int) -> int:
    """Fetch every entry as verify does (driver cursor, fetchmany), and drop it."""
    columns = "seq, ts, actor, action, subject, object, purpose, prev_hash, hash"
    with engine.connect() as conn, conn.begin():
        driver = conn.connection.driver_connection
        assert driver is not None
        named = {"name": "bench_read"} if engine.dialect.driver == "psycopg" else {}
        cursor = driver.cursor(**named)
        cursor.execute(f"SELECT {columns} FROM audit_log ORDER BY seq")
        count = 0
        while rows := cursor.fetchmany(batch):
            count += len(rows)
        cursor.close()
    return count


def run_backend(
    name: str, engine: Engine, *, entries: int, batch: int, single: int, profile: bool
) -> dict[str, float]:
    sessions = make_sessionmaker(engine)
    events = sample_events(batch)
    start_ts = datetime(2025, 1, 1, tzinfo=UTC)

    def append_all() -> None:
        done = 0
        while done < entries:
            chunk = events[: min(batch, entries - done)]
            with sessions() as session:
                audit.append(session, chunk, now=start_ts + timedelta(milliseconds=done))
                session.commit()
            done += len(chunk)

    def append_single() -> None:
        one = events[:1]
        for i in range(single):
            with sessions() as session:
                audit.append(session, one, now=start_ts + timedelta(days=1, microseconds=i))
                session.commit()

    append_s = timed(append_all, profile, f"{name} append")
    single_s = timed(append_single, profile, f"{name} single") if single else 0.0
    total = entries + single
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    assert stored == total, f"{stored} entries stored, expected {total}"
    read_s = timed(lambda: read_all(engine, 50_000), False, f"{name} read")
    reports: list[audit.VerifyReport] = []
    verify_s = timed(lambda: reports.append(audit.verify(engine)), profile, f"{name} verify")
    assert reports[0].entries == total
    return {
        "append/s": entries / append_s,
        "append_s": append_s,
        "single/s": single / single_s if single else 0.0,
        "read/s": total / read_s,
        "verify/s": total / verify_s,
        "verify_s": verify_s,
    }


def report(results: dict[str, dict[str, float]], entries: int, batch: int, single: int) -> None:
    print()
    print(
        f"{entries:,} entries appended in batches of {batch:,} per transaction; "
        f"then {single:,} one-event transactions; then read and verify all"
    )
    print(
        f"{'backend':<24}{'append/s':>10}{'(time)':>9}{'1-event tx/s':>14}"
        f"{'read/s':>11}{'verify/s':>11}{'(time)':>8}  targets"
    )
    for name, r in results.items():
        ok_append = "ok" if r["append/s"] >= APPEND_TARGET else "MISS"
        ok_verify = "ok" if r["verify/s"] >= VERIFY_TARGET else "MISS"
        print(
            f"{name:<24}{r['append/s']:>10,.0f}{r['append_s']:>8.1f}s{r['single/s']:>14,.0f}"
            f"{r['read/s']:>11,.0f}{r['verify/s']:>11,.0f}{r['verify_s']:>7.1f}s"
            f"  append {ok_append}, verify {ok_verify}"
        )
    print(f"targets: append >= {APPEND_TARGET:,}/s, verify >= {VERIFY_TARGET:,}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000, help="events per transaction")
    parser.add_argument("--single", type=int, default=2_000, help="one-event transactions")
    parser.add_argument("--pg", default=os.environ.get("MINIMAKER_TEST_DATABASE_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--profile", action="store_true", help="cProfile each phase")
    args = parser.parse_args()

    pg_admin = create_engine(args.pg) if args.pg else None
    machine(pg_admin)
    if pg_admin is not None:
        pg_admin.dispose()
    kwargs = {
        "entries": args.entries,
        "batch": args.batch,
        "single": args.single,
        "profile": args.profile,
    }
    results: dict[str, dict[str, float]] = {}
    if not args.no_sqlite:
        with sqlite_database() as engine:
            results["sqlite"] = run_backend("sqlite", engine, **kwargs)
    if args.pg:
        with pg_database(args.pg) as engine:
            results["postgresql"] = run_backend("postgresql", engine, **kwargs)
    report(results, args.entries, args.batch, args.single)


if __name__ == "__main__":
    main()
