"""Rights tables: objections, requests and their events, links, archives, disclosures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import (
    Declaration,
    Exporter,
    Fate,
    Noun,
    PersonalTable,
    Section,
    ViaParent,
)


class Consent(Base):
    """Art. 6(1)(a), 7: the subject consents to one purpose (row present = consented).

    Absent by default: consent is given by the subject's own act, never presumed (Art. 4(11)).
    """

    __tablename__ = "consents"
    subject_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Objection(Base):
    """Art. 21: the subject objects to processing for one purpose (row present = objected)."""

    __tablename__ = "objections"
    subject_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class RightsRequest(Base):
    """A data-subject request with its legal deadline. Survives erasure without personal data."""

    __tablename__ = "rights_requests"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    # No foreign key: the pseudonymous record must outlive the account it was about.
    subject_id: Mapped[str] = mapped_column(ID, index=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # app, email, staff
    details_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    original_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    extended_months: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_by: Mapped[str | None] = mapped_column(ID, nullable=True)
    result_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Issue 8 (officer): why fulfilment stopped for good and waits for the privacy officer
    # (a short reason, never personal data), the officer's statement of what was done and the
    # evidence of identity a DPO recorded, both sealed under the subject's key like details.
    attention_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    evidence_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class RequestEvent(Base):
    """One step of a request's lifecycle, as the subject and the DPO see it."""

    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ID, ForeignKey("rights_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(255), nullable=True)


class VerificationToken(Base):
    """A single-use, expiring link proving control of the address on file (hash stored only)."""

    __tablename__ = "verification_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ID, ForeignKey("rights_requests.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (
        Index("ix_verification_tokens_expires_at_token_hash", "expires_at", "token_hash"),
    )


class Archive(Base):
    """An access or portability archive, encrypted, for its subject only, until it expires."""

    __tablename__ = "archives"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, index=True)
    request_id: Mapped[str] = mapped_column(ID, index=True)
    category: Mapped[str] = mapped_column(String(32), default="rights_archive")
    kind: Mapped[str] = mapped_column(String(16))
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Disclosure(Base):
    """A copy of a subject's data given to a recipient: whom to tell under Art. 19."""

    __tablename__ = "disclosures"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    categories: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


def personal_data() -> tuple[Declaration, ...]:
    """The rights tables as the personal-data registry knows them (kernel/personal_data.py)."""
    # Imported when called, not at the top: the exporters read these very tables.
    from minimaker.rights import export

    preferences = Section(
        "preferences",
        "Your preferences",
        portable=True,
        exporter=export.preferences,
        schema=export.PREFERENCES_SCHEMA,
    )
    return (
        PersonalTable(Objection, category="account", owner="subject_id", section=preferences),
        PersonalTable(Consent, category="account", owner="subject_id", exported_with="objections"),
        PersonalTable(
            Archive,
            category="rights_archive",
            owner="subject_id",
            blobs=("blob_id",),
            not_exported="the archives themselves: each is a copy of the data listed here",
            count=Noun("data archive"),
        ),
        *_request_tables(export.requests),
        # Issue 8: a request's emailed download link goes with it, like its confirmation link.
        PersonalTable(
            ArchiveLink,
            category="rights_request",
            owner=ViaParent(RightsRequest, link="request_id", owner="subject_id"),
            hidden=("token_hash",),
            not_exported="the hash of a single-use download link: a credential, not information",
        ),
        PersonalTable(
            Disclosure,
            category="rights_request",
            owner="subject_id",
            # No table of its own in index.html: the Art. 15 recipients list names them.
            section=Section("disclosures", "", exporter=export.disclosures),
        ),
    )


def _request_tables(exporter: Exporter) -> tuple[PersonalTable, ...]:
    """A request outlives an erasure as its pseudonymous record; its link does not."""
    of_request = ViaParent(RightsRequest, link="request_id", owner="subject_id")
    return (
        PersonalTable(
            RightsRequest,
            category="rights_request",
            owner="subject_id",
            fate=Fate.SCRUB,
            scrub=("details_enc", "resolution_enc", "evidence_enc"),
            reason="Art. 5(2), 12: the pseudonymous record that each request was answered, "
            "and when; its details, the officer's statement and the evidence of identity, "
            "sealed under the destroyed key, go",
            section=Section("requests", "Your requests", exporter=exporter),
            count=Noun("privacy request"),
        ),
        PersonalTable(
            RequestEvent,
            category="rights_request",
            owner=of_request,
            fate=Fate.KEEP,
            reason="each step of an answered request, part of its pseudonymous record",
            exported_with="rights_requests",
        ),
        PersonalTable(
            VerificationToken,
            category="rights_request",
            owner=of_request,
            hidden=("token_hash",),
            not_exported="the hash of a single-use link: a credential, not information",
        ),
    )


class ArchiveLink(Base):
    """Issue 8: a single-use, expiring link that downloads an emailed request's archive without
    an account (hash stored only). It dies with the archive: used, expired, or archive gone."""

    __tablename__ = "archive_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ID, ForeignKey("rights_requests.id", ondelete="CASCADE"), index=True
    )
    # No foreign key: the expiry duty deletes the archive, and the link then answers 410.
    archive_id: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (Index("ix_archive_links_expires_at_token_hash", "expires_at", "token_hash"),)
