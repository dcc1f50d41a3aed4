"""The photos section of an access or portability archive, with the photo files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from minimaker.kernel.personal_data import (
    SCHEMA_ID,
    SCHEMA_TIME,
    ArchiveFile,
    Exported,
    iso,
    schema_array,
    schema_object,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.uploads.tables import Upload

_PHOTO_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

#: JSON Schema of the photos section (portability, Art. 20).
PHOTOS_SCHEMA = schema_array(
    schema_object(
        {"id": SCHEMA_ID, "file": {"type": "string"}, "media_type": {"type": "string"}}
        | {"size_bytes": {"type": "integer"}, "width": {"type": "integer"}}
        | {"height": {"type": "integer"}, "created_at": SCHEMA_TIME}
    )
)


def photos(uow: UnitOfWork, subject_id: str) -> Exported:
    """Each photo's facts and its file in the archive (photos/<id>.<ext>)."""
    rows = uow.session.scalars(
        select(Upload).where(Upload.owner_id == subject_id).order_by(Upload.created_at, Upload.id)
    ).all()
    entries, files = [], []
    for row in rows:
        # Ids only in paths: the person's own file names are never kept, nor echoed.
        path = f"photos/{row.id}.{_PHOTO_EXT.get(row.media_type, 'bin')}"
        # Photos are compressed already: deflating them again costs time and saves nothing.
        files.append(ArchiveFile(path, row.blob_id, row.size_bytes, compressed=True))
        entries.append(
            {
                "id": row.id,
                "file": path,
                "media_type": row.media_type,
                "size_bytes": row.size_bytes,
                "width": row.width,
                "height": row.height,
                "created_at": iso(row.created_at),
            }
        )
    return Exported(entries, tuple(files))


def keep_written(entries: Any, written: frozenset[str]) -> Any:
    """The photos whose files made it into the archive (the owner may delete one meanwhile)."""
    return [p for p in entries if p["file"] in written]
