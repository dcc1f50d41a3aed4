"""Generation: queue a model for a photo, run the job, serve and delete the results."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.corpus import service as corpus
from minimaker.corpus.service import Prepared
from minimaker.generation import events, limits, model_blobs, preview, usage
from minimaker.generation.build import build_mesh
from minimaker.generation.export import FORMATS, MEDIA_TYPES, iter_export
from minimaker.generation.relief import ReliefParams
from minimaker.generation.tables import Model3D, ModelFile
from minimaker.kernel.actors import SYSTEM_WORKER, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, NotReady, ValidationFailed
from minimaker.kernel.faults import crash_point
from minimaker.kernel.ids import is_id
from minimaker.kernel.purposes import Purpose
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


#: What generation touches: the photo it reads and the model it writes.
_READS = ("uploaded_image", "generated_model")


def request_model(
    c: Container, *, user_id: str, upload_id: str, params: dict[str, Any] | None = None
) -> ModelRead:
    """Queue generation of a relief model from one of the user's photos."""
    merged: dict[str, Any] = {"max_resolution": c.settings.generation_max_resolution}
    merged.update(params or {})
    relief = ReliefParams.from_mapping(merged)
    now = c.clock.now()
    with c.uow() as uow:
        photo = uploads.owned_upload(uow, user_id=user_id, upload_id=upload_id)
        purpose = ensure_allowed(uow, user_id, Purpose.GENERATION, _READS)
        _check_limits(uow, user_id, (photo.width, photo.height), relief, now)
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
            kind=limits.JOB_KIND,
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


def _check_limits(
    uow: UnitOfWork, user_id: str, size: tuple[int, int], relief: ReliefParams, now: datetime
) -> None:
    """Policy 3.6: every limit, checked before anything is written (413 / 429)."""
    settings = uow.c.settings
    estimate = limits.ensure_model_fits(settings, *size, relief.max_resolution, relief.mode)
    limits.lock_subject(uow, user_id)
    limits.ensure_may_start(uow, user_id, now)
    limits.ensure_room(uow, user_id, estimate)  # the estimate is reserved until done


@dataclass(frozen=True)
class _Loaded:
    """What phase one read: the decrypted photo and the model's parameters."""

    model_id: str
    owner_id: str
    photo: bytes
    params: ReliefParams
    dek: bytes  # to encrypt the files as they are written, before phase two


#: Each exported format's bytes, or its blocks as they are written.
_Outputs = Mapping[str, bytes | Iterable[bytes]]


def run_generation_job(c: Container, job: Job) -> None:
    """Job handler: photo -> relief -> STL/GLB/OBJ and its previews (PNG), each encrypted
    under the owner's key."""
    loaded = _load_for_generation(c, job)
    if loaded is None:
        return
    mesh = _build_mesh(c, loaded)
    crash_point("generation.mid_job")
    # Drawn once, here, from the mesh in memory: a card then serves the stored PNG rather
    # than decrypting and sampling the whole STL on every view (0.7 s at grid 512).
    pngs = preview.model_pngs(mesh, loaded.params.mode)
    # Each format streams into its blob as it is written, one after the other (the exports
    # are lazy): the memory this takes is the mesh and one block, not three whole files
    # (policy 3.6; it was 2.5-3.4 GB at grid 2048).
    outputs = {fmt: iter_export(mesh, fmt) for fmt in FORMATS}
    del mesh
    _store_generation(c, job, loaded, outputs, pngs)


def _build_mesh(c: Container, loaded: _Loaded) -> Any:
    """Decode within the decode budget, re-check the output cap, build the mesh (build.py)."""
    return build_mesh(c.settings, loaded.photo, loaded.params)


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
        ensure_allowed(uow, model.owner_id, Purpose.GENERATION, _READS)
        model.status = RUNNING
        photo = uploads.read_photo(uow, user_id=model.owner_id, upload_id=model.upload_id)
        params = ReliefParams.from_mapping(model.params)
        dek = uow.keys.subject_key(model.owner_id)
        loaded = _Loaded(model_id, model.owner_id, photo, params, dek)
        uow.commit()
    return loaded


def _store_generation(
    c: Container, job: Job, loaded: _Loaded, outputs: _Outputs, pngs: Mapping[str, bytes]
) -> None:
    """Phase two: write the files and previews, then record them unless the model, its photo
    or the subject is gone now (then they go again)."""
    written = model_blobs.write(c, loaded.dek, outputs, pngs)
    model_id, owner_id = loaded.model_id, loaded.owner_id
    with c.uow() as uow:
        for file in written:
            uow.wrote_blob(file.blob_id)  # gone unless this unit commits them
        # Re-read under lock: the model, its photo or the whole subject may be gone now.
        model = uow.session.scalars(
            select(Model3D).where(Model3D.id == model_id).with_for_update()
        ).one_or_none()
        if model is None or model.upload_id is None:
            if model is not None:
                model.status, model.finished_at = FAILED, c.clock.now()
                model.error = "the photo was deleted while the model was being made"
            _discard(uow, job, written)
            return
        if not uow.keys.has_subject_key(owner_id):
            # The subject was erased while we worked: keep nothing, the rows go with them.
            _discard(uow, job, written)
            return
        model_blobs.record(uow, model_id=model_id, owner_id=owner_id, written=written)
        model.status, model.error, model.finished_at = DONE, None, c.clock.now()
        queue.finish(uow.session, job.id, now=c.clock.now())
        if allowed(uow, owner_id, Purpose.ANALYTICS, ("usage_event",)):
            usage.record(uow, subject_id=owner_id, event="model.generated", at=c.clock.now())
        uow.audit(
            events.GENERATION_COMPLETED,
            actor=SYSTEM_WORKER,
            subject=owner_id,
            object=f"model:{model_id}",
        )
        crash_point("generation.before_commit")
        uow.commit()


def _discard(uow: UnitOfWork, job: Job, written: list[model_blobs.Written]) -> None:
    """Finish the job keeping none of the files written for it."""
    for file in written:
        uow.delete_blob_after_commit(file.blob_id)
    queue.finish(uow.session, job.id, now=uow.c.clock.now())
    uow.commit()


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


def owned_model(uow: UnitOfWork, *, user_id: str, model_id: str, lock: bool = False) -> Model3D:
    """The model if it is the user's; another user's id answers exactly like a missing one."""
    # `lock` locks the row (PostgreSQL): a unit deleting it meanwhile is waited for.
    row = uow.session.get(Model3D, model_id, with_for_update=lock) if is_id(model_id) else None
    if row is None or row.owner_id != user_id:
        raise NotFound("model")
    return row


def _formats(uow: UnitOfWork, model_id: str) -> tuple[str, ...]:
    found = _files(uow, model_id)
    return tuple(f for f in FORMATS if f in found)


def list_models(c: Container, *, user_id: str) -> list[ModelRead]:
    with c.uow(write=False) as uow:
        ensure_allowed(uow, user_id, Purpose.SERVICE, ("generated_model",))
        rows = uow.session.scalars(
            select(Model3D).where(Model3D.owner_id == user_id).order_by(Model3D.created_at.desc())
        ).all()
        return [_read(r, _formats(uow, r.id) if r.status == DONE else ()) for r in rows]


def get_model(c: Container, *, user_id: str, model_id: str) -> ModelRead:
    with c.uow(write=False) as uow:
        row = owned_model(uow, user_id=user_id, model_id=model_id)
        ensure_allowed(uow, user_id, Purpose.SERVICE, ("generated_model",))
        return _read(row, _formats(uow, row.id))


def open_model_content(
    c: Container, *, user_id: str, model_id: str, fmt: str
) -> tuple[str, Iterator[bytes]]:
    """The model file in `fmt` (stl, glb, obj) as a decrypted stream; the read is audited."""
    if fmt not in FORMATS:
        raise ValidationFailed("format", "must be one of " + ", ".join(FORMATS))
    with c.uow() as uow:
        row = owned_model(uow, user_id=user_id, model_id=model_id)
        if row.status != DONE:
            raise NotReady("model", row.status)
        file = uow.session.get(ModelFile, (model_id, fmt))
        if file is None:
            raise NotFound("model file")
        ensure_allowed(uow, user_id, Purpose.SERVICE, ("generated_model",))
        dek = uow.keys.subject_key(user_id)
        row.last_used_at = c.clock.now()  # the anchor of its retention rule (24 months)
        uow.audit(
            events.CONTENT_READ,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{model_id}:{fmt}",
        )
        uow.commit()
        return MEDIA_TYPES[fmt], c.blobs.iter_plain(dek, file.blob_id)


def delete_model(c: Container, *, user_id: str, model_id: str) -> None:
    """Delete a model, its files and previews and (after commit) their encrypted blobs."""
    with c.uow(write=False) as uow:
        owned_model(uow, user_id=user_id, model_id=model_id)
        files = _files(uow, model_id)
    # Policy 9.2: the corpus copy is made before the write unit (a re-export takes seconds).
    copy = _prepare_for_corpus(c, user_id, files)
    with c.uow() as uow:
        try:
            row = owned_model(uow, user_id=user_id, model_id=model_id, lock=True)
        except NotFound:  # deleted meanwhile (by retention, or a second click): offered there
            corpus.discard(c, copy)
            raise
        corpus.stage(uow, copy)
        for blob_id in model_blobs.blob_ids(uow, [model_id]):  # its files and previews
            uow.delete_blob_after_commit(blob_id)
        model_blobs.delete_rows(uow, model_id)
        uow.session.delete(row)
        uow.audit(
            events.MODEL_DELETED,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{model_id}",
        )
        uow.commit()


def _files(uow: UnitOfWork, model_id: str) -> dict[str, str]:
    """The model's files: format -> blob id."""
    rows = uow.session.execute(
        select(ModelFile.format, ModelFile.blob_id).where(ModelFile.model_id == model_id)
    )
    return {fmt: blob_id for fmt, blob_id in rows}


def _prepare_for_corpus(c: Container, user_id: str, files: Mapping[str, str]) -> Prepared | None:
    """Policy 9.2: one anonymised copy of the model (its richest format) for the corpus."""
    for fmt in ("glb", "stl", "obj"):
        if fmt in files:
            return corpus.prepare(c, subject_id=user_id, kind="model", blob_id=files[fmt])
    return None


def stop_queued(uow: UnitOfWork, *, owner_id: str, reason: str) -> None:
    """Cancel the owner's queued generation jobs and fail their models, in the caller's unit."""
    now = uow.c.clock.now()
    queue.cancel_kind_for_subject(uow.session, owner_id, kind="generate_model", now=now)
    uow.session.execute(
        update(Model3D)
        .where(Model3D.owner_id == owner_id, Model3D.status == QUEUED)
        .values(status=FAILED, error=reason, finished_at=now)
    )
