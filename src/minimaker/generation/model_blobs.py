"""A model's encrypted blobs: its files (STL, GLB, OBJ) and its previews (PNG).

Both are written into the blob store under the owner's key outside any unit of work (no lock
is held meanwhile), recorded in the unit that finishes the model, and found and deleted
together: whatever removes a model (its owner, retention) removes every blob it made.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select

from minimaker.adapters.blobs import new_blob_id
from minimaker.generation.export import BlockReader
from minimaker.generation.tables import ModelFile, ModelPreview
from minimaker.kernel.container import Container
from minimaker.kernel.faults import crash_point
from minimaker.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Written:
    """One blob, already encrypted into the store, not yet recorded."""

    name: str  # the file's format, or the preview's view
    blob_id: str
    size_bytes: int
    preview: bool = False


def write(
    c: Container,
    dek: bytes,
    files: Mapping[str, bytes | Iterable[bytes]],
    previews: Mapping[str, bytes],
) -> list[Written]:
    """Encrypt each file's bytes (or blocks), then each preview, into a new blob; on any
    failure, the blobs written so far go."""
    written: list[Written] = []
    try:
        for preview, outputs in ((False, files), (True, previews)):
            for name, data in outputs.items():
                reader = io.BytesIO(data) if isinstance(data, bytes) else BlockReader(iter(data))
                stored = c.blobs.put(dek, reader, blob_id=new_blob_id())  # type: ignore[arg-type]
                written.append(Written(name, stored.blob_id, stored.plaintext_size, preview))
                crash_point("generation.blob_written")
    except BaseException:
        for done in written:
            c.blobs.delete(done.blob_id)
        raise
    return written


def record(uow: UnitOfWork, *, model_id: str, owner_id: str, written: list[Written]) -> None:
    """Record each encrypted file and preview of the model, in the caller's unit."""
    for w in written:
        row = ModelPreview(view=w.name) if w.preview else ModelFile(format=w.name)
        row.model_id, row.owner_id = model_id, owner_id
        row.blob_id, row.size_bytes = w.blob_id, w.size_bytes
        uow.session.add(row)


def blob_ids(uow: UnitOfWork, model_ids: Collection[str]) -> list[str]:
    """Every blob of these models: their files' and their previews'."""
    found: list[str] = []
    for table in (ModelFile, ModelPreview):
        found += uow.session.scalars(select(table.blob_id).where(table.model_id.in_(model_ids)))
    return found


def delete_rows(uow: UnitOfWork, model_id: str) -> None:
    """Delete the model's file and preview rows (their blobs: the caller, after commit)."""
    for table in (ModelFile, ModelPreview):
        uow.session.execute(delete(table).where(table.model_id == model_id))
