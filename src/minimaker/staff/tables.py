"""Staff tables: staff accounts (not data subjects of the product) and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class StaffMember(Base):
    """A staff account (not a data subject of the product), with its second factor, training,
    acknowledged policy version and, for a contractor, the end of its fixed term."""

    __tablename__ = "staff"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The TOTP secret, sealed under a service key (AES-256-GCM, bound to this staff id).
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: Set once a code proved the authenticator holds the secret; until then, enrolment only.
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The last time step a code was accepted for: that step and earlier are replays.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    training_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffSession(Base):
    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    staff_id: Mapped[str] = mapped_column(
        ID, ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: "full" once the second factor was shown; "enrol": only enrolling the second factor.
    stage: Mapped[str] = mapped_column(String(8), default="full", server_default="full")

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (Index("ix_staff_sessions_expires_at_id", "expires_at", "id"),)


class StaffRecoveryCode(Base):
    """One single-use recovery code of a staff member, argon2-hashed; kept once used."""

    __tablename__ = "staff_recovery_codes"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    staff_id: Mapped[str] = mapped_column(
        ID, ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


_STAFF = (
    "staff accounts are our own people acting for the controller, not data subjects of the "
    "product: they are opened and closed by staff administration, never by a subject's request"
)


def personal_data() -> tuple[Declaration, ...]:
    """The staff tables, declared not personal to the product's subjects, with the reason."""
    return (
        NotPersonal(StaffMember, reason=_STAFF),
        NotPersonal(StaffSession, reason=_STAFF),
        NotPersonal(StaffRecoveryCode, reason=_STAFF),
    )
