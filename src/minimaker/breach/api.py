"""The breach register for the privacy officer: `/api/v1/admin/incidents` (Art. 33, 34).

Each answer carries the 72-hour deadline and the time left (or overdue). Only the officer may
use these routes (Action.MANAGE_INCIDENTS); other roles get 403 and the refusal is audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from minimaker.breach import notices, report
from minimaker.breach import service as register
from minimaker.breach.assessment import (
    Availability,
    Circumstances,
    Confidentiality,
    Identification,
    Integrity,
    Level,
    Numbers,
)
from minimaker.breach.exposure import CategoryCount, Exposure, ExposureKind
from minimaker.breach.notices import Delivery
from minimaker.breach.report import AuthorityReport
from minimaker.breach.rules import (
    MAX_DESCRIPTION,
    MAX_REASON,
    MAX_TEXT,
    Exception34,
    Outcome,
    Source,
)
from minimaker.breach.scope_rows import MAX_BLOBS
from minimaker.breach.views import IncidentDetail, IncidentSummary
from minimaker.entrypoints.http import ContainerDep, Staff
from minimaker.kernel.errors import ValidationFailed

router = APIRouter(prefix="/api/v1/admin/incidents", tags=["admin"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The incident is closed, or not ready for this step."}
}
_MAX_COUNT = 10**9
_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_ID = r"^[0-9a-f]{32}$"
_MAX_EXPOSURES = 16
_ENCRYPTED = "encrypted_under_uncompromised_keys"
#: Scoping's own answers: a backup file that is not one (400), an unknown staff member (404).
_SCOPE_ANSWERS: dict[int | str, dict[str, Any]] = {
    **_CONFLICT,
    400: {"description": "The backup named is not a readable backup file."},
}


class _In(BaseModel):
    # Enums are taken by value, as JSON carries them (Field(strict=False) on each).
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenIn(_In):
    aware_at: Annotated[AwareDatetime, Field(strict=False)]
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    source: Annotated[Source, Field(strict=False)]
    processor: str | None = Field(default=None, max_length=64, pattern=_NAME)


class PhaseIn(_In):
    told_at: Annotated[AwareDatetime, Field(strict=False)]
    content: str = Field(min_length=1, max_length=MAX_TEXT)
    delay_reason: str | None = Field(default=None, min_length=10, max_length=MAX_REASON)


class CategoryIn(_In):
    category: str = Field(max_length=64, pattern=_NAME)
    subjects: int = Field(ge=0, le=_MAX_COUNT)
    records: int = Field(ge=0, le=_MAX_COUNT)


class CircumstancesIn(_In):
    identification: Annotated[Identification, Field(strict=False)]
    confidentiality: Annotated[Confidentiality, Field(strict=False)] = Confidentiality.NONE
    integrity: Annotated[Integrity, Field(strict=False)] = Integrity.NONE
    availability: Annotated[Availability, Field(strict=False)] = Availability.NONE
    malicious: bool = False
    #: Category -> its ENISA adjustment of the data processing context.
    adjustments: dict[
        Annotated[str, Field(max_length=64, pattern=_NAME)], Annotated[int, Field(ge=-3, le=3)]
    ] = Field(default_factory=dict, max_length=32)


class AssessIn(_In):
    """The circumstances of the breach, and the scope's numbers as the officer has them: all
    three of them, or none for the latest scoping's (POST .../scope)."""

    categories: list[CategoryIn] | None = Field(default=None, min_length=1, max_length=32)
    subjects: int | None = Field(default=None, ge=0, le=_MAX_COUNT)
    encrypted_under_uncompromised_keys: bool | None = None
    circumstances: CircumstancesIn


class ExposureIn(_In):
    """One thing that was exposed: `ref` is the staff id (staff_account), the location
    (database, blobs, backup:<file> in MINIMAKER_BACKUP_DIR) or the key (subject:<id>,
    master:<key id>)."""

    kind: Annotated[ExposureKind, Field(strict=False)]
    start: Annotated[AwareDatetime | None, Field(strict=False)] = None
    end: Annotated[AwareDatetime | None, Field(strict=False)] = None
    ref: str = Field(default="", max_length=1024)
    blob_ids: list[Annotated[str, Field(pattern=_ID)]] = Field(
        default_factory=list, max_length=MAX_BLOBS
    )


class ScopeIn(_In):
    exposures: list[ExposureIn] = Field(min_length=1, max_length=_MAX_EXPOSURES)


class ReportIn(_In):
    """The officer's part of the Art. 33(3) report."""

    likely_consequences: str = Field(min_length=1, max_length=MAX_TEXT)
    measures: str = Field(min_length=1, max_length=MAX_TEXT)
    delay_reason: str | None = Field(default=None, min_length=10, max_length=MAX_REASON)


class NoticesIn(_In):
    """The exposures scoped (scoping runs again: the register keeps no subject id) and the
    notice's parts, in plain language, at least 10 characters each."""

    exposures: list[ExposureIn] = Field(min_length=1, max_length=_MAX_EXPOSURES)
    nature: str = Field(min_length=10, max_length=MAX_TEXT)
    consequences: str = Field(min_length=10, max_length=MAX_TEXT)
    measures: str = Field(min_length=10, max_length=MAX_TEXT)
    advice: str = Field(min_length=10, max_length=MAX_TEXT)


class CategoryCountOut(BaseModel):
    category: str
    subjects: int
    records: int


class ScopedOut(BaseModel):
    """What scoping found, as the `scoped` step records it: numbers, never a subject id."""

    subjects: int
    records: int
    categories: list[CategoryCountOut]
    encrypted_under_uncompromised_keys: bool
    encryption_note: str
    notes: list[str]
    computed_at: datetime


class DecideIn(_In):
    outcome: Annotated[Outcome, Field(strict=False)]
    notify_authority: bool | None = None
    notify_subjects: bool | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=MAX_REASON)
    #: Art. 34(3): why the subjects of a high-risk breach need not be told, if they are not.
    exception: Annotated[Exception34 | None, Field(strict=False)] = None


class CloseIn(_In):
    note: str | None = Field(default=None, min_length=1, max_length=MAX_REASON)


class ProposalOut(BaseModel):
    """ENISA's severity, SE = DPC x EI + CB, and the proposal whether to notify."""

    method: str
    dpc: int
    ei: float
    cb: float
    score: float
    level: Level
    notify_authority: bool
    notify_subjects: bool
    exception: str | None
    reasons: list[str]


@router.get("", response_model=list[IncidentSummary])
def list_incidents(c: ContainerDep, who: Staff) -> Any:
    """Every incident with its deadline, time left and status; open ones first, soonest
    deadline first."""
    return register.list_incidents(c, who)


@router.post("", response_model=IncidentSummary, status_code=status.HTTP_201_CREATED)
def open_incident(c: ContainerDep, who: Staff, body: OpenIn) -> Any:
    """Open an incident: the time of awareness (now or earlier) starts the 72-hour clock."""
    return register.open_incident(
        c,
        who,
        aware_at=body.aware_at,
        description=body.description,
        source=body.source.value,
        processor=body.processor,
    )


@router.get("/{incident_id}", response_model=IncidentDetail)
def get_incident(c: ContainerDep, who: Staff, incident_id: str) -> Any:
    """One incident with its description and every step."""
    return register.get_incident(c, who, incident_id)


@router.post("/{incident_id}/phases", response_model=IncidentSummary, responses=_CONFLICT)
def add_phase(c: ContainerDep, who: Staff, incident_id: str, body: PhaseIn) -> Any:
    """Art. 33(4): what the authority was told in this phase, and when; a first phase after
    the 72 hours needs `delay_reason` (Art. 33(1))."""
    return register.add_phase(
        c,
        who,
        incident_id,
        told_at=body.told_at,
        content=body.content,
        delay_reason=body.delay_reason,
    )


@router.post("/{incident_id}/scope", response_model=ScopedOut, responses=_SCOPE_ANSWERS)
def scope(c: ContainerDep, who: Staff, incident_id: str, body: ScopeIn) -> Any:
    """Scope the incident from the system's own records: the affected subjects' numbers per
    category, and whether the data was encrypted under keys not compromised (Art. 34(3)(a));
    recorded as a `scoped` step. Subject ids are neither answered nor kept."""
    exposures = _exposures(body.exposures)
    found = register.scope_incident(c, incident_id=incident_id, exposures=exposures, actor=who)
    return ScopedOut(
        subjects=found.subjects,
        records=found.records,
        categories=[CategoryCountOut(**asdict(x)) for x in found.categories],
        encrypted_under_uncompromised_keys=found.encrypted_under_uncompromised_keys,
        encryption_note=found.encryption_note,
        notes=list(found.notes),
        computed_at=found.computed_at,
    )


def _exposures(given: list[ExposureIn]) -> list[Exposure]:
    return [
        Exposure(kind=e.kind, start=e.start, end=e.end, ref=e.ref, blob_ids=tuple(e.blob_ids))
        for e in given
    ]


@router.post("/{incident_id}/assessment", response_model=ProposalOut, responses=_CONFLICT)
def assess(c: ContainerDep, who: Staff, incident_id: str, body: AssessIn) -> Any:
    """Score the severity (ENISA 2013) and propose whether to tell the authority and the
    subjects; recorded as an `assessed` step with the numbers: those given, or with none
    given the latest scoping's (409 if the incident was never scoped)."""
    numbers = _numbers(body)
    given = body.circumstances
    circumstances = Circumstances(
        identification=given.identification,
        confidentiality=given.confidentiality,
        integrity=given.integrity,
        availability=given.availability,
        malicious=given.malicious,
        adjustments=given.adjustments,
    )
    proposal = register.assess(c, incident_id, numbers, circumstances, who)
    return ProposalOut(
        method=proposal.method,
        dpc=proposal.dpc,
        ei=proposal.ei,
        cb=proposal.cb,
        score=proposal.score,
        level=proposal.level,
        notify_authority=proposal.notify_authority,
        notify_subjects=proposal.notify_subjects,
        exception=proposal.exception,
        reasons=list(proposal.reasons),
    )


def _numbers(body: AssessIn) -> Numbers | None:
    """The numbers given, all three; None when none is (the latest scoping's are used)."""
    categories, subjects = body.categories, body.subjects
    encrypted = body.encrypted_under_uncompromised_keys
    if categories is None and subjects is None and encrypted is None:
        return None
    if categories is None or subjects is None or encrypted is None:
        parts = {"categories": categories, "subjects": subjects}
        missing = next((k for k, v in parts.items() if v is None), _ENCRYPTED)
        raise ValidationFailed(missing, "give the numbers all together, or none of them")
    return Numbers(
        categories=tuple(CategoryCount(x.category, x.subjects, x.records) for x in categories),
        subjects=subjects,
        encrypted_under_uncompromised_keys=encrypted,
    )


@router.post("/{incident_id}/decision", response_model=IncidentSummary, responses=_CONFLICT)
def decide(c: ContainerDep, who: Staff, incident_id: str, body: DecideIn) -> Any:
    """Confirm the latest proposal, or override it with a reason (at least 10 characters);
    `exception` records the Art. 34(3) exception where the subjects of a high-risk breach are
    not told (a confirmed proposal's own is recorded without it)."""
    return register.decide(
        c,
        who,
        incident_id,
        outcome=body.outcome.value,
        notify_authority=body.notify_authority,
        notify_subjects=body.notify_subjects,
        reason=body.reason,
        exception=None if body.exception is None else body.exception.value,
    )


@router.post("/{incident_id}/close", response_model=IncidentSummary, responses=_CONFLICT)
def close(c: ContainerDep, who: Staff, incident_id: str, body: CloseIn) -> Any:
    """Close the incident; refused (409) until a decision on notification is recorded."""
    return register.close(c, who, incident_id, note=body.note)


@router.get("/{incident_id}/report", response_model=AuthorityReport)
def get_report(c: ContainerDep, who: Staff, incident_id: str) -> Any:
    """The report to the supervisory authority (Art. 33(3)) as it stands: every field, and
    in `missing` those not known yet."""
    return report.authority_report(c, who, incident_id)


@router.post("/{incident_id}/report", response_model=IncidentSummary, responses=_CONFLICT)
def record_report(c: ContainerDep, who: Staff, incident_id: str, body: ReportIn) -> Any:
    """Record the likely consequences, the measures and any reasons for a delay."""
    return report.record_report(
        c,
        who,
        incident_id,
        likely_consequences=body.likely_consequences,
        measures=body.measures,
        delay_reason=body.delay_reason,
    )


@router.get("/{incident_id}/notices", response_model=Delivery)
def get_notices(c: ContainerDep, who: Staff, incident_id: str) -> Any:
    """How the notices to the people affected are faring: queued, sent, pending, failed."""
    return notices.notice_delivery(c, who, incident_id)


@router.post("/{incident_id}/notices", response_model=Delivery, responses=_SCOPE_ANSWERS)
def notify_subjects(c: ContainerDep, who: Staff, incident_id: str, body: NoticesIn) -> Any:
    """Queue the notice (Art. 34) to every affected subject not yet sent one; 409 unless the
    decision in force is to tell them and the exposures find the latest scoping's number."""
    text = notices.NoticeText(
        nature=body.nature,
        consequences=body.consequences,
        measures=body.measures,
        advice=body.advice,
    )
    return notices.notify_subjects(
        c, who, incident_id, exposures=_exposures(body.exposures), text=text
    )
