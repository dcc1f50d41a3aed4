"""The incident register's tables: incidents and their append-only steps (Art. 33(5))."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class Incident(Base):
    """One breach (or suspected breach) as the controller learnt of it; its description is
    staff free text, sealed under the register's service key, never stored in clear."""

    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Art. 33(1): the 72-hour clock runs from here (never later than opened_at).
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(24))
    processor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: The staff member who opened it; None: the system (a detection rule).
    opened_by: Mapped[str | None] = mapped_column(ID, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    #: How many steps it has: the next step's seq is this plus one.
    steps: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_incidents_status_deadline", "status", "deadline_at"),)


class IncidentStep(Base):
    """One step of an incident, never changed once written: a body of numbers, flags and
    codes, and (sealed) what staff typed with it."""

    __tablename__ = "incident_steps"
    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.id", ondelete="RESTRICT"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    staff_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    text_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


_REGISTER = (
    "the breach register (Art. 33(5)) is the controller's own record: it has no subject id "
    "column, because the affected subjects are found by scoping when needed and only their "
    "numbers are kept; what staff type is sealed under a service key, and the register is "
    "kept whole for accountability, so no subject's erasure reaches it"
)


def personal_data() -> tuple[Declaration, ...]:
    """The register's tables, declared not personal, with the reason."""
    return (
        NotPersonal(Incident, reason=_REGISTER),
        NotPersonal(IncidentStep, reason=_REGISTER + "; a step's body holds numbers only"),
    )
