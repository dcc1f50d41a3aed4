"""Archive downloads: the subject's access (Art. 15) and portability (Art. 20) archives."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from minimaker.entrypoints.http import ContainerDep, UserId
from minimaker.rights import archive_content, archives

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such request of yours, or it has no archive."},
    409: {"description": "The request is not completed yet."},
    410: {"description": "The archive expired and was deleted; make a new request."},
}


@router.get(
    "/requests/{request_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **_ERRORS},
)
def download_archive(c: ContainerDep, user_id: UserId, request_id: str) -> StreamingResponse:
    """Download the ZIP archive of your completed access or portability request."""
    archive = archives.open_download(c, user_id=user_id, request_id=request_id)
    headers = {
        # Personal data: never in a shared cache, never sniffed into another type.
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{archive.filename}"',
        "Content-Length": str(archive.size_bytes),
    }
    return StreamingResponse(archive.chunks, media_type="application/zip", headers=headers)


@router.get("/portability-schema.json")
def portability_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of data.json in a portability archive."""
    return archive_content.PORTABILITY_SCHEMA
