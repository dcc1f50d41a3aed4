"""The report to the supervisory authority (Art. 33(3) GDPR; policy 8.2), built from the
incident register: what the system found (scoping's numbers, the assessment, the phases) and
what only the officer can say (the likely consequences, the measures), recorded as a
`reported` step with its texts sealed like every typed text of the register.

Every Art. 33(3) field is in the report; one not yet known is listed in `missing`, so the
officer sees what is left before sending it, and may send it in phases (Art. 33(4)).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from minimaker.breach import events, notices, views
from minimaker.breach import service as register
from minimaker.breach.assessment import METHOD
from minimaker.breach.rules import MAX_REASON, MAX_TEXT, MIN_REASON, StepKind, check_text
from minimaker.breach.tables import IncidentStep
from minimaker.breach.views import IncidentSummary
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.container import Container

#: Art. 33(3)'s fields, by the name the report gives them.
FIELDS = {
    "nature": "Art. 33(3)(a): the nature of the breach",
    "categories": "Art. 33(3)(a): categories and approximate numbers of subjects and records",
    "dpo_contact": "Art. 33(3)(b): the contact of the data protection officer",
    "likely_consequences": "Art. 33(3)(c): the likely consequences",
    "measures": "Art. 33(3)(d): the measures taken or proposed, and to mitigate effects",
    "delay_reason": "Art. 33(1): the reasons for a notification later than 72 hours",
}


class CategoryLine(BaseModel):
    category: str
    subjects: int
    records: int


class PhaseLine(BaseModel):
    phase: int
    told_at: datetime
    late: bool
    content: str


class Severity(BaseModel):
    method: str
    score: float
    level: str
    reasons: list[str]


class AuthorityReport(BaseModel):
    """The notification of a personal data breach to the supervisory authority."""

    incident_id: str
    generated_at: datetime
    controller: str
    controller_contact: str
    controller_address: str | None
    #: Art. 33(3)(b): the officer's contact (the controller's, where the policy names none).
    dpo_contact: str
    source: str
    processor: str | None
    aware_at: datetime
    deadline_at: datetime
    clock: str
    authority_told_at: datetime | None
    #: Art. 33(3)(a): the nature: the officer's description, and what was exposed.
    nature: str
    exposures: list[dict[str, Any]]
    subjects: int | None
    records: int | None
    categories: list[CategoryLine] | None
    encrypted_under_uncompromised_keys: bool | None
    encryption_note: str | None
    severity: Severity | None
    notify_subjects: bool | None
    exception: str | None
    likely_consequences: str | None
    measures: str | None
    delay_reason_required: bool
    delay_reason: str | None
    phases: list[PhaseLine]
    notices: notices.Delivery
    #: The Art. 33(3) fields not yet known, by name (FIELDS): empty when the report is whole.
    missing: list[str]
    complete: bool


def record_report(
    c: Container,
    by: StaffIdentity,
    incident_id: str,
    *,
    likely_consequences: str,
    measures: str,
    delay_reason: str | None = None,
) -> IncidentSummary:
    """Record the officer's part of the report (Art. 33(3)(c), (d); the reasons for a delay,
    Art. 33(1)) as a `reported` step; the latest one is what the report shows."""
    register.permit(c, by, incident_id)
    texts = {
        "likely_consequences": check_text("likely_consequences", likely_consequences),
        "measures": check_text("measures", measures, maximum=MAX_TEXT),
    }
    if delay_reason is not None:
        texts["delay_reason"] = check_text(
            "delay_reason", delay_reason, minimum=MIN_REASON, maximum=MAX_REASON
        )
    body = {"delay_reason_given": "delay_reason" in texts}
    with c.uow() as uow:
        row = register.find(uow, incident_id, lock=True)
        register.record_step(
            uow, row, StepKind.REPORTED, actor=by.actor, staff_id=by.id, body=body, texts=texts
        )
        uow.commit()
    return register.list_one(c, incident_id)


def authority_report(c: Container, by: StaffIdentity, incident_id: str) -> AuthorityReport:
    """The report as it stands now, audited as read (it opens the sealed texts)."""
    register.permit(c, by, incident_id)
    with c.uow() as uow:
        row = register.find(uow, incident_id)
        steps = register.steps_of(uow, incident_id)
        texts = {s.seq: register.texts_of(c, s) for s in steps if s.text_enc is not None}
        summary = views.summary(row, steps, c.clock.now())
        description = register.description_of(c, row)
        delivery = notices.delivery(uow, incident_id)
        uow.audit(events.REPORT_VIEWED, actor=by.actor, object=f"incident:{row.id}")
        uow.commit()
    return _report(c, summary, steps, texts, description, delivery)


def _latest(steps: Sequence[IncidentStep], *kinds: StepKind) -> IncidentStep | None:
    found = [s for s in steps if s.kind in kinds]
    return found[-1] if found else None


def _report(
    c: Container,
    summary: IncidentSummary,
    steps: Sequence[IncidentStep],
    texts: dict[int, dict[str, str]],
    description: str,
    delivery: notices.Delivery,
) -> AuthorityReport:
    ctl = c.policy.controller
    scoped = _latest(steps, StepKind.SCOPED)
    phases = _phases(steps, texts)
    late = (phases[0].late if phases else summary.minutes_left < 0) and (
        summary.notify_authority is not False
    )
    fields = _fields(c, steps, texts, description)
    missing = [n for n in FIELDS if fields.get(n) is None and (n != "delay_reason" or late)]
    return AuthorityReport(
        incident_id=summary.id,
        generated_at=c.clock.now(),
        controller=ctl.name,
        controller_contact=ctl.contact,
        controller_address=ctl.address,
        source=summary.source,
        processor=summary.processor,
        aware_at=summary.aware_at,
        deadline_at=summary.deadline_at,
        clock=summary.clock,
        authority_told_at=summary.authority_told_at,
        exposures=list(scoped.body["exposures"]) if scoped else [],
        encryption_note=scoped.body["encryption_note"] if scoped else None,
        severity=_severity(_latest(steps, StepKind.ASSESSED)),
        notify_subjects=summary.notify_subjects,
        exception=_exception(steps),
        delay_reason_required=late,
        phases=phases,
        notices=delivery,
        missing=missing,
        complete=not missing,
        **fields,
    )


def _fields(
    c: Container, steps: Sequence[IncidentStep], texts: dict[int, dict[str, str]], nature: str
) -> dict[str, Any]:
    """The Art. 33(3) fields by name (FIELDS): None where not known yet."""
    reported = _latest(steps, StepKind.REPORTED)
    own = texts.get(reported.seq, {}) if reported else {}
    ctl = c.policy.controller
    return {
        "nature": nature,
        "likely_consequences": own.get("likely_consequences"),
        "measures": own.get("measures"),
        "delay_reason": own.get("delay_reason") or _first_phase_delay(steps, texts),
        "dpo_contact": ctl.dpo or ctl.contact,
        **_counts(_latest(steps, StepKind.SCOPED, StepKind.ASSESSED)),
    }


def _counts(step: IncidentStep | None) -> dict[str, Any]:
    """Art. 33(3)(a)'s numbers, from the latest scoping or assessment (None: not known yet)."""
    if step is None:
        empty = ("categories", "subjects", "records", "encrypted_under_uncompromised_keys")
        return dict.fromkeys(empty)
    body = step.body
    return {
        "categories": [CategoryLine(**x) for x in body["categories"]],
        "subjects": int(body["subjects"]),
        "records": int(body["records"]),
        "encrypted_under_uncompromised_keys": bool(body["encrypted_under_uncompromised_keys"]),
    }


def _severity(step: IncidentStep | None) -> Severity | None:
    if step is None:
        return None
    body = step.body
    return Severity(
        method=str(body.get("method", METHOD)),
        score=float(body["score"]),
        level=str(body["level"]),
        reasons=[str(r) for r in body["reasons"]],
    )


def _exception(steps: Sequence[IncidentStep]) -> str | None:
    decided = _latest(steps, StepKind.DECIDED)
    return None if decided is None else decided.body.get("exception")


def _phases(steps: Sequence[IncidentStep], texts: dict[int, dict[str, str]]) -> list[PhaseLine]:
    return [
        PhaseLine(
            phase=int(s.body["phase"]),
            told_at=datetime.fromisoformat(s.body["told_at"]),
            late=bool(s.body["late"]),
            content=texts.get(s.seq, {}).get("content", ""),
        )
        for s in steps
        if s.kind == StepKind.PHASE
    ]


def _first_phase_delay(
    steps: Sequence[IncidentStep], texts: dict[int, dict[str, str]]
) -> str | None:
    first = _latest([s for s in steps if s.kind == StepKind.PHASE][:1], StepKind.PHASE)
    return None if first is None else texts.get(first.seq, {}).get("delay_reason")
