"""Detection's tables: the alerts the rules opened, and how far the rules have read the audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class DetectionAlert(Base):
    """One finding of a rule: its window, its numbers and what the officer did with it."""

    __tablename__ = "detection_alerts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    #: Whom the rule counted: a staff id, "*" (everyone) or a fingerprint of a finding.
    scope: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Numbers only (counts, thresholds, seconds) and, for one account's rules, its staff id.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | escalated
    incident_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(ID, nullable=True)  # staff id; None: system
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a code
    reference: Mapped[str | None] = mapped_column(String(21), nullable=True)  # a ticket id

    __table_args__ = (
        # A rule re-run over the same window finds its alert already there.
        UniqueConstraint("rule", "scope", "window_start", name="uq_detection_alerts_window"),
        Index("ix_detection_alerts_status_opened", "status", "opened_at"),
    )


class DetectionState(Base):
    """One row: the last audit seq the stream rules read, and when what is held was checked."""

    __tablename__ = "detection_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    held_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def personal_data() -> tuple[Declaration, ...]:
    """Detection's tables, declared not personal, with the reason."""
    return (
        NotPersonal(
            DetectionAlert,
            reason="an alert holds a rule code, a window and counts, and at most a staff "
            "id (pseudonymous, the staff account's, not a data subject's); subject ids stay "
            "in the audit chain, so no subject's erasure reaches it",
        ),
        NotPersonal(DetectionState, reason="one row: an audit seq and a time"),
    )
