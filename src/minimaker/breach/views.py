"""What the register shows of an incident (the API's and the pages' values), and the step
bodies it writes: numbers, flags and codes, never a subject id or a typed text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from minimaker.breach.assessment import HIGH_RISK, Circumstances, Numbers, Proposal
from minimaker.breach.exposure import CategoryCount, Exposure, ExposureKind, Scope
from minimaker.breach.rules import (
    MAX_REASON,
    MIN_REASON,
    Outcome,
    StepKind,
    check_exception,
    check_text,
    clock,
)
from minimaker.breach.scope_stores import SUBJECT_PREFIX
from minimaker.breach.tables import Incident, IncidentStep
from minimaker.kernel.errors import ValidationFailed


class IncidentSummary(BaseModel):
    """An incident in the register, with its 72-hour clock."""

    id: str
    status: str
    source: str
    processor: str | None
    aware_at: datetime
    opened_at: datetime
    #: Art. 33(1): aware_at + 72 hours.
    deadline_at: datetime
    #: Minutes to the deadline; negative once it has passed.
    minutes_left: int
    #: The deadline passed and the authority was neither told nor decided not to be.
    overdue: bool
    #: The clock in words: "71 h 59 min left", "overdue by 2 h 05 min", ...
    clock: str
    #: When the authority was first told (the first phase), if it was.
    authority_told_at: datetime | None
    #: The latest decision: whether the authority and the subjects are to be told.
    notify_authority: bool | None
    notify_subjects: bool | None
    closed_at: datetime | None
    steps: int


class StepOut(BaseModel):
    seq: int
    kind: str
    at: datetime
    staff_id: str | None
    body: dict[str, Any]
    #: What staff typed with the step (a phase's content, a reason), opened for the officer.
    texts: dict[str, str]


class IncidentDetail(IncidentSummary):
    description: str
    history: list[StepOut]


def _first_phase(steps: Sequence[IncidentStep]) -> datetime | None:
    for step in steps:
        if step.kind == StepKind.PHASE:
            return datetime.fromisoformat(step.body["told_at"])
    return None


def _decision(steps: Sequence[IncidentStep]) -> Mapping[str, Any] | None:
    decided = [s for s in steps if s.kind == StepKind.DECIDED]
    return decided[-1].body if decided else None


def summary(row: Incident, steps: Sequence[IncidentStep], now: datetime) -> IncidentSummary:
    """The incident's summary at `now`."""
    return IncidentSummary(**_summary_fields(row, steps, now))


def _summary_fields(row: Incident, steps: Sequence[IncidentStep], now: datetime) -> dict[str, Any]:
    told = _first_phase(steps)
    decision = _decision(steps)
    required = decision is None or bool(decision["notify_authority"])
    # A closed incident's clock stopped when it closed.
    shown = clock(row.deadline_at, row.closed_at or now, told_at=told, required=required)
    return {
        "id": row.id,
        "status": row.status,
        "source": row.source,
        "processor": row.processor,
        "aware_at": row.aware_at,
        "opened_at": row.opened_at,
        "deadline_at": shown.deadline_at,
        "minutes_left": shown.minutes_left,
        "overdue": shown.overdue,
        "clock": shown.text,
        "authority_told_at": told,
        "notify_authority": None if decision is None else decision["notify_authority"],
        "notify_subjects": None if decision is None else decision["notify_subjects"],
        "closed_at": row.closed_at,
        "steps": row.steps,
    }


def detail(
    row: Incident,
    steps: Sequence[IncidentStep],
    now: datetime,
    *,
    description: str,
    texts: Mapping[int, dict[str, str]],
) -> IncidentDetail:
    """The incident with its description and history, the texts already opened."""
    history = [
        StepOut(
            seq=s.seq,
            kind=s.kind,
            at=s.at,
            staff_id=s.staff_id,
            body=s.body,
            texts=texts.get(s.seq, {}),
        )
        for s in steps
    ]
    return IncidentDetail(
        **_summary_fields(row, steps, now), description=description, history=history
    )


def assessed_body(
    numbers: Numbers, circumstances: Circumstances, proposal: Proposal
) -> dict[str, Any]:
    """An `assessed` step's body: the counts, the circumstances, every term, the proposal."""
    return {
        "method": proposal.method,
        "subjects": numbers.subjects,
        "records": numbers.records,
        "categories": [asdict(c) for c in numbers.categories],
        "encrypted_under_uncompromised_keys": numbers.encrypted_under_uncompromised_keys,
        "circumstances": {
            "identification": circumstances.identification.value,
            "confidentiality": circumstances.confidentiality.value,
            "integrity": circumstances.integrity.value,
            "availability": circumstances.availability.value,
            "malicious": circumstances.malicious,
            "adjustments": dict(circumstances.adjustments),
        },
        "dpc": proposal.dpc,
        "ei": proposal.ei,
        "cb": proposal.cb,
        "score": proposal.score,
        "level": proposal.level.value,
        "category_scores": [
            {"category": s.category, "class": s.data_class.value, "dpc": s.dpc}
            for s in proposal.categories
        ],
        "proposal": {
            "notify_authority": proposal.notify_authority,
            "notify_subjects": proposal.notify_subjects,
            "exception": proposal.exception,
        },
        "reasons": list(proposal.reasons),
    }


def scoped_body(found: Scope) -> dict[str, Any]:
    """A `scoped` step's body: what was exposed and the numbers scoping found. Never a
    subject id: the ids are not kept (the notices re-run scoping), a subject's key is kept
    as `subject:*` and blobs as their count."""
    return {
        "exposures": [_exposure(e) for e in found.exposures],
        "subjects": found.subjects,
        "records": found.records,
        "categories": [asdict(c) for c in found.categories],
        "encrypted_under_uncompromised_keys": found.encrypted_under_uncompromised_keys,
        "encryption_note": found.encryption_note,
        "notes": list(found.notes),
        "computed_at": found.computed_at.isoformat(),
    }


def _exposure(e: Exposure) -> dict[str, Any]:
    ref: str | None = e.ref or None
    if e.kind is ExposureKind.KEY and e.ref.startswith(SUBJECT_PREFIX):
        ref = SUBJECT_PREFIX + "*"  # the subject's id: never written to the register
    return {
        "kind": e.kind.value,
        "start": None if e.start is None else e.start.isoformat(),
        "end": None if e.end is None else e.end.isoformat(),
        "ref": ref,
        "blobs": len(e.blob_ids),
    }


def scoped_numbers(body: Mapping[str, Any]) -> Numbers:
    """The numbers a `scoped` step recorded, for an assessment the officer gave none for."""
    return Numbers(
        categories=tuple(
            CategoryCount(str(c["category"]), int(c["subjects"]), int(c["records"]))
            for c in body["categories"]
        ),
        subjects=int(body["subjects"]),
        encrypted_under_uncompromised_keys=bool(body["encrypted_under_uncompromised_keys"]),
    )


def decision(
    outcome: Outcome,
    assessed: Mapping[str, Any],
    notify_authority: bool | None,
    notify_subjects: bool | None,
    reason: str | None,
    exception: str | None = None,
) -> dict[str, Any]:
    """The decided values: the proposal's when confirmed; when overridden, the officer's,
    which must differ from it, with a reason (Art. 33(5): the reasoning is documented); and
    the Art. 34(3) exception that spares the subjects' notice, if one does (a confirmed
    proposal's own, or the officer's)."""
    proposed = assessed["proposal"]
    wanted = {"notify_authority": notify_authority, "notify_subjects": notify_subjects}
    proposal = {k: bool(proposed[k]) for k in wanted}
    if reason is not None:
        check_text("reason", reason, maximum=MAX_REASON)
    if outcome is Outcome.CONFIRM:
        for name, value in wanted.items():
            if value is not None and value != proposal[name]:
                raise ValidationFailed(name, "differs from the proposal: override it instead")
        final = proposal
        exception = exception or proposed.get("exception")
    else:
        for name, value in wanted.items():
            if value is None:
                raise ValidationFailed(name, "is required to override the proposal")
        if wanted == proposal and exception == proposed.get("exception"):
            raise ValidationFailed("outcome", "the values are the proposal's: confirm it instead")
        check_text("reason", reason, minimum=MIN_REASON, maximum=MAX_REASON)
        final = {k: bool(v) for k, v in wanted.items()}
    found = check_exception(
        exception,
        notify_subjects=final["notify_subjects"],
        high_risk=assessed["level"] in HIGH_RISK,
        encrypted=bool(assessed["encrypted_under_uncompromised_keys"]),
    )
    chosen = None if found is None else found.value
    return {**final, "exception": chosen, "proposed": dict(proposed)}
