"""Speed of the audit chain: batched appends, then `audit verify` against the raw driver's read.

Run: python bench/bench_audit.py [--entries 1000000] [--batch 5000] [--pg URL] [--rounds 3]

What is measured, in one run per backend, on one container built as `minimaker` builds it:
- append: `audit_chain.append(session, events, now=...)` with --batch events per transaction,
  from an empty chain to --entries entries, a signed checkpoint every --checkpoint-every
  entries (as the workers' periodic duty takes them); entries / wall time, commits included;
- single: --single one-event transactions on top (the cost one audited action adds);
- read: the raw driver alone reading the same rows (sqlite3 / psycopg cursor, the same
  SELECT, fetchmany, rows dropped): the ceiling on this machine, whatever hashing costs;
- verify: `operations.audit_check.verify_audit(c)`, what `minimaker audit verify` runs: every
  entry's link and hash, every checkpoint's signature in the key store and the file, each
  checkpoint held against the chain, then its own audit entry and checkpoint.
read and verify alternate for --rounds rounds and the best of each is kept, so a busy machine
slows both alike; the ratio verify/read is the figure of merit (target >= 0.5, issue 7 item 8).
SQLite runs on a temp file in WAL mode (as deployed); PostgreSQL (--pg or
MINIMAKER_TEST_DATABASE_URL) on a temp database created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from machine import describe
from minimaker.adapters import audit_chain as audit
from minimaker.adapters import migrate
from minimaker.adapters.checkpoints import Kind
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.bootstrap import build
from minimaker.kernel.audit import AuditEvent
from minimaker.kernel.container import Container
from minimaker.operations.audit_check import verify_audit
from minimaker.settings import Settings

RATIO_TARGET = 0.5
ACTIONS = ("upload:content:read", "model:generation:started", "account:session:created")
PURPOSES = ("service", "security", "training", None)
_COLUMNS = "seq, ts, actor, action, subject, object, purpose, prev_hash, hash"


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


@contextmanager
def container(database_url: str | None) -> Iterator[Container]:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=database_url, master_key=encode_key(generate_key())
        )
        c = build(settings)
        try:
            migrate.upgrade_all(c)
            yield c
        finally:
            c.close()


@contextmanager
def pg_database(url: str) -> Iterator[str]:
    admin_url = make_url(url)
    name = f"minimaker_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def raw_read(c: Container, batch: int = 50_000) -> int:
    """The driver alone: the same SELECT through a raw cursor, rows fetched and dropped."""
    with c.engine.connect() as conn, conn.begin():
        driver = conn.connection.driver_connection
        assert driver is not None
        named = {"name": "bench_read"} if c.engine.dialect.driver == "psycopg" else {}
        cursor = driver.cursor(**named)
        cursor.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
        count = 0
        while rows := cursor.fetchmany(batch):
            count += len(rows)
        cursor.close()
    return count


def fill(c: Container, *, entries: int, batch: int, every: int) -> tuple[float, int]:
    """Append `entries` in batches, a checkpoint each `every`; (seconds, checkpoints)."""
    events, start_ts = sample_events(batch), datetime(2025, 1, 1, tzinfo=UTC)
    done, taken, started = 0, 0, time.perf_counter()
    while done < entries:
        chunk = events[: min(batch, entries - done)]
        with c.sessions() as session:
            audit.append(session, chunk, now=start_ts + timedelta(milliseconds=done))
            session.commit()
        done += len(chunk)
        if done // every != (done - len(chunk)) // every:
            taken += c.checkpoint(Kind.PERIODIC) is not None
    return time.perf_counter() - started, taken


def singles(c: Container, count: int) -> float:
    one, start_ts = sample_events(1), datetime(2025, 2, 1, tzinfo=UTC)
    started = time.perf_counter()
    for i in range(count):
        with c.sessions() as session:
            audit.append(session, one, now=start_ts + timedelta(microseconds=i))
            session.commit()
    return time.perf_counter() - started


def read_and_verify(c: Container, rounds: int) -> tuple[float, float, int]:
    """Best read/s and verify/s over alternating rounds, and the entries verified."""
    best_read = best_verify = 0.0
    entries = 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = raw_read(c)
        best_read = max(best_read, count / (time.perf_counter() - started))
        started = time.perf_counter()
        verdict = verify_audit(c)
        elapsed = time.perf_counter() - started
        assert verdict.ok, verdict.findings
        entries = verdict.entries
        best_verify = max(best_verify, entries / elapsed)
    return best_read, best_verify, entries


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> dict[str, float]:
    with container(url) as c:
        append_s, taken = fill(c, entries=args.entries, batch=args.batch, every=args.every)
        single_s = singles(c, args.single) if args.single else 0.0
        read, verify, entries = read_and_verify(c, args.rounds)
    print(f"{name}: {entries:,} entries, {taken} checkpoints taken while appending")
    return {
        "append/s": args.entries / append_s,
        "single/s": args.single / single_s if single_s else 0.0,
        "read/s": read,
        "verify/s": verify,
        "ratio": verify / read,
    }


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print()
    print(describe())
    print(
        f"{args.entries:,} entries appended in batches of {args.batch:,}, a checkpoint every "
        f"{args.every:,}; {args.single:,} one-event transactions; best of {args.rounds} rounds"
    )
    print(
        f"{'backend':<12}{'append/s':>10}{'1-event tx/s':>14}{'raw read/s':>12}"
        f"{'verify/s':>10}{'verify/read':>13}  target"
    )
    for name, r in results.items():
        ok = "ok" if r["ratio"] >= RATIO_TARGET else "MISS"
        print(
            f"{name:<12}{r['append/s']:>10,.0f}{r['single/s']:>14,.0f}{r['read/s']:>12,.0f}"
            f"{r['verify/s']:>10,.0f}{r['ratio']:>12.2f}x  >= {RATIO_TARGET}x {ok}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000, help="events per transaction")
    parser.add_argument("--every", type=int, default=10_000, help="entries per checkpoint")
    parser.add_argument("--single", type=int, default=1_000, help="one-event transactions")
    parser.add_argument("--rounds", type=int, default=3, help="alternating read/verify rounds")
    parser.add_argument("--pg", default=os.environ.get("MINIMAKER_TEST_DATABASE_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    if not args.no_sqlite:
        results["sqlite"] = run_backend("sqlite", None, args)
    if args.pg:
        with pg_database(args.pg) as url:
            results["postgresql"] = run_backend("postgresql", url, args)
    report(results, args)


if __name__ == "__main__":
    main()
