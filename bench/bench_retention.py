"""Cost of a retention sweep: expired usage events and photos, and whether it follows them.

Run: python bench/bench_retention.py [--events 2000000] [--expired-share 0.5] [--photos 10000]
     [--live-photos 10000] [--ratio-expired 10000] [--ratio-live 1000000] [--rounds 3]
     [--pg URL] [--no-sqlite] [--small] [--without-indexes]

What is measured, per backend, on containers built as `minimaker` builds them, by the engine
the periodic duty runs (`retention.service.run` over `bootstrap.expiries(corpus_offer())`,
the settings' batch size, each batch its own audited unit of work):
- sweep: --events usage events, --expired-share of them past the 90-day rule, the rest live;
  then --photos photos past the 30-day rule (each with its blob file) among --live-photos live
  ones. The photos' subjects objected to training, so each photo's offer to the corpus is
  asked and declines (bench_anonymise.py measures anonymisation); time, rows/s, and the peak
  resident memory of the sweep alone (VmHWM reset before it; ru_maxrss where that cannot be);
- ratio: the time per expired row of --ratio-expired expired events among --ratio-live live
  ones, over the same among as many live ones as expired (two fresh databases, alternating for
  --rounds rounds, best of each). The figure of merit (issue 10 item 4: "the cost must follow
  the expired rows, not the table"): target <= 1.5x; a sweep that scans the table is ~100x.
Rows are inserted with the raw driver (sqlite3 executemany, psycopg COPY), not the ORM.
--without-indexes drops the retention indexes of migration 0005 first: the cost before them.
SQLite runs on a temp file in WAL mode; PostgreSQL (--pg or MINIMAKER_TEST_DATABASE_URL) on
temp databases created for the run (ANALYZE after each load, as autovacuum would) and dropped.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_audit import container, pg_database
from machine import describe
from minimaker.adapters.blobs import new_blob_id
from minimaker.bootstrap import corpus_offer, expiries
from minimaker.generation.usage import day_start
from minimaker.kernel.container import Container
from minimaker.retention import service as retention

RATIO_TARGET = 1.5
EXPIRY_INDEXES = {"usage_events": "ix_usage_events_at_id", "uploads": "ix_uploads_created_at_id"}
SUBJECTS = 100
_EVENT_COLUMNS = "pseudonym, category, event, at"
#: Expired events spread over this many days past the cutoff, live ones over the 90 before it.
DAYS = 30
_UPLOAD_COLUMNS = (
    "id, owner_id, category, blob_id, media_type, size_bytes, width, height, created_at"
)
_USER_COLUMNS = (
    "id, category, username_bidx, email_bidx, username_enc, email_enc, name_enc, "
    "password_hash, created_at, updated_at"
)


@dataclass
class Sweep:
    rows: int
    seconds: float
    peak_mib: float
    growth_mib: float

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _stamp(c: Container, at: datetime) -> object:
    # UTCDateTime's storage: naive UTC text on SQLite, aware on PostgreSQL.
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if _is_sqlite(c) else at


def _is_sqlite(c: Container) -> bool:
    return bool(c.engine.dialect.name == "sqlite")


def insert(c: Container, table: str, columns: str, rows: Iterable[tuple[object, ...]]) -> None:
    """Bulk rows through the raw driver: executemany on SQLite, COPY on PostgreSQL."""
    with c.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        if _is_sqlite(c):
            marks = ", ".join("?" for _ in columns.split(","))
            cursor.execute("BEGIN")
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            cursor.execute("COMMIT")
        else:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            driver.commit()
            cursor.execute(f"ANALYZE {table}")
            driver.commit()
        cursor.close()


def add_subjects(c: Container) -> list[str]:
    """Accounts to own the rows, each objecting to training (the offer declines)."""
    ids = [uuid.uuid4().hex for _ in range(SUBJECTS)]
    now = _stamp(c, c.clock.now())
    users = ((i, "account", i, i[::-1], b"x", b"x", b"x", "-", now, now) for i in ids)
    insert(c, "users", _USER_COLUMNS, users)
    insert(c, "objections", "subject_id, purpose, since", ((i, "training", now) for i in ids))
    return ids


def add_events(c: Container, *, count: int, expired: bool) -> None:
    """`count` events as generation/usage.py stores them: a pseudonym, the day's midnight."""
    today = day_start(c.clock.now())
    first = timedelta(days=91 if expired else 0)
    days = [_stamp(c, today - first - timedelta(days=d)) for d in range(DAYS if expired else 89)]
    pseudonyms = [os.urandom(32).hex() for _ in range(SUBJECTS)]
    rows = (
        (pseudonyms[i % SUBJECTS], "usage_event", "model:generated", days[i % len(days)])
        for i in range(count)
    )
    insert(c, "usage_events", _EVENT_COLUMNS, rows)


def add_photos(c: Container, subjects: list[str], *, count: int, age: timedelta) -> list[str]:
    """`count` photo rows `age` old, each with a blob file (random bytes: nobody decrypts it)."""
    base, root = c.clock.now() - age, c.blobs.store.root
    rows = []
    for i in range(count):
        blob_id = new_blob_id()
        shard = Path(root) / blob_id[:2]
        shard.mkdir(mode=0o700, exist_ok=True)
        (shard / blob_id).write_bytes(os.urandom(256))
        at = _stamp(c, base - timedelta(microseconds=i))
        rows.append(
            (uuid.uuid4().hex, subjects[i % len(subjects)], "uploaded_image", blob_id,
             "image/jpeg", 256, 64, 64, at)
        )  # fmt: skip
    insert(c, "uploads", _UPLOAD_COLUMNS, rows)
    return [row[3] for row in rows]


def drop_indexes(c: Container) -> None:
    with c.engine.begin() as conn:
        for index in EXPIRY_INDEXES.values():
            conn.exec_driver_sql(f"DROP INDEX {index}")


def _status(field: str) -> float | None:
    """A /proc/self/status figure in MiB (Linux), None elsewhere."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(x.split()[1]) / 1024 for x in lines if x.startswith(field + ":")), None)


@contextmanager
def peak_memory() -> Iterator[list[float]]:
    """[peak resident MiB, its growth over the resident size before] of what runs inside.

    VmHWM is reset first where Linux allows, so setup's peak does not count; elsewhere the
    process's ru_maxrss (an upper bound)."""
    out: list[float] = []
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status("VmRSS")
    except OSError:
        before = None
    yield out
    peak = _status("VmHWM") if before is not None else None
    if peak is None or before is None:
        peak, before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0.0
    out += [peak, peak - before]


def sweep(c: Container, rule: str, expected: int) -> Sweep:
    """The engine on one rule, as the duty runs it; checks it removed exactly `expected`."""
    mechanics = expiries(corpus_offer())
    with peak_memory() as peak:
        started = time.perf_counter()
        report = retention.run(c, mechanics, rules=frozenset({rule}))
        seconds = time.perf_counter() - started
    removed = retention.counts(report)[rule]
    assert removed == expected, (rule, removed, expected)
    return Sweep(removed, seconds, *peak)


@contextmanager
def database(pg: str | None) -> Iterator[str | None]:
    if pg is None:
        yield None
    else:
        with pg_database(pg) as url:
            yield url


@contextmanager
def filled(url: str | None, args: argparse.Namespace) -> Iterator[tuple[Container, list[str]]]:
    with container(url) as c:
        if args.without_indexes:
            drop_indexes(c)
        yield c, add_subjects(c)


def main_sweeps(url: str | None, args: argparse.Namespace) -> dict[str, Sweep]:
    expired = int(args.events * args.expired_share)
    with filled(url, args) as (c, subjects):
        add_events(c, count=expired, expired=True)
        add_events(c, count=args.events - expired, expired=False)
        gone = add_photos(c, subjects, count=args.photos, age=timedelta(days=40))
        kept = add_photos(c, subjects, count=args.live_photos, age=timedelta(days=1))
        events = sweep(c, "usage_events", expired)
        photos = sweep(c, "photos", args.photos)
        store = c.blobs.store
        assert not any(map(store.exists, gone)) and all(map(store.exists, kept))
    return {"usage events": events, "photos": photos}


def ratio(pg: str | None, args: argparse.Namespace) -> tuple[float, float, float]:
    """(best s/row with many live rows, with few, their ratio) over alternating rounds."""
    n = args.ratio_expired
    with (
        database(pg) as big_url,
        database(pg) as small_url,
        filled(big_url, args) as (big, _),
        filled(small_url, args) as (small, _),
    ):
        add_events(big, count=args.ratio_live, expired=False)
        add_events(small, count=n, expired=False)
        best = {"big": float("inf"), "small": float("inf")}
        for _ in range(args.rounds):
            for name, c in (("big", big), ("small", small)):
                add_events(c, count=n, expired=True)
                best[name] = min(best[name], sweep(c, "usage_events", n).seconds / n)
    return best["big"], best["small"], best["big"] / best["small"]


def run_backend(name: str, pg: str | None, args: argparse.Namespace) -> None:
    with database(pg) as url:
        sweeps = main_sweeps(url, args)
    many, few, r = ratio(pg, args)
    ok = "ok" if r <= RATIO_TARGET else "MISS"
    for what, s in sweeps.items():
        print(
            f"{name:<11}{what:<14}{s.rows:>10,}{s.seconds:>9.2f}s{s.per_s:>12,.0f}"
            f"{s.peak_mib:>10.0f} MiB (+{s.growth_mib:.0f})"
        )
    print(
        f"{name:<11}ratio: {args.ratio_expired:,} expired among {args.ratio_live:,} live "
        f"{many * 1e6:.1f} us/row, among {args.ratio_expired:,} live {few * 1e6:.1f} us/row: "
        f"{r:.2f}x (target <= {RATIO_TARGET}x) {ok}",
        flush=True,
    )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="usage events in all")
    parser.add_argument("--expired-share", type=float, default=0.5)
    parser.add_argument("--photos", type=int, default=10_000, help="expired photos")
    parser.add_argument("--live-photos", type=int, default=10_000)
    parser.add_argument("--ratio-expired", type=int, default=10_000)
    parser.add_argument("--ratio-live", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("MINIMAKER_TEST_DATABASE_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--without-indexes", action="store_true", help="drop 0005's indexes")
    parser.add_argument("--small", action="store_true", help="a check that runs in seconds")
    args = parser.parse_args()
    if args.small:
        args.events, args.photos, args.live_photos = 20_000, 200, 200
        args.ratio_expired, args.ratio_live, args.rounds = 1_000, 50_000, 2
    return args


def main() -> None:
    args = arguments()
    print(describe())
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'backend':<11}{'rule':<14}{'removed':>10}{'time':>10}{'rows/s':>12}"
        f"{'peak RSS (+sweep)':>22}"
    )
    if not args.no_sqlite:
        run_backend("sqlite", None, args)
    if args.pg:
        run_backend("postgresql", args.pg, args)


if __name__ == "__main__":
    main()
