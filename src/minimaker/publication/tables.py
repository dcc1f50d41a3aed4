"""Publication tables: every published version of the policy, and who acknowledged which."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal, PersonalTable, Section

#: The widest version string a policy file may carry (it is a key, a URL part, an audit word).
VERSION_LENGTH = 64


class PolicyVersion(Base):
    """A published version, kept whole (YAML and text) so it stays readable after the file
    changes (policy 12: users can see what they agreed to, and what changed since)."""

    __tablename__ = "policy_versions"
    version: Mapped[str] = mapped_column(String(VERSION_LENGTH), primary_key=True)
    effective: Mapped[date] = mapped_column(Date())
    significant: Mapped[bool] = mapped_column(Boolean())
    changes: Mapped[str] = mapped_column(Text())
    text: Mapped[str] = mapped_column(Text())
    source: Mapped[str] = mapped_column(Text())
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The notification of a significant version walks the accounts in id order, batch by
    # batch: the last id reached, and when the walk ended (None while it is under way).
    notified_through: Mapped[str | None] = mapped_column(ID, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PolicyAcknowledgement(Base):
    """A subject asked to acknowledge a version (asked_at), and when they did (acknowledged_at).

    A row with `acknowledged_at` unset is an acknowledgement still owed: the user pages ask
    for it at the next sign-in.
    """

    __tablename__ = "policy_acknowledgements"
    subject_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str] = mapped_column(
        String(VERSION_LENGTH), ForeignKey("policy_versions.version"), primary_key=True
    )
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def personal_data() -> tuple[Declaration, ...]:
    """The publication tables as the personal-data registry knows them."""
    return (
        # What the subject was asked and acknowledged is about them: erased with the account,
        # shown in their access archive (Art. 15).
        PersonalTable(
            PolicyAcknowledgement,
            category="account",
            owner="subject_id",
            section=Section("policy_acknowledgements", "Policy versions you were asked about"),
        ),
        NotPersonal(
            PolicyVersion,
            "the published policy texts: the same for everyone, naming no one",
        ),
    )
