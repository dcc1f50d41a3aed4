"""Account tables: the subject's profile (sealed), sessions, password-reset links (hashed),
keyed failed-login counters."""

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
from minimaker.kernel.personal_data import Declaration, PersonalTable, Section


class User(Base):
    """An account. Name, email and username are sealed under the subject's own key."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), default="account")
    username_bidx: Mapped[str] = mapped_column(String(64), unique=True)
    email_bidx: Mapped[str] = mapped_column(String(64), unique=True)
    username_enc: Mapped[bytes] = mapped_column(LargeBinary)
    email_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Art. 18: while set, everything but storage and the subject's own access is refused.
    restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Last sign-in (or "keep my account"): the anchor of the inactivity rules, else created_at.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (Index("ix_users_created_at_id", "created_at", "id"),)


class AuthSession(Base):
    """A signed-in session; a bearer token or cookie is valid only while its row exists."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (Index("ix_auth_sessions_expires_at_id", "expires_at", "id"),)


class LoginFailure(Base):
    """A throttle count (a failed login, a sign-up), keyed by a keyed hash: nothing readable.

    The key is a blind index of the account, login name, address or device token counted.
    """

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PasswordReset(Base):
    """An emailed password-reset link: only a hash of its token, used once, soon expired."""

    __tablename__ = "password_resets"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def personal_data() -> tuple[Declaration, ...]:
    """The account tables as the personal-data registry knows them (kernel/personal_data.py)."""
    # Imported when called, not at the top: the exporters read these very tables.
    from minimaker.accounts import export, login_failures

    profile = Section(
        "profile",
        "Your profile",
        portable=True,
        exporter=export.profile,
        schema=export.PROFILE_SCHEMA,
    )
    return (
        # Locked first: an upload or a session being written for the account finishes first.
        PersonalTable(User, category="account", owner="id", lock=True, section=profile),
        PersonalTable(
            AuthSession,
            category="credentials",
            owner="user_id",
            section=Section("sessions", "Your sign-in sessions", exporter=export.sessions),
        ),
        PersonalTable(
            PasswordReset,
            category="credentials",
            owner="user_id",
            hidden=("token_hash",),
            not_exported="hashes of single-use password-reset links, readable by no one, "
            "deleted when used, replaced or expired (within the hour)",
        ),
        PersonalTable(
            LoginFailure,
            category="security_log",
            owner=None,  # keyed by a hash of the login name, reached through the sealed names
            forget=login_failures.forget_subject,
            not_exported="keyed hashes of an account or login name, readable by no one, "
            "kept for the throttle window",
        ),
    )
