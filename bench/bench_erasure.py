"""Cost of an erasure: it must follow the subject's own data, not the size of the database.

Run: python bench/bench_erasure.py [--photos 1000] [--models 1000] [--small 10000]
                                   [--large 1000000] [--pg URL] [--no-sqlite]

What is measured, per backend, in one run:
- the same subject (signed up for real; --photos photos and --models models, each model with
  its three files; every photo and file a small real encrypted blob) is erased by the real
  fulfiller `minimaker.rights.erasure.erase` (key destruction, confirmation, every row and
  blob), once among --small rows of other subjects' data and once among --large rows;
- other subjects' rows (users, sessions, uploads, models, model files, usage events, jobs,
  requests: 50 rows per subject) are inserted in bulk with SQLAlchemy Core executemany, then
  ANALYZE runs, as it would have on a live database;
- reported: both erasure times, the part spent deleting blob files (fsync per file: the same
  work in both runs), and the ratio large/small. Target: ratio <= 1.5.
This benchmark is why models(upload_id) is indexed: without it, every deleted photo's
ON DELETE SET NULL scanned `models`, and the 1M-row erasure took 7-85x the 10k one.
SQLite runs on temp files in WAL mode (as deployed); PostgreSQL (--pg) on a temp database
created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).parent))

from machine import describe
from minimaker.accounts import service as accounts
from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters import keystore, migrate
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.adapters.db import make_engine
from minimaker.adapters.job_queue import Job
from minimaker.bootstrap import build
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.container import Container
from minimaker.rights import erasure, intake
from minimaker.rights.fulfil import Work
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import RightsRequest
from minimaker.settings import Settings
from minimaker.uploads.tables import Upload

TARGET_RATIO = 1.5
ROWS_PER_OTHER = 50  # 1 user, 1 session, 10 uploads, 10 models, 20 files, 5 events, 2 jobs, 1 req
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def hex_id() -> str:
    return os.urandom(16).hex()


def other_subject_rows(subject: str) -> dict[Any, list[dict[str, Any]]]:
    """One other subject's 50 rows, shaped like real ones (ciphertext is random bytes)."""
    at = NOW - timedelta(days=30)
    uploads = [
        {"id": hex_id(), "owner_id": subject, "category": "uploaded_image", "blob_id": hex_id(),
         "media_type": "image/jpeg", "size_bytes": 200_000, "width": 800, "height": 600,
         "created_at": at}
        for _ in range(10)
    ]  # fmt: skip
    models = [
        {"id": hex_id(), "owner_id": subject, "upload_id": u["id"], "category": "generated_model",
         "status": "done", "params": {"max_resolution": 256}, "created_at": at, "finished_at": at}
        for u in uploads
    ]  # fmt: skip
    return {
        User: [{
            "id": subject, "category": "account", "username_bidx": os.urandom(32).hex(),
            "email_bidx": os.urandom(32).hex(), "username_enc": os.urandom(48),
            "email_enc": os.urandom(56), "name_enc": os.urandom(52),
            "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$bench", "created_at": at,
            "updated_at": at,
        }],
        AuthSession: [{"id": hex_id(), "user_id": subject, "created_at": at, "expires_at": NOW}],
        Upload: uploads,
        Model3D: models,
        ModelFile: [
            {"model_id": m["id"], "format": fmt, "owner_id": subject, "blob_id": hex_id(),
             "size_bytes": 100_000}
            for m in models for fmt in ("stl", "glb")
        ],
        UsageEvent: [
            {"subject_id": subject, "category": "usage_event", "event": "model.generated",
             "at": at}
            for _ in range(5)
        ],
        Job: [
            {"id": hex_id(), "kind": "generate_model", "payload": {"model_id": m["id"]},
             "subject_id": subject, "status": "done", "attempts": 1, "max_attempts": 3,
             "run_after": at, "created_at": at, "finished_at": at}
            for m in models[:2]
        ],
        RightsRequest: [{
            "id": hex_id(), "subject_id": subject, "type": "access", "status": "completed",
            "channel": "app", "received_at": at, "due_at": NOW, "original_due_at": NOW,
            "extended_months": 0, "paused_seconds": 0, "completed_at": at,
        }],
    }  # fmt: skip


def fill_others(engine: Engine, rows: int) -> None:
    """`rows` rows of other subjects' data, in bulk (Core executemany), parents first."""
    subjects = max(rows // ROWS_PER_OTHER, 1)
    order = [User, AuthSession, Upload, Model3D, ModelFile, UsageEvent, Job, RightsRequest]
    for start in range(0, subjects, 1000):
        batch: dict[Any, list[dict[str, Any]]] = {model: [] for model in order}
        for _ in range(min(1000, subjects - start)):
            for model, found in other_subject_rows(uuid.uuid4().hex).items():
                batch[model].extend(found)
        with engine.begin() as conn:
            for model in order:
                conn.execute(insert(model.__table__), batch[model])  # type: ignore[attr-defined]


def make_target(c: Container, photos: int, models: int) -> str:
    """The subject to erase: a real account; photos, models and files with real blobs."""
    user = accounts.signup(
        c, name="Bench Subject", email="bench@example.org", username="benchsubject",
        password="correct horse battery staple",
    )  # fmt: skip
    dek = c.keys.subject_key(user.id)
    small = b"\x00" * 64

    def blob() -> str:
        return c.blobs.put(dek, io.BytesIO(small)).blob_id

    uploads = [
        {"id": hex_id(), "owner_id": user.id, "category": "uploaded_image", "blob_id": blob(),
         "media_type": "image/jpeg", "size_bytes": 64, "width": 8, "height": 8,
         "created_at": NOW}
        for _ in range(photos)
    ]  # fmt: skip
    made = [
        {"id": hex_id(), "owner_id": user.id, "upload_id": uploads[i % photos]["id"],
         "category": "generated_model", "status": "done", "params": {}, "created_at": NOW,
         "finished_at": NOW}
        for i in range(models)
    ]  # fmt: skip
    files = [
        {"model_id": m["id"], "format": fmt, "owner_id": user.id, "blob_id": blob(),
         "size_bytes": 64}
        for m in made for fmt in ("stl", "glb", "obj")
    ]  # fmt: skip
    with c.engine.begin() as conn:
        for model, rows in ((Upload, uploads), (Model3D, made), (ModelFile, files)):
            conn.execute(insert(model.__table__), rows)  # type: ignore[attr-defined]
    return user.id


@contextmanager
def environment(pg: str | None) -> Iterator[Container]:
    """A fresh, migrated data database and key store, and a container over them."""
    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as tmp:
        data_dir = Path(tmp) / "data"
        admin, name = None, ""
        if pg:
            admin = create_engine(make_url(pg), isolation_level="AUTOCOMMIT")
            name = f"minimaker_bench_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(pg).set(database=name).render_as_string(hide_password=False)
            key_url = url
        else:
            data_dir.mkdir(mode=0o700)
            url = f"sqlite:///{data_dir / 'minimaker.db'}"
            key_url = f"sqlite:///{data_dir / 'keys.db'}"
        for target, upgrade in ((url, migrate.upgrade), (key_url, keystore.upgrade)):
            engine = make_engine(target)
            upgrade(engine)
            engine.dispose()
        settings = Settings(
            data_dir=data_dir, database_url=url, keystore_url=key_url,
            master_key=encode_key(generate_key()), embedded_worker=False,
        )  # fmt: skip
        c = build(settings)
        try:
            yield c
        finally:
            c.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def one_run(args: argparse.Namespace, pg: str | None, others: int) -> dict[str, float]:
    """Erase the target among `others` rows of other subjects; times in seconds."""
    with environment(pg) as c:
        start = time.perf_counter()
        fill_others(c.engine, others)
        subject = make_target(c, args.photos, args.models)
        with c.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        setup = time.perf_counter() - start
        request = intake.submit(c, user_id=subject, type="erasure")
        work = Work(request.id, subject, RequestType.ERASURE, {})
        blob_seconds = [0.0]
        delete_blob = c.blobs.delete

        def timed_delete(blob_id: str) -> bool:
            t0 = time.perf_counter()
            try:
                return delete_blob(blob_id)
            finally:
                blob_seconds[0] += time.perf_counter() - t0

        c.blobs.delete = timed_delete  # type: ignore[method-assign]
        start = time.perf_counter()
        erasure.erase(c, work)
        total = time.perf_counter() - start
        check(c, subject)
        return {"setup": setup, "total": total, "blobs": blob_seconds[0]}


def check(c: Container, subject: str) -> None:
    """The erasure really happened: no rows, no blobs, no key."""
    with c.engine.connect() as conn:
        for column in (Upload.owner_id, Model3D.owner_id, ModelFile.owner_id, User.id):
            left = conn.scalar(select(func.count()).where(column == subject))
            assert left == 0, f"{column} still has rows"
    assert not any(True for _ in c.blobs.store.iter_ids()), "blobs left behind"
    assert not c.keys.has_subject_key(subject)


def run_backend(args: argparse.Namespace, label: str, pg: str | None) -> bool:
    small = one_run(args, pg, args.small)
    large = one_run(args, pg, args.large)
    ratio = large["total"] / small["total"]
    print(f"\n{label}; subject: {args.photos} photos, {args.models} models, "
          f"{args.photos + 3 * args.models} blobs")  # fmt: skip
    for name, r in (
        (f"{args.small:>9,} other rows", small),
        (f"{args.large:>9,} other rows", large),
    ):
        print(
            f"  {name}: erasure {r['total']:7.3f} s  (blob files {r['blobs']:6.3f} s, "
            f"database {r['total'] - r['blobs']:7.3f} s)   [setup {r['setup']:6.1f} s]"
        )
    db_ratio = (large["total"] - large["blobs"]) / max(small["total"] - small["blobs"], 1e-9)
    ok = ratio <= TARGET_RATIO
    print(f"  ratio large/small: {ratio:.2f} (database part {db_ratio:.2f}); "
          f"target <= {TARGET_RATIO}: {'OK' if ok else 'MISSED'}")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10_000, help="other subjects' rows")
    parser.add_argument("--large", type=int, default=1_000_000, help="other subjects' rows")
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL (a temp DB is made)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    print(describe())
    ok = True
    if not args.no_sqlite:
        ok &= run_backend(args, "SQLite", None)
    if args.pg:
        with create_engine(make_url(args.pg)).connect() as conn:
            version = conn.scalar(text("SHOW server_version"))
        ok &= run_backend(args, f"PostgreSQL {version}", args.pg)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
