"""The photos section of an access or portability archive, with the photo files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from minimaker.kernel.errors import InvalidImage, NotFound, UnsupportedMediaType
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
from minimaker.uploads import metadata
from minimaker.uploads.tables import Upload

_PHOTO_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
_STRINGS = {"type": "array", "items": {"type": "string"}}

#: JSON Schema of the photos section (portability, Art. 20).
PHOTOS_SCHEMA = schema_array(
    schema_object(
        {"id": SCHEMA_ID, "file": {"type": "string"}, "media_type": {"type": "string"}}
        | {"size_bytes": {"type": "integer"}, "width": {"type": "integer"}}
        | {"height": {"type": "integer"}, "created_at": SCHEMA_TIME}
        | {"format": {"type": "string"}, "orientation": {"type": "string"}}
        | {"kept": _STRINGS, "metadata_removed_at_upload": _STRINGS}
    )
)


def photos(uow: UnitOfWork, subject_id: str) -> Exported:
    """Each photo's facts and its file in the archive (photos/<id>.<ext>)."""
    rows = uow.session.scalars(
        select(Upload).where(Upload.owner_id == subject_id).order_by(Upload.created_at, Upload.id)
    ).all()
    entries, files = [], []
    dek = uow.keys.subject_key(subject_id) if rows else b""
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
            | _what_is_kept(uow, dek, row)
        )
    return Exported(entries, tuple(files))


def _what_is_kept(uow: UnitOfWork, dek: bytes, row: Upload) -> dict[str, Any]:
    """Policy 3.3 made visible: what the stored file holds besides its pixels, read from the
    file itself (streamed: one chunk in memory), and what intake removed."""
    chunks = None
    try:
        chunks = uow.c.blobs.iter_plain(dek, row.blob_id)
        held = metadata.describe(chunks, row.media_type)
    except (InvalidImage, UnsupportedMediaType, NotFound):
        return {
            "format": "not recognised",
            "orientation": "unknown",
            "kept": ["the file as stored"],
            "metadata_removed_at_upload": [],
        }
    finally:
        getattr(chunks, "close", lambda: None)()  # a walk that stopped early closes the file
    kept = ["the image data as uploaded, unchanged"]
    kept += ["orientation"] if held.orientation != 1 else []
    kept += ["ICC colour profile"] if held.colour_profile else []
    return {
        "format": _FORMAT[row.media_type],
        "orientation": f"{held.orientation} ({metadata.ORIENTATIONS[held.orientation]})",
        # A photo stored before intake removed metadata still holds it: say so, exactly.
        "kept": kept + list(held.found),
        "metadata_removed_at_upload": [] if held.found else list(metadata.REMOVED_AT_UPLOAD),
    }


def keep_written(entries: Any, written: frozenset[str]) -> Any:
    """The photos whose files made it into the archive (the owner may delete one meanwhile)."""
    return [p for p in entries if p["file"] in written]
