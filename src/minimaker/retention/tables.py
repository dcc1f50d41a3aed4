"""Retention tables: legal holds, and the notices warning an inactive account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, PersonalTable


class LegalHold(Base):
    """Policy 9.1 "unless required by law": a rule (or all, "*") suspended for one subject.

    A reason code and a case reference, never free text: the row names no one but by id.
    """

    __tablename__ = "legal_holds"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, index=True)
    rule: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(64))  # an actor: "staff:<id>", "system:cli"
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InactivityNotice(Base):
    """The warning sent to an account unused for the warning rule's duration.

    Its link is single-use and unguessable; only its SHA-256 is kept. The account is erased
    only once a notice at least `rules.NOTICE_PERIOD` old went unanswered since its last use.
    """

    __tablename__ = "inactivity_notices"
    subject_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    warned_at: Mapped[datetime] = mapped_column(UTCDateTime())


def personal_data() -> tuple[Declaration, ...]:
    """The retention tables as the personal-data registry knows them."""
    return (
        PersonalTable(
            LegalHold,
            category="security_log",
            owner="subject_id",
            not_exported="a hold on deletion ordered by law, by reason code and case reference",
        ),
        PersonalTable(
            InactivityNotice,
            category="account",
            owner="subject_id",
            hidden=("token_hash",),
            not_exported="the hash of a single-use link: a credential, not information",
        ),
    )
