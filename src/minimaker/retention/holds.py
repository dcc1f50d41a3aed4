"""Legal holds (policy 9.1 "unless required by law"): set, release, list; each audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.retention import events
from minimaker.retention.rules import ALL_RULES, check_reference, parse_reason
from minimaker.retention.tables import LegalHold

_ID_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class HoldRead:
    id: str
    subject_id: str
    rule: str
    reason: str
    reference: str
    set_by: str
    set_at: datetime


def _rules_of(c: Container) -> set[str]:
    return {name for cat in c.policy.categories.values() for name in cat.rules}


def _checked(c: Container, subject_id: str, rule: str) -> None:
    if len(subject_id) != 32 or not set(subject_id) <= _ID_CHARS:
        raise ValidationFailed("subject", "must be a subject id (32 hex digits)")
    if rule != ALL_RULES and rule not in _rules_of(c):
        raise ValidationFailed("rule", f"must be {ALL_RULES} or a rule of the policy file")


def set_hold(
    c: Container, *, subject_id: str, rule: str, reason: str, reference: str, actor: Actor
) -> HoldRead:
    """Suspend `rule` (or every rule) for the subject, for a coded reason and a case reference."""
    _checked(c, subject_id, rule)
    try:
        code = parse_reason(reason)
    except ValueError as exc:
        raise ValidationFailed("reason", str(exc)) from None
    try:
        ref = check_reference(reference)
    except ValueError as exc:
        raise ValidationFailed("reference", str(exc)) from None
    with c.uow() as uow:
        row = LegalHold(
            id=uuid.uuid4().hex,
            subject_id=subject_id,
            rule=rule,
            reason=code.value,
            reference=ref,
            set_by=str(actor),
            set_at=c.clock.now(),
        )
        uow.session.add(row)
        uow.audit(
            events.HOLD_SET, actor=actor, subject=subject_id, object=f"hold:{row.id}:{rule}:{code}"
        )
        uow.commit()
        return _read(row)


def release_hold(c: Container, *, hold_id: str, actor: Actor) -> None:
    """End a hold; the data it kept meets its rules again at the next sweep."""
    with c.uow() as uow:
        row = uow.session.get(LegalHold, hold_id)
        if row is None:
            raise NotFound("legal hold")
        uow.session.execute(delete(LegalHold).where(LegalHold.id == hold_id))
        uow.audit(
            events.HOLD_RELEASED,
            actor=actor,
            subject=row.subject_id,
            object=f"hold:{row.id}:{row.rule}:{row.reason}",
        )
        uow.commit()


def list_holds(c: Container) -> list[HoldRead]:
    """Every hold in force, oldest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(select(LegalHold).order_by(LegalHold.set_at)).all()
        return [_read(r) for r in rows]


def _read(row: LegalHold) -> HoldRead:
    return HoldRead(
        row.id, row.subject_id, row.rule, row.reason, row.reference, row.set_by, row.set_at
    )
