"""The breach register on the staff pages: /admin/incidents and one incident's page, each
showing the 72-hour deadline and the time left; the officer's forms post to the same use
cases as the API. Times typed into the forms are UTC (the pages say so)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from starlette.datastructures import FormData

from minimaker.breach import notices
from minimaker.breach import service as register
from minimaker.breach.assessment import (
    Availability,
    Circumstances,
    Confidentiality,
    Identification,
    Integrity,
    Numbers,
)
from minimaker.breach.exposure import CategoryCount, ExposureKind
from minimaker.breach.rules import Exception34, Outcome, Source
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import Visitor, text_field
from minimaker.entrypoints.page_shell.staff_session import Staff, StaffForm, StaffVisitor
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.errors import Conflict, ValidationFailed

router = APIRouter(prefix="/admin/incidents", include_in_schema=False)

_DONE = {
    "opened": "The incident is open; the 72-hour clock runs from the time of awareness.",
    "phase": "The phase is recorded.",
    "assessed": "The assessment is recorded; confirm or override its proposal.",
    "decided": "The decision is recorded.",
    "closed": "The incident is closed; its record is kept.",
    "scoped": "The scoping is recorded: its numbers, never a name or an id of a person.",
    "reported": "Your part of the report to the authority is recorded.",
    "notified": "The notices are queued to every person affected; delivery is tracked below.",
}
_FAILURES = (ValidationFailed, Conflict)
_MAX_COUNT = 10**9


def when_field(form: FormData, name: str) -> datetime:
    """A `datetime-local` field, read as UTC; anything else is refused, naming the field."""
    typed = text_field(form, name).strip()
    try:
        moment = datetime.fromisoformat(typed) if 0 < len(typed) <= 32 else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationFailed(name, "must be a date and time (UTC)")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _count(form: FormData, name: str) -> int:
    typed = text_field(form, name).strip() or "0"
    if not typed.isdigit() or len(typed) > 10 or int(typed) > _MAX_COUNT:
        raise ValidationFailed(name, "must be a whole number")
    return int(typed)


def _choice(kind: Any, form: FormData, name: str, default: str | None = None) -> Any:
    typed = text_field(form, name) or default or ""
    try:
        return kind(typed)
    except ValueError:
        raise ValidationFailed(name, "is not one of the choices offered") from None


@router.get("")
def incidents_page(v: StaffVisitor, who: Staff, done: str | None = None) -> Response:
    """Every incident with its deadline and time left; the form to open one."""
    return _list_page(v, who, notice=_DONE.get(done or ""))


def _list_page(
    v: Visitor, who: StaffIdentity, *, status: int = 200, notice: str | None = None, **ctx: Any
) -> Response:
    items = register.list_incidents(v.c, who)
    context: dict[str, Any] = {"error": None, "values": {}, **ctx}
    return render(
        v,
        "admin_incidents.html",
        title="Incidents",
        status=status,
        items=items,
        overdue=[i for i in items if i.overdue],
        sources=[s.value for s in Source],
        processors=sorted(v.c.policy.processors),
        notice=notice,
        **context,
    )


@router.post("")
def open_incident(form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Open an incident from the form."""
    values = {f: text_field(form, f) for f in ("aware_at", "description", "source", "processor")}
    try:
        made = register.open_incident(
            v.c,
            who,
            aware_at=when_field(form, "aware_at"),
            description=values["description"],
            source=values["source"],
            processor=values["processor"].strip() or None,
        )
    except ValidationFailed as exc:
        return _list_page(v, who, status=exc.status, values=values, **form_failure(exc))
    return see_other(f"/admin/incidents/{made.id}?done=opened")


@router.get("/{incident_id}")
def incident_page(
    incident_id: str, v: StaffVisitor, who: Staff, done: str | None = None
) -> Response:
    """One incident: its clock, description and history, and the officer's forms."""
    return _incident_page(v, who, incident_id, notice=_DONE.get(done or ""))


def _incident_page(
    v: Visitor,
    who: StaffIdentity,
    incident_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    item = register.get_incident(v.c, who, incident_id)
    return render(
        v,
        "admin_incident.html",
        title=f"Incident {item.id[:8]}",
        status=status,
        item=item,
        notice=notice,
        error=error,
        categories=list(v.c.policy.categories),
        identification=[e.value for e in Identification],
        confidentiality=[e.value for e in Confidentiality],
        integrity=[e.value for e in Integrity],
        availability=[e.value for e in Availability],
        exceptions=[e.value for e in Exception34],
        kinds=[e.value for e in ExposureKind],
        delivery=notices.notice_delivery(v.c, who, incident_id),
    )


def run_step(v: Visitor, who: StaffIdentity, incident_id: str, done: str, run: Any) -> Response:
    """Run one step; a refusal comes back on the incident's page with its reason (a notice
    `done` names is shown once it is recorded)."""
    try:
        run()
    except _FAILURES as exc:
        return _incident_page(v, who, incident_id, status=exc.status, error=exc.message)
    return see_other(f"/admin/incidents/{incident_id}?done={done}")


@router.post("/{incident_id}/phases")
def add_phase(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Record a phase of what the authority was told, and when (Art. 33(4))."""
    delay = text_field(form, "delay_reason").strip() or None
    return run_step(
        v,
        who,
        incident_id,
        "phase",
        lambda: register.add_phase(
            v.c,
            who,
            incident_id,
            told_at=when_field(form, "told_at"),
            content=text_field(form, "content"),
            delay_reason=delay,
        ),
    )


def _numbers(form: FormData, categories: list[str]) -> Numbers:
    counts = tuple(
        CategoryCount(name, _count(form, f"subjects_{name}"), _count(form, f"records_{name}"))
        for name in categories
    )
    return Numbers(
        categories=tuple(c for c in counts if c.subjects or c.records),
        subjects=_count(form, "subjects"),
        encrypted_under_uncompromised_keys=text_field(form, "encrypted") == "yes",
    )


def _circumstances(form: FormData) -> Circumstances:
    return Circumstances(
        identification=_choice(Identification, form, "identification"),
        confidentiality=_choice(Confidentiality, form, "confidentiality", "none"),
        integrity=_choice(Integrity, form, "integrity", "none"),
        availability=_choice(Availability, form, "availability", "none"),
        malicious=text_field(form, "malicious") == "yes",
    )


@router.post("/{incident_id}/assessment")
def assess(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Score the breach from the counts and circumstances entered."""
    categories = list(v.c.policy.categories)
    return run_step(
        v,
        who,
        incident_id,
        "assessed",
        lambda: register.assess(
            v.c, incident_id, _numbers(form, categories), _circumstances(form), who
        ),
    )


def _flag(form: FormData, name: str) -> bool | None:
    typed = text_field(form, name)
    return {"yes": True, "no": False}.get(typed)


@router.post("/{incident_id}/decision")
def decide(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Confirm or override the latest proposal, with a reason."""
    return run_step(
        v,
        who,
        incident_id,
        "decided",
        lambda: register.decide(
            v.c,
            who,
            incident_id,
            outcome=_choice(Outcome, form, "outcome").value,
            notify_authority=_flag(form, "notify_authority"),
            notify_subjects=_flag(form, "notify_subjects"),
            reason=text_field(form, "reason").strip() or None,
            exception=text_field(form, "exception") or None,
        ),
    )


@router.post("/{incident_id}/close")
def close(incident_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Close the incident (a decision must be recorded)."""
    note = text_field(form, "note").strip() or None
    return run_step(
        v, who, incident_id, "closed", lambda: register.close(v.c, who, incident_id, note=note)
    )
