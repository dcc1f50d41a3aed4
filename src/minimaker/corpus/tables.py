"""The corpus tables: anonymous copies, the staging area they wait in, and the batches.

None of them names a subject, an upload, a model or the original blob: what they hold is no
longer personal data (Recital 26), so the registry declares them not personal, with the blobs
their rows keep (`personal_data()`). Times are
kept no finer than a month on items; a batch keeps its own time and count, never its items.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from minimaker.adapters.db import ID, Base, UTCDateTime
from minimaker.kernel.personal_data import Declaration, NotPersonal


class CorpusItem(Base):
    """One anonymised photo or model, encrypted under the corpus key."""

    __tablename__ = "corpus_items"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # minted at admission, random
    kind: Mapped[str] = mapped_column(String(8))  # "photo" or "model"
    month: Mapped[str] = mapped_column(String(7))  # "YYYY-MM" the copy was made
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: Whether the person had consented to marketing when the copy was made (policy 9.2).
    marketing_allowed: Mapped[bool] = mapped_column(Boolean)


class StagedCopy(Base):
    """An anonymised copy waiting for a batch; its blob is rewritten under a new id then."""

    __tablename__ = "corpus_staged"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    month: Mapped[str] = mapped_column(String(7))
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    marketing_allowed: Mapped[bool] = mapped_column(Boolean)


class CorpusBatch(Base):
    """When a batch entered the corpus and how many items it carried (which ones: nowhere)."""

    __tablename__ = "corpus_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    items: Mapped[int] = mapped_column(Integer)


_ANONYMOUS = (
    "anonymised copies (pixels or triangles only, faces hidden, a random id, a month): no"
    " subject, upload, model or original blob is named, so nothing leads back to a person"
)


def personal_data() -> list[Declaration]:
    """Not personal, with the blobs they keep: the stray sweep must leave those alone."""
    return [
        NotPersonal(CorpusItem, reason=_ANONYMOUS, blobs=("blob_id",)),
        NotPersonal(StagedCopy, reason=_ANONYMOUS + "; waiting for a batch", blobs=("blob_id",)),
        NotPersonal(CorpusBatch, reason="a count and a time per batch, never its items"),
    ]
