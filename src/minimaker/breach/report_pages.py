"""The officer's pages for what an incident's register finds and tells: the scoping form, the
report to the authority (a page, and a printable HTML or JSON download) and the notices to the
people affected. Each form posts to the same use case as the API; a refusal comes back on the
incident's page with its reason (pages.run_step)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.datastructures import FormData

from minimaker.breach import notices, report
from minimaker.breach import service as register
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.pages import run_step, when_field
from minimaker.breach.scope_rows import MAX_BLOBS
from minimaker.entrypoints.page_shell.render import NO_STORE, environment, render
from minimaker.entrypoints.page_shell.session import text_field
from minimaker.entrypoints.page_shell.staff_session import Staff, StaffForm, StaffVisitor
from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.ids import is_id

router = APIRouter(prefix="/admin/incidents", include_in_schema=False)
_FORMATS = {"html": "text/html; charset=utf-8", "json": "application/json"}


def exposure_of(form: FormData) -> Exposure:
    """The one exposure a form gives: its kind, its times (UTC, optional), its reference and
    its blob ids (one per line or space)."""
    try:
        kind = ExposureKind(text_field(form, "kind"))
    except ValueError:
        raise ValidationFailed("kind", "is not one of the choices offered") from None
    blobs = tuple(text_field(form, "blob_ids").split())
    if len(blobs) > MAX_BLOBS or not all(is_id(b) for b in blobs):
        raise ValidationFailed("blob_ids", f"must be up to {MAX_BLOBS} blob ids")
    ref = text_field(form, "ref").strip()
    if len(ref) > 1024:
        raise ValidationFailed("ref", "must be at most 1024 characters")
    start = when_field(form, "start") if text_field(form, "start").strip() else None
    end = when_field(form, "end") if text_field(form, "end").strip() else None
    return Exposure(kind=kind, start=start, end=end, ref=ref, blob_ids=blobs)


@router.post("/{incident_id}/scope")
def scope(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Scope the incident from one exposure the officer describes."""
    return run_step(
        v,
        who,
        incident_id,
        "scoped",
        lambda: register.scope_incident(
            v.c, incident_id=incident_id, exposures=[exposure_of(form)], actor=who
        ),
    )


@router.post("/{incident_id}/report")
def record_report(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Record the likely consequences, the measures and any reasons for a delay."""
    delay = text_field(form, "delay_reason").strip() or None
    return run_step(
        v,
        who,
        incident_id,
        "reported",
        lambda: report.record_report(
            v.c,
            who,
            incident_id,
            likely_consequences=text_field(form, "likely_consequences"),
            measures=text_field(form, "measures"),
            delay_reason=delay,
        ),
    )


@router.post("/{incident_id}/notices")
def notify_subjects(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Queue the notice to every person the exposure (scoped before) finds."""
    parts = {name: text_field(form, name) for name in ("nature", "consequences", "measures")}
    return run_step(
        v,
        who,
        incident_id,
        "notified",
        lambda: notices.notify_subjects(
            v.c,
            who,
            incident_id,
            exposures=[exposure_of(form)],
            text=notices.NoticeText(**parts, advice=text_field(form, "advice")),
        ),
    )


@router.get("/{incident_id}/report")
def report_page(incident_id: str, v: StaffVisitor, who: Staff) -> Response:
    """The report as it stands, what is still missing, and its downloads."""
    found = report.authority_report(v.c, who, incident_id)
    return render(
        v,
        "admin_incident_report.html",
        title=f"Report, incident {found.incident_id[:8]}",
        report=found,
        fields=report.FIELDS,
    )


@router.get("/{incident_id}/report/export")
def report_export(incident_id: str, v: StaffVisitor, who: Staff, format: str = "html") -> Response:
    """The report as a file: html (printable, standalone) or json."""
    if format not in _FORMATS:
        raise ValidationFailed("format", "must be html or json")
    found = report.authority_report(v.c, who, incident_id)
    if format == "json":
        content = found.model_dump_json(indent=2)
    else:
        content = environment().get_template("incident_report_export.html").render(report=found)
    name = f"breach-report-{found.incident_id[:8]}.{format}"  # ids only, never a name
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type=_FORMATS[format], headers=headers)
