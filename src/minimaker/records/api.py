"""The record of processing (Art. 30(1)) for staff: `GET /api/v1/admin/ropa`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from minimaker.entrypoints.http import ContainerDep, Staff
from minimaker.records import pages
from minimaker.records import service as records
from minimaker.records.rules import ExportFormat, Record

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

_AS_TEXT = {"schema": {"type": "string"}}


@router.get(
    "/ropa",
    response_model=Record,
    responses={200: {"content": {"text/csv": _AS_TEXT, "text/html": _AS_TEXT}}},
)
def get_ropa(
    c: ContainerDep,
    who: Staff,
    format: Annotated[ExportFormat, Query(description="json, csv or html.")] = ExportFormat.JSON,
) -> Any:
    """The record of processing, one entry per purpose with every field of Art. 30(1)(a)-(g),
    generated from the policy in force; needs the role to view it (dpo, admin, engineer)."""
    record = records.record_of_processing(c, by=who)
    if format is ExportFormat.JSON:
        return record
    disposition = f'attachment; filename="{pages.download_name(record, format)}"'
    return Response(
        pages.export(record, format),
        media_type=format.media_type,
        headers={"Content-Disposition": disposition},
    )
