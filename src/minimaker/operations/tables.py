"""The record of regular security audits (policy 5.1): one row per self-check run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class SelfcheckRun(Base):
    """One run of `minimaker selfcheck`, the workers' schedule or the admin API, and what
    each check found: names, statuses and messages of counts, settings and modes only."""

    __tablename__ = "selfcheck_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger: Mapped[str] = mapped_column(String(16))  # cli | schedule | api
    passed: Mapped[bool] = mapped_column(Boolean)
    #: [{"name", "status", "message"}, ...] in the order the checks ran.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    __table_args__ = (Index("ix_selfcheck_runs_at", "at"),)


def personal_data() -> list[Declaration]:
    """Not personal: the outcome of checks of the installation, in counts."""
    return [
        NotPersonal(
            SelfcheckRun,
            reason="check names, statuses and messages of counts, settings and file modes; "
            "no subject, staff member, blob or request is named",
        )
    ]
