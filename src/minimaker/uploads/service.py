"""Uploads: store a validated photo encrypted under its owner's key; list, read, delete."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from minimaker.adapters.blobs import new_blob_id
from minimaker.corpus import service as corpus
from minimaker.generation import limits
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable, NotFound, PayloadTooLarge, SubjectErased
from minimaker.kernel.faults import crash_point
from minimaker.kernel.ids import is_id
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.processing import ensure_allowed
from minimaker.uploads import events
from minimaker.uploads import intake as images
from minimaker.uploads.tables import Upload


@dataclass(frozen=True)
class UploadRead:
    id: str
    media_type: str
    size_bytes: int
    width: int
    height: int
    created_at: datetime


#: What the service's own use of an upload touches: the photo (policy 3.1, contract).
_PHOTO = ("uploaded_image",)


def _read(row: Upload) -> UploadRead:
    return UploadRead(row.id, row.media_type, row.size_bytes, row.width, row.height, row.created_at)


def create_upload(c: Container, *, user_id: str, data: bytes) -> UploadRead:
    """Validate a photo by its content, drop its metadata (policy 3.3) and store it encrypted;
    nothing is kept if it fails."""
    accepted = _checked(c, user_id=user_id, data=data)
    info, data = accepted.info, accepted.data  # the original bytes are not kept
    upload_id = uuid.uuid4().hex
    with c.uow() as uow:
        ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)
        limits.lock_subject(uow, user_id)
        limits.ensure_room(uow, user_id, len(data))  # again, under the lock: the one that counts
        dek = _subject_key(uow, user_id)
        blob_id = new_blob_id()
        uow.wrote_blob(blob_id)
        stored = c.blobs.put(dek, io.BytesIO(data), blob_id=blob_id)
        row = Upload(
            id=upload_id,
            owner_id=user_id,
            blob_id=stored.blob_id,
            media_type=info.media_type,
            size_bytes=len(data),
            width=info.width,
            height=info.height,
            created_at=c.clock.now(),
        )
        uow.session.add(row)
        uow.audit(
            events.PHOTO_CREATED,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"upload:{upload_id}",
        )
        crash_point("upload.before_commit")
        if not uow.keys.has_subject_key(user_id):
            # Erased while we wrote: the blob is ciphertext under a destroyed key; the unit
            # not committing deletes it, and no row of it is left for erasure to miss.
            raise SubjectErased()
        uow.commit()
    return _read(row)


def _checked(c: Container, *, user_id: str, data: bytes) -> images.Accepted:
    """The photo to store once every limit passed: size, quota, decoded size, decode budget."""
    limit = c.settings.max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(limit)
    with c.uow(write=False) as uow:
        # Refused before the photo is decoded: over quota costs no decoding and no budget.
        limits.ensure_room(uow, user_id, len(data))
    return images.accept(data, images.DecodeLimits.of(c.settings))


def _subject_key(uow: UnitOfWork, user_id: str) -> bytes:
    """The subject's data key; SubjectErased (410) if an erasure destroyed it meanwhile."""
    try:
        return uow.keys.subject_key(user_id)
    except KeyUnavailable:
        # A signed-in subject without a key is one whose erasure has begun (the key goes
        # first): a race with their own erasure, not tampering, and no integrity failure.
        if uow.keys.has_subject_key(user_id):
            raise  # the key exists but would not open: that is an integrity failure
        raise SubjectErased() from None


def owned_upload(
    uow: UnitOfWork, *, user_id: str, upload_id: str, for_update: bool = False
) -> Upload:
    """The upload if it is the user's; another user's id answers exactly like a missing one.
    `for_update` locks the row (PostgreSQL): a unit deleting it meanwhile is waited for."""
    if not is_id(upload_id):
        raise NotFound("upload")
    row = uow.session.get(Upload, upload_id, with_for_update=for_update)
    if row is None or row.owner_id != user_id:
        raise NotFound("upload")
    return row


def read_photo(uow: UnitOfWork, *, user_id: str, upload_id: str) -> bytes:
    """The decrypted photo, for processing its owner asked for (generation); not audited as a
    read by the subject: the processing that uses it is audited instead."""
    row = owned_upload(uow, user_id=user_id, upload_id=upload_id)
    return uow.c.blobs.read_bytes(uow.keys.subject_key(user_id), row.blob_id)


def list_uploads(c: Container, *, user_id: str) -> list[UploadRead]:
    """The user's photos, newest first (what is stored, not the photos themselves)."""
    with c.uow(write=False) as uow:
        ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)
        rows = uow.session.scalars(
            select(Upload).where(Upload.owner_id == user_id).order_by(Upload.created_at.desc())
        ).all()
        return [_read(r) for r in rows]


def get_upload(c: Container, *, user_id: str, upload_id: str) -> UploadRead:
    with c.uow(write=False) as uow:
        row = owned_upload(uow, user_id=user_id, upload_id=upload_id)
        ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)  # as list_uploads: the same facts
        return _read(row)


def open_content(c: Container, *, user_id: str, upload_id: str) -> tuple[str, Iterator[bytes]]:
    """The photo's media type and its decrypted bytes as a stream; the read is audited."""
    with c.uow() as uow:
        row = owned_upload(uow, user_id=user_id, upload_id=upload_id)
        ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)
        dek = uow.keys.subject_key(user_id)
        uow.audit(
            events.CONTENT_READ,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"upload:{upload_id}",
        )
        uow.commit()
        return row.media_type, c.blobs.iter_plain(dek, row.blob_id)


def delete_upload(c: Container, *, user_id: str, upload_id: str) -> None:
    """Delete the photo row and, once that commits, its encrypted blob."""
    with c.uow(write=False) as uow:
        blob_id = owned_upload(uow, user_id=user_id, upload_id=upload_id).blob_id
    # Policy 9.2: an anonymised copy for the corpus, unless they objected or are restricted;
    # made before the write unit, whose lock would stall every writer for the face detection.
    copy = corpus.prepare(c, subject_id=user_id, kind="photo", blob_id=blob_id)
    with c.uow() as uow:
        try:
            row = owned_upload(uow, user_id=user_id, upload_id=upload_id, for_update=True)
        except NotFound:  # deleted meanwhile (by retention, or a second click): offered there
            corpus.discard(c, copy)
            raise
        corpus.stage(uow, copy)
        uow.delete_blob_after_commit(row.blob_id)
        uow.session.delete(row)
        uow.audit(
            events.PHOTO_DELETED,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"upload:{upload_id}",
        )
        uow.commit()
