"""Speed of breach scoping: a compromised staff account over a 1M-entry audit chain.

Run: python bench/bench_scope.py [--entries 1000000] [--touched 1000] [--pg URL] [--rounds 5]

What is measured, in one run per backend, on one container built as `minimaker` builds it:
- the chain: --entries audit entries appended through `audit_chain.append` in batches of
  5,000 (the real hash chain), over 30 simulated days: subjects acting on their own data,
  the system's workers, and five staff accounts, each staff entry naming a subject; the
  account under scrutiny makes one entry in 200 and touches --touched distinct subjects;
- scope: `breach.scope.scope(c, [staff account exposure])` over the whole period - the
  indexed range scan of the audit (ix_audit_log_actor_ts_subject), then the registry's
  count of those subjects' rows per category (tables empty here but for the staff rows);
- raw: the same audit rows through the raw driver (sqlite3 / psycopg cursor, the same
  SELECT DISTINCT subject ... WHERE actor = ? AND ts >= ? AND actor LIKE 'staff:%'), nothing
  else: the baseline.
scope and raw alternate for --rounds rounds; the best of each is kept. Target (issue 11):
scope under 2 s. SQLite runs on a temp file in WAL mode; PostgreSQL (--pg or
MINIMAKER_TEST_DATABASE_URL) on a temp database created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench_audit import container, pg_database
from machine import describe
from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import STAFF_ENTRIES
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.scope import audit_ts, scope
from minimaker.kernel.audit import AuditEvent
from minimaker.kernel.container import Container
from minimaker.staff import service as staff

TARGET_S = 2.0
BATCH = 5_000
START = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD = timedelta(days=30)


def staff_ids(c: Container, n: int) -> list[str]:
    """`n` real staff accounts (the scoping checks that the account exists)."""
    return [
        staff.create_staff(
            c, by=None, username=f"bench{i}", password="bench password 1", role="support"
        ).id
        for i in range(n)
    ]


def events_for(batch: int, target: str, others: list[str], touched: list[str]) -> list[AuditEvent]:
    """One batch: 1 in 200 by the target account, 1 in 50 by other staff, the rest routine."""
    out = []
    for i in range(batch):
        subject = uuid.uuid4().hex
        if i % 200 == 0:
            actor, action = target, "staff:subject_data:read"
            subject = touched[(i // 200) % len(touched)]
        elif i % 50 == 0:
            actor, action = others[i % len(others)], "staff:subject_data:read"
        elif i % 7 == 0:
            actor, action = "system:worker", "model:generation:started"
        else:
            actor, action = f"subject:{subject}", "upload:content:read"
        out.append(AuditEvent(actor=actor, action=action, subject=subject, purpose="service"))
    return out


def fill(c: Container, entries: int, target: str, others: list[str], touched: int) -> float:
    subjects = [uuid.uuid4().hex for _ in range(touched)]
    done, started = 0, time.perf_counter()
    step = PERIOD / max(entries // BATCH, 1)
    while done < entries:
        n = min(BATCH, entries - done)
        # Rotating the touched list per batch spreads the target's reads over every subject.
        shift = (done // BATCH) * (BATCH // 200) % touched
        rolled = subjects[shift:] + subjects[:shift]
        with c.sessions() as session:
            chunk = events_for(n, target, others, rolled)
            audit.append(session, chunk, now=START + step * (done // BATCH))
            session.commit()
        done += n
    return time.perf_counter() - started


def raw(c: Container, actor: str) -> int:
    """The baseline: the same rows through the driver alone."""
    # The same query scoping makes, staff condition included (the partial index's own).
    sql = (
        "SELECT DISTINCT subject FROM audit_log WHERE actor = {p} AND ts >= {p}"
        " AND subject IS NOT NULL AND {staff}"
    )
    with c.engine.connect() as conn, conn.begin():
        driver = conn.connection.driver_connection
        assert driver is not None
        marker, staff = "?", STAFF_ENTRIES
        if c.engine.dialect.driver == "psycopg":  # its placeholders are %s: a literal % doubles
            marker, staff = "%s", STAFF_ENTRIES.replace("%", "%%")
        cursor = driver.cursor()
        cursor.execute(sql.format(p=marker, staff=staff), (actor, audit_ts(START)))
        count = len(cursor.fetchall())
        cursor.close()
    return count


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> dict[str, float]:
    with container(url) as c:
        target, *others = (f"staff:{s}" for s in staff_ids(c, 5))
        fill_s = fill(c, args.entries, target, others, args.touched)
        exposure = Exposure(ExposureKind.STAFF_ACCOUNT, start=START, ref=target.split(":")[1])
        best_scope = best_raw = float("inf")
        for _ in range(args.rounds):
            started = time.perf_counter()
            found = scope(c, [exposure])
            best_scope = min(best_scope, time.perf_counter() - started)
            started = time.perf_counter()
            baseline = raw(c, target)
            best_raw = min(best_raw, time.perf_counter() - started)
        assert found.subjects == baseline == args.touched, (found.subjects, baseline)
    print(f"{name}: {args.entries:,} entries appended in {fill_s:.0f} s")
    return {"scope": best_scope, "raw": best_raw, "subjects": float(found.subjects)}


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print()
    print(describe())
    print(
        f"a staff account scoped over {args.entries:,} audit entries "
        f"({args.touched:,} subjects touched); best of {args.rounds} rounds"
    )
    print(f"{'backend':<12}{'scope s':>9}{'raw s':>9}{'scope/raw':>11}  target")
    for name, r in results.items():
        ok = "ok" if r["scope"] < TARGET_S else "MISS"
        print(
            f"{name:<12}{r['scope']:>9.3f}{r['raw']:>9.3f}{r['scope'] / r['raw']:>10.1f}x"
            f"  < {TARGET_S:.0f} s {ok}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--touched", type=int, default=1_000, help="subjects the account read")
    parser.add_argument("--rounds", type=int, default=5)
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
