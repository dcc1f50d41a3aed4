"""The generation sections of an access or portability archive: models with their files,
and usage events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from minimaker.generation import usage
from minimaker.generation.tables import Model3D, ModelFile
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

# GLB is compressed already: deflating it again costs time and saves nothing.
_COMPRESSED_FORMATS = frozenset({"glb"})
_FILE = schema_object(
    {"format": {"type": "string"}, "file": {"type": "string"}, "size_bytes": {"type": "integer"}}
)

#: JSON Schema of the models section (portability, Art. 20).
MODELS_SCHEMA = schema_array(
    schema_object(
        {"id": SCHEMA_ID, "upload_id": {"type": ["string", "null"]}}
        | {"status": {"enum": ["queued", "running", "done", "failed"]}}
        | {"params": {"type": "object"}, "error": {"type": ["string", "null"]}}
        | {"files": schema_array(_FILE)}
        | {"created_at": SCHEMA_TIME, "finished_at": SCHEMA_TIME}
    )
)


def models(uow: UnitOfWork, subject_id: str) -> Exported:
    """Each model with its parameters and its files in the archive (models/<id>.<format>)."""
    rows = uow.session.scalars(
        select(Model3D).where(Model3D.owner_id == subject_id).order_by(Model3D.created_at)
    ).all()
    by_model: dict[str, list[ModelFile]] = {}
    for mf in uow.session.scalars(
        select(ModelFile).where(ModelFile.owner_id == subject_id).order_by(ModelFile.format)
    ):
        by_model.setdefault(mf.model_id, []).append(mf)
    entries, files = [], []
    for row in rows:
        listed = []
        for mf in by_model.get(row.id, []):
            path = f"models/{row.id}.{mf.format}"
            compressed = mf.format in _COMPRESSED_FORMATS
            files.append(ArchiveFile(path, mf.blob_id, mf.size_bytes, compressed=compressed))
            listed.append({"format": mf.format, "file": path, "size_bytes": mf.size_bytes})
        entries.append(
            {
                "id": row.id,
                "upload_id": row.upload_id,
                "status": row.status,
                "params": dict(row.params),
                "error": row.error,
                "files": listed,
                "created_at": iso(row.created_at),
                "finished_at": iso(row.finished_at),
            }
        )
    return Exported(entries, tuple(files))


def keep_written(entries: Any, written: frozenset[str]) -> Any:
    """The models, listing only the files that made it into the archive."""
    return [{**m, "files": [f for f in m["files"] if f["file"] in written]} for m in entries]


def usage_events(uow: UnitOfWork, subject_id: str) -> Exported:
    """The usage events still linked to the subject (their day and type), oldest first."""
    # Found by pseudonym under each live day key; days whose key is gone link to no one.
    rows = usage.events_of(uow, subject_id)
    return Exported([{"event": event, "day": at.date().isoformat()} for event, at in rows])
