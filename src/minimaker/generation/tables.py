"""Generation tables: models, their exported files and previews, and usage events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, Noun, PersonalTable, Section


class Model3D(Base):
    """A generated 3D model of an upload, made by a job."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    upload_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("uploads.id", ondelete="SET NULL"), nullable=True
    )
    category: Mapped[str] = mapped_column(String(32), default="generated_model")
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Last downloaded: the anchor of the models rule, with `created_at` if never.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_models_owner_created", "owner_id", "created_at"),
        Index("ix_models_upload_id", "upload_id"),
        # The retention sweep walks this index (retention/declare.py).
        Index("ix_models_created_at_id", "created_at", "id"),
    )


class ModelFile(Base):
    """One exported format of a model, encrypted in the blob store."""

    __tablename__ = "model_files"
    model_id: Mapped[str] = mapped_column(
        ID, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, index=True)
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class ModelPreview(Base):
    """A PNG preview of a model (one view: shaded, or back-lit), drawn once when the model
    was made and encrypted in the blob store like its files; never offered as a download."""

    __tablename__ = "model_previews"
    model_id: Mapped[str] = mapped_column(
        ID, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    view: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, index=True)
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class UsageEvent(Base):
    """A pseudonymous usage event (analytics purpose; objection stops new ones): its subject
    only as HMAC(day key, subject id), its time only as its UTC day (generation/usage.py)."""

    __tablename__ = "usage_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), default="usage_event")
    event: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The retention sweep walks this index (retention/declare.py): a day's events share `at`.
    __table_args__ = (Index("ix_usage_events_at_id", "at", "id"),)


def personal_data() -> tuple[Declaration, ...]:
    """The generation tables as the personal-data registry knows them (kernel/personal_data)."""
    # Imported when called, not at the top: the exporters read these very tables.
    from minimaker.generation import export_data as export

    models = Section(
        "models",
        "Your models",
        portable=True,
        exporter=export.models,
        schema=export.MODELS_SCHEMA,
        prune=export.keep_written,
    )
    return (
        # Locked first: a generation storing its files holds the model's row until it is done.
        PersonalTable(
            Model3D,
            category="generated_model",
            owner="owner_id",
            lock=True,
            section=models,
            count=Noun("3D model"),
        ),
        PersonalTable(
            ModelFile,
            category="generated_model",
            owner="owner_id",
            blobs=("blob_id",),
            exported_with="models",
        ),
        # Drawn from the model: erased, kept, exported, restricted with it (decisions/0033).
        PersonalTable(
            ModelPreview,
            category="generated_model",
            owner="owner_id",
            blobs=("blob_id",),
            exported_with="models",
        ),
        _usage_events(),
    )


def _usage_events() -> PersonalTable:
    """Usage events: a pseudonym per day, found again only under that day's live key."""
    from minimaker.generation import export_data as export
    from minimaker.generation import usage as usage_events

    return PersonalTable(
        UsageEvent,
        category="usage_event",
        owner=None,
        forget=usage_events.forget,
        section=Section("usage_events", "Usage events linked to you", exporter=export.usage_events),
        count=Noun("usage event"),
        counter=usage_events.count_of,
        counter_many=usage_events.counts_of,
    )
