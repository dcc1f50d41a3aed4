"""The record of processing on the staff pages: /admin/ropa, and its downloads.

The page and the printable HTML export render the same fragment (`_ropa_record.html`) with
the page shell's autoescaping Jinja2 environment; the export holds no script, no inline style
and fetches nothing, so it reads the same offline and under the CSP of middleware.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from minimaker.entrypoints.page_shell.render import NO_STORE, environment, render
from minimaker.entrypoints.page_shell.staff_session import Staff, StaffVisitor
from minimaker.records import rules
from minimaker.records import service as records
from minimaker.records.rules import ExportFormat, Record

router = APIRouter(prefix="/admin", include_in_schema=False)


def export_html(record: Record) -> str:
    """The record as a printable HTML document of its own."""
    template = environment().get_template("ropa_export.html")
    return template.render(record=record, article=rules.ARTICLE)


def export(record: Record, fmt: ExportFormat) -> str:
    """The record in `fmt`."""
    if fmt is ExportFormat.JSON:
        return rules.to_json(record)
    if fmt is ExportFormat.CSV:
        return rules.to_csv(record)
    return export_html(record)


def download_name(record: Record, fmt: ExportFormat) -> str:
    """The file name of a download: the policy version and the format, nothing personal."""
    version = "".join(ch for ch in record.policy_version if ch.isalnum() or ch in "-._")
    return f"record-of-processing-{version or 'policy'}.{fmt.value}"


@router.get("/ropa")
def ropa_page(v: StaffVisitor, who: Staff) -> Response:
    """The record of processing, one section per purpose, with its downloads."""
    record = records.record_of_processing(v.c, by=who)
    return render(
        v, "admin_ropa.html", title="Record of processing", record=record, article=rules.ARTICLE
    )


@router.get("/ropa/export")
def ropa_export(v: StaffVisitor, who: Staff, format: str = "html") -> Response:
    """The record as a file: html (printable), csv or json."""
    fmt = rules.parse_format(format)
    record = records.record_of_processing(v.c, by=who)
    disposition = f'attachment; filename="{download_name(record, fmt)}"'
    return Response(
        export(record, fmt),
        media_type=fmt.media_type,
        headers={**NO_STORE, "Content-Disposition": disposition},
    )
