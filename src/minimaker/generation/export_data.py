"""The generation sections of an access or portability archive: models with their files and
previews, and usage events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from minimaker.generation import usage
from minimaker.generation.tables import Model3D, ModelFile, ModelPreview
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

_COMPRESSED_FORMATS = frozenset({"glb"})
_FILE = schema_object(
    {"format": {"type": "string"}, "file": {"type": "string"}, "size_bytes": {"type": "integer"}}
)
_PREVIEW = schema_object(
    {"view": {"type": "string"}, "file": {"type": "string"}, "size_bytes": {"type": "integer"}}
)

#: JSON Schema of the models section (portability, Art. 20).
MODELS_SCHEMA = schema_array(
    schema_object(
        {"id": SCHEMA_ID, "upload_id": {"type": ["string", "null"]}}
        | {"status": {"enum": ["queued", "running", "done", "failed"]}}
        | {"params": {"type": "object"}, "error": {"type": ["string", "null"]}}
        | {"files": schema_array(_FILE), "previews": schema_array(_PREVIEW)}
        | {"created_at": SCHEMA_TIME, "finished_at": SCHEMA_TIME}
    )
)


def models(uow: UnitOfWork, subject_id: str) -> Exported:
    """Each model with its parameters, its files (models/<id>.<format>) and its previews
    (models/<id>-<view>.png) in the archive."""
    rows = uow.session.scalars(
        select(Model3D).where(Model3D.owner_id == subject_id).order_by(Model3D.created_at)
    ).all()
    files, previews = _listed(uow, ModelFile, subject_id), _listed(uow, ModelPreview, subject_id)
    entries = [
        {
            "id": row.id,
            "upload_id": row.upload_id,
            "status": row.status,
            "params": dict(row.params),
            "error": row.error,
            "files": [listed for listed, _ in files.get(row.id, [])],
            "previews": [listed for listed, _ in previews.get(row.id, [])],
            "created_at": iso(row.created_at),
            "finished_at": iso(row.finished_at),
        }
        for row in rows
    ]
    out = [file for found in (files, previews) for pairs in found.values() for _, file in pairs]
    return Exported(entries, tuple(out))


def _listed(
    uow: UnitOfWork, table: type[ModelFile] | type[ModelPreview], subject_id: str
) -> dict[str, list[tuple[dict[str, Any], ArchiveFile]]]:
    """The subject's files (or previews) by model: each as listed in data.json, and its file."""
    preview = table is ModelPreview
    name = ModelPreview.view if preview else ModelFile.format
    query = select(table.model_id, name, table.blob_id, table.size_bytes)
    by_model: dict[str, list[tuple[dict[str, Any], ArchiveFile]]] = {}
    for model_id, kind, blob_id, size in uow.session.execute(
        query.where(table.owner_id == subject_id).order_by(name)
    ):
        path = f"models/{model_id}-{kind}.png" if preview else f"models/{model_id}.{kind}"
        # PNG and GLB are compressed already: deflating them again costs time, saves nothing.
        compressed = preview or kind in _COMPRESSED_FORMATS
        listed = {"view" if preview else "format": kind, "file": path, "size_bytes": size}
        by_model.setdefault(model_id, []).append(
            (listed, ArchiveFile(path, blob_id, size, compressed=compressed))
        )
    return by_model


def keep_written(entries: Any, written: frozenset[str]) -> Any:
    """The models, listing only the files and previews that made it into the archive."""
    return [
        {
            **m,
            "files": [f for f in m["files"] if f["file"] in written],
            "previews": [p for p in m["previews"] if p["file"] in written],
        }
        for m in entries
    ]


def usage_events(uow: UnitOfWork, subject_id: str) -> Exported:
    """The usage events still linked to the subject (their day and type), oldest first."""
    # Found by pseudonym under each live day key; days whose key is gone link to no one.
    rows = usage.events_of(uow, subject_id)
    return Exported([{"event": event, "day": at.date().isoformat()} for event, at in rows])
