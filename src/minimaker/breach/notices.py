"""Telling the people a breach affects (Art. 34; policy 8.1): a plain-language notice —
what happened, what it may mean for them, what was done, what they can do, whom to ask —
queued through the outbox to every subject scoping finds, delivery tracked and retried.

The register keeps no subject id, so the officer gives the exposures again and scoping runs
again (breach/scope.py); the notices go only if it finds as many people as the latest
`scoped` step recorded, so no one is told of a scope the officer did not see. Each subject
gets one notice per incident: a second run queues only those not yet sent one (a message the
outbox failed for good is sent again), and those with no address on file any more (erased)
are counted as unreachable. The outbox retries each message with backoff (mail/outbox.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select

from minimaker.breach import scope as scoping
from minimaker.breach import service as register
from minimaker.breach.exposure import Exposure
from minimaker.breach.rules import MAX_TEXT, Status, StepKind, check_text
from minimaker.breach.tables import IncidentStep
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import notices as mail_notices
from minimaker.mail import outbox

KIND_PREFIX = "breach_notice:"
SUBJECT_LINE = "A security incident affects your personal data"
_MIN = 10
_PARTS = ("nature", "consequences", "measures", "advice")


def kind_of(incident_id: str) -> str:
    """The outbox kind of an incident's notices: ids only."""
    return KIND_PREFIX + incident_id


@dataclass(frozen=True)
class NoticeText:
    """What the officer writes for the people affected, in plain language."""

    nature: str  # what happened
    consequences: str  # what it may mean for them
    measures: str  # what was done, and is being done, about it
    advice: str  # what they can do to protect themselves


class Delivery(BaseModel):
    """How the incident's notices are faring in the outbox (counts of messages)."""

    queued: int
    sent: int
    pending: int
    failed: int
    #: Found by the latest run but with no address on file any more (an erased account).
    unreachable: int


def body_of(c: Container, incident_id: str, text: NoticeText) -> str:
    """The notice's text: the officer's parts under plain headings, then whom to ask."""
    ctl = c.policy.controller
    return (
        f"We are writing to tell you about a security incident at {ctl.name} that affects "
        "your personal data. We are sorry; this is what we know and what we are doing.\n\n"
        f"What happened\n{text.nature}\n\n"
        f"What this may mean for you\n{text.consequences}\n\n"
        f"What we have done\n{text.measures}\n\n"
        f"What you can do\n{text.advice}\n\n"
        f"Questions: write to our data protection officer at {ctl.dpo or ctl.contact}. You may "
        "also complain to a data protection supervisory authority (Art. 77 GDPR).\n\n"
        f"Reference: incident {incident_id[:8]}\n"
    )


def notify_subjects(
    c: Container,
    by: StaffIdentity,
    incident_id: str,
    *,
    exposures: Sequence[Exposure],
    text: NoticeText,
) -> Delivery:
    """Queue the notice to every affected subject not yet sent it, and record the run as a
    `subjects_notified` step (its counts; the texts sealed). Needs a decision to tell them."""
    register.permit(c, by, incident_id)
    parts = {p: check_text(p, getattr(text, p), minimum=_MIN, maximum=MAX_TEXT) for p in _PARTS}
    with c.uow(write=False) as uow:
        expected = _ready(uow, incident_id)
    found = scoping.scope(c, exposures)
    if found.subjects != expected:
        raise Conflict(
            f"these exposures find {found.subjects} people, the latest scoping {expected}: "
            "give the exposures scoped, or scope again"
        )
    kind, clean = kind_of(incident_id), NoticeText(**parts)
    with c.uow() as uow:
        row = register.find(uow, incident_id, lock=True)
        if _ready(uow, incident_id) != expected:
            raise Conflict("the incident changed meanwhile: look at it again")
        already = mail_notices.recipients(uow, kind=kind) & found.subject_ids
        text_of = body_of(c, incident_id, clean)
        queued = [_queue(uow, s, kind, text_of) for s in sorted(found.subject_ids - already)]
        body = {"subjects": found.subjects, "queued": sum(queued), "already": len(already)}
        body["unreachable"] = len(queued) - sum(queued)
        done = StepKind.SUBJECTS_NOTIFIED
        register.record_step(uow, row, done, actor=by.actor, staff_id=by.id, body=body, texts=parts)
        uow.commit()
    with c.uow(write=False) as uow:
        return delivery(uow, incident_id)


def _queue(uow: UnitOfWork, subject_id: str, kind: str, body: str) -> bool:
    """Queue one subject's notice; False when they have no address on file any more."""
    queued = outbox.queue_to_subject(
        uow, subject_id=subject_id, kind=kind, subject=SUBJECT_LINE, body=body
    )
    return queued is not None


def _ready(uow: UnitOfWork, incident_id: str) -> int:
    """The latest scoping's number of people, once the officer decided to tell them."""
    row = register.find(uow, incident_id)
    steps = register.steps_of(uow, incident_id)
    decided = [s for s in steps if s.kind == StepKind.DECIDED]
    if row.status != Status.DECIDED or not decided or not decided[-1].body["notify_subjects"]:
        raise Conflict("the decision in force is not to tell the people affected")
    scoped = [s for s in steps if s.kind == StepKind.SCOPED]
    if not scoped:
        raise Conflict("scope the incident before telling the people affected")
    return int(scoped[-1].body["subjects"])


def notice_delivery(c: Container, by: StaffIdentity, incident_id: str) -> Delivery:
    """The incident's notices by status, for the officer (counts only: no one is named)."""
    register.permit(c, by, incident_id)
    with c.uow(write=False) as uow:
        register.find(uow, incident_id)
        return delivery(uow, incident_id)


def delivery(uow: UnitOfWork, incident_id: str) -> Delivery:
    """The counts of the incident's notices by status, in the caller's unit."""
    counts = mail_notices.counts(uow, kind=kind_of(incident_id))
    latest = uow.session.scalar(
        select(IncidentStep.body)
        .where(
            IncidentStep.incident_id == incident_id,
            IncidentStep.kind == StepKind.SUBJECTS_NOTIFIED.value,
        )
        .order_by(IncidentStep.seq.desc())
        .limit(1)
    )
    return Delivery(
        queued=sum(counts.values()),
        sent=counts.get(outbox.SENT, 0),
        pending=counts.get(outbox.PENDING, 0) + counts.get(outbox.SENDING, 0),
        failed=counts.get(outbox.FAILED, 0),
        unreachable=int(latest["unreachable"]) if latest else 0,
    )
