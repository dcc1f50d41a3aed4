"""Periodic duties once per schedule across the fleet (issue 13): before a worker's loop runs
a duty, it claims the duty's row here — free (no lease held) and due (its last start at least
an interval ago) — in one conditional UPDATE, which one worker wins however many try at once,
on SQLite and PostgreSQL alike. The lease ends when the run does; a worker killed mid-run
leaves it to expire, and the next worker after it runs the duty again (every duty is safe to
rerun: each claims its own rows, as jobs are claimed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, String, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class DutyLease(Base):
    """One periodic duty's schedule across every worker."""

    __tablename__ = "duty_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Held until this time by `holder` (None: free).
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def _ensure_row(conn: Connection, name: str) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(DutyLease).values(name=name).on_conflict_do_nothing())


def claim(
    engine: Engine, name: str, *, holder: str, now: datetime, every_s: float, lease_s: float
) -> bool:
    """Take the duty for one run if no one holds it and it last started `every_s` ago or
    more; True when this worker is to run it now."""
    with engine.begin() as conn:
        _ensure_row(conn, name)
        taken = conn.execute(
            update(DutyLease)
            .where(
                DutyLease.name == name,
                or_(DutyLease.leased_until.is_(None), DutyLease.leased_until <= now),
                or_(
                    DutyLease.last_started_at.is_(None),
                    DutyLease.last_started_at <= now - timedelta(seconds=every_s),
                ),
            )
            .values(
                leased_until=now + timedelta(seconds=lease_s), holder=holder, last_started_at=now
            )
        )
        return int(getattr(taken, "rowcount", 0)) == 1


def release(engine: Engine, name: str, *, holder: str, now: datetime) -> None:
    """The run ended: free the lease, if this worker still holds it."""
    with engine.begin() as conn:
        conn.execute(
            update(DutyLease)
            .where(DutyLease.name == name, DutyLease.holder == holder)
            .values(leased_until=None, holder=None, last_finished_at=now)
        )


def schedule(engine: Engine) -> dict[str, DutyLease]:
    """Every duty's row, by name (for operators and tests)."""
    with engine.connect() as conn:
        rows = conn.execute(select(DutyLease.__table__))
        return {r.name: DutyLease(**r._mapping) for r in rows}


def personal_data() -> list[Declaration]:
    """Not personal: duty names, worker names (host:pid:random) and times."""
    return [
        NotPersonal(DutyLease, reason="duty names, times and the worker (host:pid) holding one")
    ]
