"""Upload tables: photos, whose bytes live encrypted in the blob store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, Noun, PersonalTable, Section


class Upload(Base):
    """An uploaded photo; its bytes live encrypted in the blob store under `blob_id`."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32), default="uploaded_image")
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_uploads_owner_created", "owner_id", "created_at"),
        # The retention sweep walks this index (retention/declare.py).
        Index("ix_uploads_created_at_id", "created_at", "id"),
    )


def personal_data() -> tuple[Declaration, ...]:
    """The upload tables as the personal-data registry knows them (kernel/personal_data.py)."""
    # Imported when called, not at the top: the exporter reads this very table.
    from minimaker.uploads import export

    photos = Section(
        "photos",
        "Your photos",
        portable=True,
        exporter=export.photos,
        schema=export.PHOTOS_SCHEMA,
        prune=export.keep_written,
    )
    return (
        PersonalTable(
            Upload,
            category="uploaded_image",
            owner="owner_id",
            blobs=("blob_id",),
            section=photos,
            count=Noun("photo"),
        ),
    )
