"""Uploads API: add a photo, list and read yours, download it as uploaded, delete it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from minimaker.entrypoints.http import STORE_ANSWERS, ContainerDep, UserId, private_content
from minimaker.kernel.errors import PayloadTooLarge
from minimaker.uploads import service as uploads

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])


class UploadOut(BaseModel):
    id: str
    media_type: str
    size_bytes: int
    width: int
    height: int
    created_at: datetime


@router.post("", status_code=201, response_model=UploadOut, responses=STORE_ANSWERS)
async def create_upload(
    c: ContainerDep, user_id: UserId, file: Annotated[UploadFile, File()]
) -> Any:
    """Upload a JPEG, PNG or WebP photo (recognised by content); stored encrypted."""
    limit = c.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(limit)
    # Decoding and encrypting are CPU work: keep them off the event loop.
    return asdict(await run_in_threadpool(uploads.create_upload, c, user_id=user_id, data=data))


@router.get("", response_model=list[UploadOut])
def list_uploads(c: ContainerDep, user_id: UserId) -> Any:
    """Your photos, newest first."""
    return [asdict(u) for u in uploads.list_uploads(c, user_id=user_id)]


@router.get("/{upload_id}", response_model=UploadOut)
def get_upload(c: ContainerDep, user_id: UserId, upload_id: str) -> Any:
    """One of your photos."""
    return asdict(uploads.get_upload(c, user_id=user_id, upload_id=upload_id))


@router.get("/{upload_id}/content", responses=STORE_ANSWERS)
def upload_content(c: ContainerDep, user_id: UserId, upload_id: str) -> StreamingResponse:
    """The photo as uploaded, decrypted."""
    media_type, chunks = uploads.open_content(c, user_id=user_id, upload_id=upload_id)
    return private_content(chunks, media_type)


@router.delete("/{upload_id}", status_code=204, responses=STORE_ANSWERS)
def delete_upload(c: ContainerDep, user_id: UserId, upload_id: str) -> Response:
    """Delete one of your photos (models made from it stay)."""
    uploads.delete_upload(c, user_id=user_id, upload_id=upload_id)
    return Response(status_code=204)
