"""Staff tables: staff accounts (not data subjects of the product) and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class StaffMember(Base):
    """A staff account (not a data subject of the product): DPO, support or admin."""

    __tablename__ = "staff"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffSession(Base):
    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    staff_id: Mapped[str] = mapped_column(
        ID, ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


_STAFF = (
    "staff accounts are our own people acting for the controller, not data subjects of the "
    "product: they are opened and closed by staff administration, never by a subject's request"
)


def personal_data() -> tuple[Declaration, ...]:
    """The staff tables, declared not personal to the product's subjects, with the reason."""
    return (NotPersonal(StaffMember, reason=_STAFF), NotPersonal(StaffSession, reason=_STAFF))
