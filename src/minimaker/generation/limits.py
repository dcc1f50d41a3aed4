"""Per-subject limits on storage and generation (policy 3.6: protection against loss or damage).

One subject could fill the disk (an 8.5 KB PNG and three requests at max_resolution 2048
stored 2,663 MB) or keep every worker busy. Each check runs inside the use case's own unit
of work, under a per-subject lock, before anything is written: a refusal leaves no row, no
blob and no job behind.
- storage: photos + model files + the estimate of every model still queued or running
  (reserved when requested, so ten requests cannot each pass against the same free space);
- output cap: a model's files estimated from its grid (generation/rules.py), before any mesh;
- rate: requests per window, counted from the job queue, which keeps a row per request even
  after the model is deleted (deleting does not buy new requests);
- concurrency: models queued or running at once.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from minimaker.adapters.job_queue import Job
from minimaker.generation.rules import MeshSize, model_bytes
from minimaker.generation.tables import Model3D, ModelFile, ModelPreview
from minimaker.kernel.errors import (
    GenerationRateLimited,
    ModelTooLarge,
    QuotaExceeded,
    TooManyGenerations,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.settings import Settings
from minimaker.uploads import storage as photos

JOB_KIND = "generate_model"
ACTIVE = ("queued", "running")
#: Retry-After for a full concurrency slot when no model of the subject has finished yet.
_NO_HISTORY_S = 30


def lock_subject(uow: UnitOfWork, subject_id: str) -> None:
    """Serialise this subject's limit checks with their writes until the unit ends."""
    # PostgreSQL: a transaction-scoped advisory lock keyed by the subject, so two requests
    # of one subject cannot both pass a check against the same free space or slot. SQLite's
    # writing unit holds the database's one write lock already (BEGIN IMMEDIATE).
    if uow.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"limits:{subject_id}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def stored_bytes(uow: UnitOfWork, subject_id: str) -> int:
    """The subject's storage in use: photos, model files and previews, and unfinished
    models' estimates (a model's previews, a few dozen KB, are counted once stored)."""
    s = uow.session
    files = 0
    for table in (ModelFile, ModelPreview):
        used = select(func.coalesce(func.sum(table.size_bytes), 0))
        files += int(s.scalar(used.where(table.owner_id == subject_id)) or 0)
    pending = s.execute(
        select(Model3D.upload_id, Model3D.params).where(
            Model3D.owner_id == subject_id, Model3D.status.in_(ACTIVE)
        )
    ).all()
    sizes = photos.photo_sizes(s, {u for u, _ in pending if u is not None})
    reserved = sum(
        model_bytes(*sizes[u], int(params["max_resolution"]), str(params.get("mode", "relief")))
        for u, params in pending
        if u in sizes
    )
    return photos.photo_bytes(s, subject_id) + files + reserved


def ensure_room(uow: UnitOfWork, subject_id: str, adding: int) -> None:
    """QuotaExceeded (413) unless `adding` more bytes fit in the subject's quota."""
    limit = uow.c.settings.storage_quota_bytes
    used = stored_bytes(uow, subject_id)
    if used + adding > limit:
        raise QuotaExceeded(limit, used, adding)


def ensure_model_fits(
    settings: Settings, width: int, height: int, max_resolution: int, mode: str = "relief"
) -> int:
    """The estimated bytes of the model's files; ModelTooLarge (413) beyond the cap."""
    estimate = model_bytes(width, height, max_resolution, mode)
    if estimate > settings.max_model_bytes:
        raise ModelTooLarge(estimate, settings.max_model_bytes)
    return estimate


def ensure_files_fit(settings: Settings, size: MeshSize) -> None:
    """ModelTooLarge (413) if a built mesh's files would pass the cap (checked before any
    file is written)."""
    total = size.total_bytes()
    if total > settings.max_model_bytes:
        raise ModelTooLarge(total, settings.max_model_bytes)


def ensure_may_start(uow: UnitOfWork, subject_id: str, now: datetime) -> None:
    """TooManyGenerations or GenerationRateLimited (429, honest Retry-After) if over a limit."""
    settings = uow.c.settings
    active = uow.session.scalars(
        select(Model3D.created_at).where(Model3D.owner_id == subject_id, Model3D.status.in_(ACTIVE))
    ).all()
    if len(active) >= settings.generation_max_active:
        wait = _slot_wait_s(uow, subject_id, now, min(active))
        raise TooManyGenerations(settings.generation_max_active, wait)
    window = timedelta(seconds=settings.generation_rate_window_s)
    recent = uow.session.scalars(
        select(Job.created_at)
        .where(Job.subject_id == subject_id, Job.kind == JOB_KIND, Job.created_at > now - window)
        .order_by(Job.created_at)
    ).all()
    limit = settings.generation_rate_limit
    if len(recent) >= limit:
        # The window slides: room opens when the request that puts us at the limit ages out.
        frees_at = recent[len(recent) - limit] + window
        wait = max(1, math.ceil((frees_at - now).total_seconds()))
        raise GenerationRateLimited(limit, settings.generation_rate_window_s, wait)


def _slot_wait_s(uow: UnitOfWork, subject_id: str, now: datetime, oldest: datetime) -> int:
    """An honest guess of when a slot frees: the subject's recent time from request to done,
    less how long their oldest unfinished model has waited already."""
    recent = uow.session.execute(
        select(Model3D.created_at, Model3D.finished_at)
        .where(Model3D.owner_id == subject_id, Model3D.finished_at.is_not(None))
        .order_by(Model3D.finished_at.desc())
        .limit(5)
    ).all()
    if not recent:
        return _NO_HISTORY_S
    took = [(done - made).total_seconds() for made, done in recent if done is not None]
    typical = sum(took) / len(took)
    return max(1, math.ceil(typical - (now - oldest).total_seconds()))
