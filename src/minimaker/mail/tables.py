"""Mail tables: the sealed outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Index,
    Integer,
    LargeBinary,
    String,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, PersonalTable


class OutboxMessage(Base):
    """An email waiting to be sent. Its content is sealed; it is wiped once delivered."""

    __tablename__ = "outbox"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # The retention sweep walks this index (retention/declare.py).
    __table_args__ = (Index("ix_outbox_created_at_id", "created_at", "id"),)


#: Mail still on its way (outbox.PENDING, outbox.SENDING): an erasure lets it go out.
UNSENT = ("pending", "sending")
#: The kind of the message telling a subject their data was erased (rights.erasure).
ERASURE_CONFIRMATION = "erasure_confirmation"


def _kept_on_erasure(t: type[OutboxMessage]) -> ColumnElement[bool]:
    return or_(t.status.in_(UNSENT), t.kind == ERASURE_CONFIRMATION)


def personal_data() -> tuple[Declaration, ...]:
    """The outbox as the personal-data registry knows it (kernel/personal_data.py)."""
    return (
        PersonalTable(
            OutboxMessage,
            category="message",  # the address on file and the text, sealed until delivered
            owner="subject_id",
            survives=_kept_on_erasure,
            reason="unsent mail must still go out (the erasure confirmation among it), and "
            "the confirmation stays as the record that the subject was told; each message is "
            "sealed under its own key and its content wiped once sent",
            not_exported="mail on its way to the subject, who receives it; sent mail keeps "
            "no content",
        ),
    )
