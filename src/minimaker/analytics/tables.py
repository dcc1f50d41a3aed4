"""The record of each publication of a day's usage aggregates: its privacy cost and shape.

A row names a day, counts and the noise declared; never an event, a pseudonym or a subject.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class Publication(Base):
    """One publication (or attempt) of a day's aggregates; its epsilon counts on the budget."""

    __tablename__ = "analytics_publications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date())
    #: 1, 2, ... per day: two processes reserving the same slot collide on the constraint,
    #: so a day's budget is checked and spent by one of them at a time.
    seq: Mapped[int] = mapped_column(Integer)
    epsilon: Mapped[float] = mapped_column(Float())
    people_scale: Mapped[float] = mapped_column(Float())
    events_scale: Mapped[float] = mapped_column(Float())
    mechanism: Mapped[str] = mapped_column(String(40))
    k: Mapped[int] = mapped_column(Integer)
    cap: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Whether the provider acknowledged the rows. False after a failed POST: its epsilon
    #: still counts, since the numbers may have arrived.
    sent: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (UniqueConstraint("day", "seq", name="uq_analytics_publications_day_seq"),)


def personal_data() -> list[Declaration]:
    """Not personal: a day, counts and noise parameters (the registry's walk needs the reason)."""
    return [
        NotPersonal(
            Publication,
            reason="a day, counts and the declared noise of a published aggregate; no event, "
            "pseudonym or subject",
        )
    ]
