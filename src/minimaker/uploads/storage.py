"""What a subject's photos take: their bytes, and the sizes generation estimates from."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minimaker.uploads.tables import Upload


def photo_bytes(session: Session, subject_id: str) -> int:
    """Bytes of the subject's stored photos (as uploaded; indexed by owner)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Upload.size_bytes), 0)).where(Upload.owner_id == subject_id)
    )
    return int(total or 0)


def photo_sizes(session: Session, upload_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """(width, height) of each of these photos that still exists."""
    if not upload_ids:
        return {}
    rows = session.execute(
        select(Upload.id, Upload.width, Upload.height).where(Upload.id.in_(list(upload_ids)))
    )
    return {upload_id: (width, height) for upload_id, width, height in rows}
