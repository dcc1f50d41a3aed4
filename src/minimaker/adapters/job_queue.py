"""A durable job queue in the database: enqueue, claim (SKIP LOCKED), finish, retry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Engine, Index, Integer, String, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.ids import is_id


class Job(Base):
    """A durable unit of background work. Payloads carry ids only, never personal data."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)


QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
_ID_KEYS = {"model_id", "upload_id", "request_id", "subject_id"}


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, str],
    now: datetime,
    subject_id: str | None = None,
    max_attempts: int = 3,
) -> str:
    """Add a job in the caller's transaction. Payloads are ids only: never personal data."""
    if not set(payload) <= _ID_KEYS or not all(is_id(v) for v in payload.values()):
        raise ValueError("job payloads carry ids only")
    job_id = uuid.uuid4().hex
    session.add(
        Job(
            id=job_id,
            kind=kind,
            payload=payload,
            subject_id=subject_id,
            status=QUEUED,
            attempts=0,
            max_attempts=max_attempts,
            run_after=now,
            created_at=now,
        )
    )
    return job_id


def claim(
    engine: Engine,
    *,
    worker: str,
    now: datetime,
    lease_s: int,
    kinds: tuple[str, ...] | None = None,
) -> Job | None:
    """Take the oldest due job (of `kinds`), or a running one whose lease ran out."""
    claimable = or_(
        (Job.status == QUEUED) & (Job.run_after <= now),
        (Job.status == RUNNING) & (Job.locked_until < now),
    )
    if kinds is not None:
        # A worker takes only what it can run; other kinds wait for a worker that can.
        claimable = claimable & Job.kind.in_(kinds)
    # FOR UPDATE SKIP LOCKED on PostgreSQL lets many workers claim without waiting on each
    # other; SQLite ignores it, and its single writer makes the UPDATE atomic anyway.
    pick = (
        select(Job.id)
        .where(claimable)
        .order_by(Job.run_after)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Job)
        .where(Job.id == pick, claimable)
        .values(
            status=RUNNING,
            attempts=Job.attempts + 1,
            locked_by=worker,
            locked_until=now + timedelta(seconds=lease_s),
        )
        .returning(Job)
    )
    with Session(engine, expire_on_commit=False) as session:
        job = session.scalars(stmt).one_or_none()
        session.commit()
        return job


def finish(session: Session, job_id: str, *, now: datetime) -> None:
    """Mark a job done (in the caller's transaction, with the work it did)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=DONE, finished_at=now, locked_by=None, locked_until=None)
    )


def fail(engine: Engine, job: Job, *, reason: str, now: datetime, retry: bool) -> bool:
    """Record a failure; retry with exponential backoff while attempts remain. True if final."""
    final = not retry or job.attempts >= job.max_attempts
    backoff = timedelta(seconds=min(2**job.attempts * 5, 3600))
    values: dict[str, Any] = {
        "last_error": reason[:255],
        "locked_by": None,
        "locked_until": None,
        "status": FAILED if final else QUEUED,
    }
    if final:
        values["finished_at"] = now
    else:
        values["run_after"] = now + backoff
    with Session(engine) as session:
        session.execute(update(Job).where(Job.id == job.id).values(**values))
        session.commit()
    return final


def cancel_for_request(session: Session, request_id: str, *, now: datetime) -> int:
    """Cancel the unfinished fulfilment jobs of one request (it was rejected)."""
    result = session.execute(
        update(Job)
        .where(
            Job.kind == "fulfil_request",
            Job.payload["request_id"].as_string() == request_id,
            Job.status.in_([QUEUED, RUNNING]),
        )
        .values(status=CANCELLED, finished_at=now, locked_by=None, locked_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_kind_for_subject(session: Session, subject_id: str, *, kind: str, now: datetime) -> int:
    """Cancel a subject's queued jobs of one kind (a restriction stops new processing)."""
    result = session.execute(
        update(Job)
        .where(Job.subject_id == subject_id, Job.kind == kind, Job.status == QUEUED)
        .values(status=CANCELLED, finished_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_for_subject(session: Session, subject_id: str, *, now: datetime) -> int:
    """Cancel every unfinished job of a subject (erasure); running ones see it and stop."""
    result = session.execute(
        update(Job)
        .where(Job.subject_id == subject_id, Job.status.in_([QUEUED, RUNNING]))
        .values(status=CANCELLED, finished_at=now, locked_by=None, locked_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
