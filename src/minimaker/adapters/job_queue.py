"""A durable job queue in the database: enqueue, claim (SKIP LOCKED), renew, finish, retry.

A claim is a short lease (settings.job_lease_s) that the worker renews from a heartbeat while
the handler runs, so a dead worker's job is claimed again within one lease. Every write that
ends a job's run is fenced by the lease: it changes the row only while the worker that ran it
still holds it, so work whose lease was lost (to a claim by another worker, or to a
cancellation) is never finished or retried twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    Index,
    Integer,
    String,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.errors import MiniMakerError
from minimaker.kernel.ids import is_id
from minimaker.kernel.personal_data import Declaration, PersonalTable


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

    __table_args__ = (
        Index("ix_jobs_claim", "status", "run_after"),
        # The retention rule for finished jobs walks this (its cost follows the expired rows).
        Index("ix_jobs_finished_at_id", "finished_at", "id"),
    )


QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
Leased = TypeVar("Leased", bound=Base)
_ID_KEYS = {"model_id", "upload_id", "request_id", "subject_id"}
#: The lease the running handler holds in this thread: (job id, worker name), see `holding`.
_held: ContextVar[tuple[str, str] | None] = ContextVar("minimaker_job_lease", default=None)


class LeaseLost(MiniMakerError):
    """The job was claimed by another worker, or cancelled, while this one ran it."""

    status = 409
    code = "lease_lost"

    def __init__(self) -> None:
        super().__init__("the job's lease was lost; its work is discarded")


class WorkUnfinished(MiniMakerError):
    """Part of the job's work could not be done yet: retried, however many attempts it takes.

    For work that must finish once begun (an erasure whose blobs are not all deleted): such an
    attempt does not count against the job's attempts, so it is never failed for good.
    """

    status = 503
    code = "work_unfinished"


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
    lease = {
        "status": RUNNING,
        "attempts": Job.attempts + 1,
        "locked_by": worker,
        "locked_until": now + timedelta(seconds=lease_s),
    }
    with Session(engine, expire_on_commit=False) as session:
        job = claim_oldest(session, Job, claimable=claimable, oldest=Job.run_after, lease=lease)
        session.commit()
        return job


def claim_oldest(
    session: Session,
    table: type[Leased],
    *,
    claimable: ColumnElement[bool],
    oldest: QueryableAttribute[Any],
    lease: Mapping[str, Any],
) -> Leased | None:
    """Lease the oldest claimable row of `table` to the caller; no two callers get one row.

    The one claim of every queue leased to workers (jobs here, the outbox's mail): `lease` is
    what taking a row writes (its taken status, one more attempt, the lease's end), in the
    caller's transaction; the row comes back as it now is, or None when nothing is claimable.
    """
    (key,) = inspect(table).primary_key
    # FOR UPDATE SKIP LOCKED on PostgreSQL lets many workers claim without waiting on each
    # other; SQLite ignores it, and its single writer makes the UPDATE atomic anyway. The
    # UPDATE checks `claimable` again: a row taken since the pick was read is not taken twice.
    pick = (
        select(key)
        .where(claimable)
        .order_by(oldest)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = update(table).where(key == pick, claimable).values(**lease).returning(table)
    return session.scalars(stmt).one_or_none()


@contextmanager
def holding(job: Job) -> Iterator[None]:
    """While the worker runs `job`'s handler: `finish(job.id)` in this thread is fenced."""
    # Handlers finish their job inside their own unit of work, by id; the fence comes from
    # here so that no handler can forget it.
    token = _held.set((job.id, str(job.locked_by)))
    try:
        yield
    finally:
        _held.reset(token)


def renew(engine: Engine, job: Job, *, now: datetime, lease_s: int) -> bool:
    """Extend the lease of a job this worker still holds (the heartbeat); False if lost."""
    with Session(engine) as session:
        result = session.execute(
            update(Job)
            .where(_still_held(job.id, str(job.locked_by)))
            .values(locked_until=now + timedelta(seconds=lease_s))
        )
        session.commit()
    return _rowcount(result) == 1


def finish(session: Session, job_id: str, *, now: datetime) -> None:
    """Mark a job done (in the caller's transaction, with the work it did).

    Called while a worker holds the job (`holding`), it is fenced: LeaseLost, and so the
    rollback of the caller's work, if another worker or a cancellation took the job since.
    """
    held = _held.get()
    fenced = held is not None and held[0] == job_id
    where = _still_held(*held) if fenced and held is not None else Job.id == job_id
    result = session.execute(
        update(Job)
        .where(where)
        .values(status=DONE, finished_at=now, locked_by=None, locked_until=None)
    )
    if fenced and _rowcount(result) != 1:
        raise LeaseLost()


def fail(
    engine: Engine,
    job: Job,
    *,
    reason: str,
    now: datetime,
    retry: bool,
    counted: bool = True,
) -> bool | None:
    """Record a failure; retry with exponential backoff while attempts remain. True if final.

    An attempt that is not `counted` (WorkUnfinished) is always retried. Fenced by the lease:
    None, and nothing written, if this worker no longer holds the job.
    """
    final = not retry or (counted and job.attempts >= job.max_attempts)
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
    if not counted:
        # Attempts still count up (so the backoff grows), the bound moves with them.
        values["max_attempts"] = Job.max_attempts + 1
    with Session(engine) as session:
        result = session.execute(
            update(Job).where(_still_held(job.id, str(job.locked_by))).values(**values)
        )
        session.commit()
    return final if _rowcount(result) == 1 else None


def _still_held(job_id: str, worker: str) -> ColumnElement[bool]:
    """The job is running under the lease `worker` took (whether or not it ran out)."""
    # A lease that ran out but was not taken by anyone is still ours to end: no other worker
    # has started the job again, so finishing it cannot do the work twice.
    return (Job.id == job_id) & (Job.status == RUNNING) & (Job.locked_by == worker)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


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


def _kept_on_erasure(t: type[Job]) -> ColumnElement[bool]:
    # Unfinished request fulfilment (the erasure's own job among them) settles its request.
    return (t.kind == "fulfil_request") & t.status.in_([QUEUED, RUNNING])


def personal_data() -> tuple[Declaration, ...]:
    """The job queue as the personal-data registry knows it (kernel/personal_data.py)."""
    return (
        PersonalTable(
            Job,
            category="account",  # ids only: the subject's, and of their photos and models
            owner="subject_id",
            survives=_kept_on_erasure,
            scrub=("subject_id",),
            reason="an unfinished request fulfilment must still settle its request (a second "
            "erasure completes; anything else fails visibly for the DPO); it keeps running but "
            "no longer names the subject",
            not_exported="background work on the subject's data, by ids only: the archive "
            "carries the data itself",
        ),
    )


def depth(engine: Engine) -> list[tuple[str, str, int]]:
    """(kind, status, how many) of every job in the queue, for the metrics (no ids)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
        )
        return [(str(kind), str(status), int(n)) for kind, status, n in rows]
