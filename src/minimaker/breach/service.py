"""The incident register's use cases (policy 8; Art. 33, 34): open an incident, record its
steps (its scoping, phases, the assessment, the decision), close it; each in one unit of work
with its audit. Scoping's subject ids are never kept: a `scoped` step holds the numbers.

Only the privacy officer (Action.MANAGE_INCIDENTS) uses them. What staff type freely (the
description, a phase's content, a reason) may name people: it is sealed under the register's
service key (AES-256-GCM, bound to the incident and the step) and opened only for the views;
the audit holds `incident:<id>` and the step's kind, nothing typed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.breach import events, views
from minimaker.breach import scope as scoping
from minimaker.breach.assessment import Circumstances, Numbers, Proposal
from minimaker.breach.assessment import assess as score
from minimaker.breach.exposure import Exposure, Scope
from minimaker.breach.rules import (
    MAX_DESCRIPTION,
    MAX_REASON,
    MIN_REASON,
    Outcome,
    Source,
    Status,
    StepKind,
    authority_deadline,
    check_aware_at,
    check_close,
    check_open,
    check_phase_time,
    check_source,
    check_text,
    needs_delay_reason,
    status_after,
)
from minimaker.breach.tables import Incident, IncidentStep
from minimaker.breach.views import IncidentDetail, IncidentSummary
from minimaker.kernel.actors import Actor, StaffIdentity
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, NotFound, ValidationFailed
from minimaker.kernel.ids import audited_id, is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.staff import service as staff
from minimaker.staff.rules import Action

SEAL_KEY = "incident_sealing"  # the name of a keyring secret, not a secret
_DESCRIPTION = "incident-description"


def _key(c: Container) -> bytes:
    return c.secret(SEAL_KEY)


def _seal(c: Container, incident_id: str, field: str, texts: Mapping[str, str]) -> bytes:
    return seal_field(_key(c), subject_id=incident_id, field=field, value=json.dumps(texts))


def open_texts(c: Container, incident_id: str, field: str, sealed: bytes) -> dict[str, str]:
    """The texts sealed with a step (or the description), bound to where they were written."""
    opened = json.loads(open_field(_key(c), subject_id=incident_id, field=field, sealed=sealed))
    return {str(k): str(v) for k, v in opened.items()}


def _step_field(seq: int) -> str:
    return f"incident-step-{seq}"


def texts_of(c: Container, step: IncidentStep) -> dict[str, str]:
    """What staff typed with a step, opened (empty if nothing was)."""
    if step.text_enc is None:
        return {}
    return open_texts(c, step.incident_id, _step_field(step.seq), step.text_enc)


def description_of(c: Container, row: Incident) -> str:
    """The incident's description, opened."""
    return open_texts(c, row.id, _DESCRIPTION, row.description_enc)["description"]


def permit(c: Container, by: StaffIdentity, incident_id: object = None) -> None:
    where = "breach:register" if incident_id is None else audited_id("incident", incident_id)
    staff.permit(c, by, Action.MANAGE_INCIDENTS, object=where)


def find(uow: UnitOfWork, incident_id: str, *, lock: bool = False) -> Incident:
    """The incident (locked for this unit: its next seq is ours), or NotFound."""
    if not is_id(incident_id):
        raise NotFound("incident")
    row = uow.session.get(Incident, incident_id, with_for_update=lock)
    if row is None:
        raise NotFound("incident")
    return row


def record_step(
    uow: UnitOfWork,
    row: Incident,
    kind: StepKind,
    *,
    actor: Actor,
    staff_id: str | None,
    body: Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
) -> int:
    """Append one step to a locked incident, audited; returns its seq. The body must hold
    numbers, flags and codes only; free text goes in `texts`, sealed."""
    check_open(Status(row.status))
    seq = row.steps + 1
    sealed = _seal(uow.c, row.id, _step_field(seq), texts) if texts else None
    uow.session.add(
        IncidentStep(
            incident_id=row.id,
            seq=seq,
            kind=kind.value,
            at=uow.c.clock.now(),
            staff_id=staff_id,
            body=dict(body),
            text_enc=sealed,
        )
    )
    row.steps = seq
    row.status = status_after(Status(row.status), kind).value
    uow.audit(events.STEP[kind], actor=actor, object=f"incident:{row.id}")
    return seq


def open_incident(
    c: Container,
    by: StaffIdentity,
    *,
    aware_at: datetime,
    description: str,
    source: str,
    processor: str | None = None,
) -> IncidentSummary:
    """Open an incident: the 72-hour clock runs from `aware_at` (now or earlier)."""
    permit(c, by)
    found = check_source(source, processor, set(c.policy.processors))
    with c.uow() as uow:
        incident_id = insert_incident(
            uow,
            aware_at=aware_at,
            description=description,
            source=found,
            by=by.actor,
            staff_id=by.id,
            processor=processor,
        )
        uow.commit()
    return list_one(c, incident_id)


def insert_incident(
    uow: UnitOfWork,
    *,
    aware_at: datetime,
    description: str,
    source: Source,
    by: Actor,
    staff_id: str | None,
    processor: str | None = None,
) -> str:
    """Insert an incident and its `opened` step in the caller's unit; returns its id. The
    system (a detection rule, breach/detection.py) opens one with staff_id None."""
    now = uow.c.clock.now()
    aware = check_aware_at(aware_at, now)
    text = check_text("description", description, maximum=MAX_DESCRIPTION)
    incident_id = uuid.uuid4().hex
    deadline = authority_deadline(aware)
    row = Incident(
        id=incident_id,
        opened_at=now,
        aware_at=aware,
        deadline_at=deadline,
        source=source.value,
        processor=processor or None,
        description_enc=_seal(uow.c, incident_id, _DESCRIPTION, {"description": text}),
        opened_by=staff_id,
        status=Status.OPEN.value,
        steps=0,
    )
    uow.session.add(row)
    uow.session.flush()
    body = {"source": source.value, "processor": processor or None}
    body |= {"aware_at": aware.isoformat(), "deadline_at": deadline.isoformat()}
    record_step(uow, row, StepKind.OPENED, actor=by, staff_id=staff_id, body=body)
    return incident_id


def list_one(c: Container, incident_id: str) -> IncidentSummary:
    """One incident's summary, unaudited: for a use case's answer after its own audited work."""
    with c.uow(write=False) as uow:
        row = uow.session.get(Incident, incident_id)
        if row is None:
            raise NotFound("incident")
        return views.summary(row, steps_of(uow, incident_id), c.clock.now())


def steps_of(uow: UnitOfWork, incident_id: str) -> list[IncidentStep]:
    query = select(IncidentStep).where(IncidentStep.incident_id == incident_id)
    return list(uow.session.scalars(query.order_by(IncidentStep.seq)))


def list_incidents(c: Container, by: StaffIdentity) -> list[IncidentSummary]:
    """Every incident, open ones first, soonest deadline first; closed ones after."""
    permit(c, by)
    with c.uow() as uow:
        rows = list(uow.session.scalars(select(Incident).order_by(Incident.deadline_at)))
        steps: dict[str, list[IncidentStep]] = {r.id: [] for r in rows}
        for step in uow.session.scalars(select(IncidentStep).order_by(IncidentStep.seq)):
            steps.setdefault(step.incident_id, []).append(step)
        now = c.clock.now()
        found = [views.summary(r, steps[r.id], now) for r in rows]
        uow.audit(events.REGISTER_VIEWED, actor=by.actor, object="breach:register")
        uow.commit()
    return sorted(found, key=lambda s: (s.status == Status.CLOSED, s.deadline_at))


def get_incident(c: Container, by: StaffIdentity, incident_id: str) -> IncidentDetail:
    """One incident with its description and every step, the sealed texts opened."""
    permit(c, by, incident_id)
    with c.uow() as uow:
        row = uow.session.get(Incident, incident_id) if is_id(incident_id) else None
        if row is None:
            raise NotFound("incident")
        steps = steps_of(uow, incident_id)
        description = description_of(c, row)
        texts = {s.seq: texts_of(c, s) for s in steps if s.text_enc is not None}
        detail = views.detail(row, steps, c.clock.now(), description=description, texts=texts)
        uow.audit(events.INCIDENT_VIEWED, actor=by.actor, object=f"incident:{row.id}")
        uow.commit()
    return detail


def add_phase(
    c: Container,
    by: StaffIdentity,
    incident_id: str,
    *,
    told_at: datetime,
    content: str,
    delay_reason: str | None = None,
) -> IncidentSummary:
    """Art. 33(4): record what the authority was told in this phase, and when; a first
    phase after the 72 hours needs the reasons for the delay (Art. 33(1))."""
    permit(c, by, incident_id)
    told_text = check_text("content", content)
    with c.uow() as uow:
        row = find(uow, incident_id, lock=True)
        check_open(Status(row.status))
        when = check_phase_time(told_at, aware_at=row.aware_at, now=c.clock.now())
        earlier = sum(1 for s in steps_of(uow, row.id) if s.kind == StepKind.PHASE)
        late = needs_delay_reason(when, row.deadline_at, earlier)
        texts = {"content": told_text}
        if late or delay_reason:
            texts["delay_reason"] = check_text(
                "delay_reason", delay_reason, minimum=MIN_REASON, maximum=MAX_REASON
            )
        body = {
            "phase": earlier + 1,
            "told_at": when.isoformat(),
            "late": when > row.deadline_at,
            "delay_reason_given": "delay_reason" in texts,
        }
        record_step(
            uow, row, StepKind.PHASE, actor=by.actor, staff_id=by.id, body=body, texts=texts
        )
        uow.commit()
    return list_one(c, incident_id)


def _numbers(c: Container, scope: Scope | Numbers) -> Numbers:
    numbers = Numbers.of(scope) if isinstance(scope, Scope) else scope
    names = [n.category for n in numbers.categories]
    if len(set(names)) != len(names):
        raise ValidationFailed("categories", "name each category once")
    unknown = set(names) - set(c.policy.categories)
    if unknown:
        raise ValidationFailed("categories", "must be categories of the policy in force")
    return numbers


def assess(
    c: Container,
    incident_id: str,
    scope: Scope | Numbers | None,
    circumstances: Circumstances,
    actor: StaffIdentity,
) -> Proposal:
    """Score the breach (ENISA) from the scope's numbers (None: the latest `scoped` step's)
    and the officer's circumstances and record an `assessed` step: the numbers (never a
    subject id), the step they came from and the proposal."""
    permit(c, actor, incident_id)
    given = None if scope is None else _numbers(c, scope)
    with c.uow() as uow:
        row = find(uow, incident_id, lock=True)
        check_open(Status(row.status))
        scoped_seq, numbers = (None, given) if given is not None else _scoped(c, uow, row.id)
        proposal = _score(numbers, circumstances)
        body = {**views.assessed_body(numbers, circumstances, proposal), "scoped_seq": scoped_seq}
        record_step(uow, row, StepKind.ASSESSED, actor=actor.actor, staff_id=actor.id, body=body)
        uow.commit()
    return proposal


def _scoped(c: Container, uow: UnitOfWork, incident_id: str) -> tuple[int, Numbers]:
    """The latest `scoped` step's seq and numbers; Conflict if the incident was never scoped."""
    scoped = [s for s in steps_of(uow, incident_id) if s.kind == StepKind.SCOPED]
    if not scoped:
        raise Conflict("scope the incident, or give the numbers, before assessing it")
    return scoped[-1].seq, _numbers(c, views.scoped_numbers(scoped[-1].body))


def _score(numbers: Numbers, circumstances: Circumstances) -> Proposal:
    try:
        return score(numbers, circumstances)
    except ValueError as exc:  # AssessmentInvalid: the method's own reason
        field, _, reason = str(exc).partition(": ")
        raise ValidationFailed(field, reason) from None


def scope_incident(
    c: Container, *, incident_id: str, exposures: Sequence[Exposure], actor: StaffIdentity
) -> Scope:
    """Scope the incident from the system's own records (breach/scope.py) and record a
    `scoped` step: the exposures and the numbers, never a subject id (the Scope returned
    holds them, for the caller alone). Refused on an unknown or closed incident first."""
    permit(c, actor, incident_id)
    with c.uow(write=False) as uow:
        check_open(Status(find(uow, incident_id).status))
    found = scoping.scope(c, exposures)
    with c.uow() as uow:
        row = find(uow, incident_id, lock=True)
        body = views.scoped_body(found)
        record_step(uow, row, StepKind.SCOPED, actor=actor.actor, staff_id=actor.id, body=body)
        uow.commit()
    return found


def decide(
    c: Container,
    by: StaffIdentity,
    incident_id: str,
    *,
    outcome: str,
    notify_authority: bool | None = None,
    notify_subjects: bool | None = None,
    reason: str | None = None,
    exception: str | None = None,
) -> IncidentSummary:
    """The officer confirms the latest proposal or overrides it, with a reason, and records
    the Art. 34(3) exception that spares the subjects' notice if one applies."""
    permit(c, by, incident_id)
    try:
        chosen = Outcome(outcome)
    except ValueError:
        raise ValidationFailed("outcome", "must be confirm or override") from None
    with c.uow() as uow:
        row = find(uow, incident_id, lock=True)
        check_open(Status(row.status))
        assessed = [s for s in steps_of(uow, row.id) if s.kind == StepKind.ASSESSED]
        if not assessed:
            raise Conflict("assess the incident before deciding on notification")
        latest = assessed[-1]
        wanted = (notify_authority, notify_subjects)
        final = views.decision(chosen, latest.body, *wanted, reason, exception)
        texts = {"reason": reason.strip()} if reason and reason.strip() else None
        body = {"outcome": chosen.value, "assessed_seq": latest.seq, **final}
        record_step(
            uow, row, StepKind.DECIDED, actor=by.actor, staff_id=by.id, body=body, texts=texts
        )
        uow.commit()
    return list_one(c, incident_id)


def close(
    c: Container, by: StaffIdentity, incident_id: str, *, note: str | None = None
) -> IncidentSummary:
    """Close the incident; it needs a recorded decision, and its record is final afterwards."""
    permit(c, by, incident_id)
    texts = {"note": check_text("note", note, maximum=MAX_REASON)} if note else None
    with c.uow() as uow:
        row = find(uow, incident_id, lock=True)
        # The decision must answer the latest assessment: a re-assessment reopens it.
        check_close(Status(row.status), row.status == Status.DECIDED)
        record_step(uow, row, StepKind.CLOSED, actor=by.actor, staff_id=by.id, body={}, texts=texts)
        row.closed_at = c.clock.now()
        uow.commit()
    return list_one(c, incident_id)
