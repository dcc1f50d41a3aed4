"""Generation: queue a model for a photo, run the job, serve and delete the results."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy import delete, select, update

from minimaker.adapters import job_queue as queue
from minimaker.adapters.blobs import new_blob_id
from minimaker.adapters.job_queue import Job
from minimaker.generation import events
from minimaker.generation.export import FORMATS, MEDIA_TYPES, export_mesh
from minimaker.generation.relief import ReliefParams, relief_from_image
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.actors import SYSTEM_WORKER, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable, NotFound, NotReady, ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.kernel.purposes import Activity
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.processing import allowed, ensure_allowed
from minimaker.uploads import service as uploads

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True)
class ModelRead:
    id: str
    upload_id: str | None
    status: str
    params: dict[str, Any]
    error: str | None
    formats: tuple[str, ...]
    created_at: datetime
    finished_at: datetime | None


def _read(row: Model3D, formats: tuple[str, ...] = ()) -> ModelRead:
    return ModelRead(
        row.id,
        row.upload_id,
        row.status,
        row.params,
        row.error,
        formats,
        row.created_at,
        row.finished_at,
    )


def request_model(
    c: Container, *, user_id: str, upload_id: str, params: dict[str, Any] | None = None
) -> ModelRead:
    """Queue generation of a relief model from one of the user's photos."""
    merged: dict[str, Any] = {"max_resolution": c.settings.generation_max_resolution}
    merged.update(params or {})
    relief = ReliefParams.from_mapping(merged)
    now = c.clock.now()
    with c.uow() as uow:
        uploads.owned_upload(uow, user_id=user_id, upload_id=upload_id)
        purpose = ensure_allowed(uow.session, user_id, Activity.GENERATION)
        row = Model3D(
            id=uuid.uuid4().hex,
            owner_id=user_id,
            upload_id=upload_id,
            status=QUEUED,
            params=relief.to_dict(),
            created_at=now,
        )
        uow.session.add(row)
        queue.enqueue(
            uow.session,
            kind="generate_model",
            payload={"model_id": row.id},
            subject_id=user_id,
            now=now,
            max_attempts=c.settings.job_max_attempts,
        )
        uow.audit(
            events.GENERATION_REQUESTED,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{row.id}",
            purpose=purpose,
        )
        uow.commit()
    return _read(row)


@dataclass(frozen=True)
class _Loaded:
    """What phase one read: the decrypted photo and the model's parameters."""

    model_id: str
    owner_id: str
    photo: bytes
    params: ReliefParams


def run_generation_job(c: Container, job: Job) -> None:
    """Job handler: photo -> relief -> STL/GLB/OBJ, each encrypted under the owner's key."""
    loaded = _load_for_generation(c, job)
    if loaded is None:
        return
    with Image.open(io.BytesIO(loaded.photo)) as img:
        mesh = relief_from_image(img, loaded.params)
    outputs = {fmt: export_mesh(mesh, fmt) for fmt in FORMATS}
    del mesh
    _store_generation(c, job, loaded, outputs)


def _load_for_generation(c: Container, job: Job) -> _Loaded | None:
    """Phase one: mark the model running and read its photo; None if there is nothing to do."""
    model_id = str(job.payload["model_id"])
    with c.uow() as uow:
        model = uow.session.get(Model3D, model_id)
        if model is None or model.upload_id is None:
            # Deleted (or its photo was) before we got here: nothing to make, nothing to keep.
            if model is not None:
                model.status, model.finished_at = FAILED, c.clock.now()
                model.error = "the photo was deleted before the model was made"
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return None
        # A restriction applied after the request was queued still stops the work (Art. 18).
        ensure_allowed(uow.session, model.owner_id, Activity.GENERATION)
        model.status = RUNNING
        photo = uploads.read_photo(uow, user_id=model.owner_id, upload_id=model.upload_id)
        loaded = _Loaded(model_id, model.owner_id, photo, ReliefParams.from_mapping(model.params))
        uow.commit()
    return loaded


def _store_generation(c: Container, job: Job, loaded: _Loaded, outputs: dict[str, bytes]) -> None:
    """Phase two: store the files, unless the model, its photo or the subject is gone now."""
    model_id, owner_id = loaded.model_id, loaded.owner_id
    with c.uow() as uow:
        # Re-read under lock: the model, its photo or the whole subject may be gone now.
        model = uow.session.scalars(
            select(Model3D).where(Model3D.id == model_id).with_for_update()
        ).one_or_none()
        if model is None or model.upload_id is None:
            if model is not None:
                model.status, model.finished_at = FAILED, c.clock.now()
                model.error = "the photo was deleted while the model was being made"
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return
        try:
            dek = uow.keys.subject_key(owner_id)
        except KeyUnavailable:
            # The subject was erased while we worked: keep nothing, the rows go with them.
            queue.finish(uow.session, job.id, now=c.clock.now())
            uow.commit()
            return
        _store_files(uow, dek, model_id=model_id, owner_id=owner_id, outputs=outputs)
        model.status, model.error, model.finished_at = DONE, None, c.clock.now()
        queue.finish(uow.session, job.id, now=c.clock.now())
        if allowed(uow.session, owner_id, Activity.ANALYTICS):
            uow.session.add(
                UsageEvent(subject_id=owner_id, event="model.generated", at=c.clock.now())
            )
        uow.audit(
            events.GENERATION_COMPLETED,
            actor=SYSTEM_WORKER,
            subject=owner_id,
            object=f"model:{model_id}",
        )
        uow.commit()


def _store_files(
    uow: UnitOfWork, dek: bytes, *, model_id: str, owner_id: str, outputs: dict[str, bytes]
) -> None:
    """Encrypt each exported format into the blob store and record it, in the caller's unit."""
    for fmt, data in outputs.items():
        blob_id = new_blob_id()
        uow.wrote_blob(blob_id)
        uow.c.blobs.put(dek, io.BytesIO(data), blob_id=blob_id)
        uow.session.add(
            ModelFile(
                model_id=model_id,
                format=fmt,
                owner_id=owner_id,
                blob_id=blob_id,
                size_bytes=len(data),
            )
        )


def _on_final_failure(c: Container, job: Job, reason: str) -> None:
    with c.uow() as uow:
        model = uow.session.get(Model3D, str(job.payload.get("model_id", "")))
        if model is not None:
            model.status, model.error, model.finished_at = FAILED, reason[:255], c.clock.now()
            uow.audit(
                events.GENERATION_FAILED,
                actor=SYSTEM_WORKER,
                subject=model.owner_id,
                object=f"model:{model.id}",
            )
        uow.commit()


run_generation_job.on_final_failure = _on_final_failure  # type: ignore[attr-defined]


def _owned_model(uow: UnitOfWork, *, user_id: str, model_id: str) -> Model3D:
    row = uow.session.get(Model3D, model_id) if is_id(model_id) else None
    if row is None or row.owner_id != user_id:
        raise NotFound("model")
    return row


def _formats(uow: UnitOfWork, model_id: str) -> tuple[str, ...]:
    found = uow.session.scalars(
        select(ModelFile.format).where(ModelFile.model_id == model_id)
    ).all()
    return tuple(f for f in FORMATS if f in found)


def list_models(c: Container, *, user_id: str) -> list[ModelRead]:
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(Model3D).where(Model3D.owner_id == user_id).order_by(Model3D.created_at.desc())
        ).all()
        return [_read(r, _formats(uow, r.id) if r.status == DONE else ()) for r in rows]


def get_model(c: Container, *, user_id: str, model_id: str) -> ModelRead:
    with c.uow(write=False) as uow:
        row = _owned_model(uow, user_id=user_id, model_id=model_id)
        return _read(row, _formats(uow, row.id))


def open_model_content(
    c: Container, *, user_id: str, model_id: str, fmt: str
) -> tuple[str, Iterator[bytes]]:
    """The model file in `fmt` (stl, glb, obj) as a decrypted stream; the read is audited."""
    if fmt not in FORMATS:
        raise ValidationFailed("format", "must be one of " + ", ".join(FORMATS))
    with c.uow() as uow:
        row = _owned_model(uow, user_id=user_id, model_id=model_id)
        if row.status != DONE:
            raise NotReady("model", row.status)
        file = uow.session.get(ModelFile, (model_id, fmt))
        if file is None:
            raise NotFound("model file")
        dek = uow.keys.subject_key(user_id)
        uow.audit(
            events.CONTENT_READ,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{model_id}:{fmt}",
        )
        uow.commit()
        return MEDIA_TYPES[fmt], c.blobs.iter_plain(dek, file.blob_id)


def delete_model(c: Container, *, user_id: str, model_id: str) -> None:
    """Delete a model, its files and (after commit) their encrypted blobs."""
    with c.uow() as uow:
        row = _owned_model(uow, user_id=user_id, model_id=model_id)
        blob_ids = uow.session.scalars(
            select(ModelFile.blob_id).where(ModelFile.model_id == model_id)
        ).all()
        for blob_id in blob_ids:
            uow.delete_blob_after_commit(blob_id)
        uow.session.execute(delete(ModelFile).where(ModelFile.model_id == model_id))
        uow.session.delete(row)
        uow.audit(
            events.MODEL_DELETED,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{model_id}",
        )
        uow.commit()


def stop_queued(uow: UnitOfWork, *, owner_id: str, reason: str) -> None:
    """Cancel the owner's queued generation jobs and fail their models, in the caller's unit."""
    now = uow.c.clock.now()
    queue.cancel_kind_for_subject(uow.session, owner_id, kind="generate_model", now=now)
    uow.session.execute(
        update(Model3D)
        .where(Model3D.owner_id == owner_id, Model3D.status == QUEUED)
        .values(status=FAILED, error=reason, finished_at=now)
    )
