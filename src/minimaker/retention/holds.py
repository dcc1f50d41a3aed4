"""Legal holds (policy 9.1 "unless required by law"): set, release, list; each audited.

A hold suspends one rule (or every rule, "*") for one subject, and any hold at all defers an
erasure of that subject (Art. 17(3)(b)/(e); rights/held.py, docs/decisions/0026): releasing
the last hold on a subject resumes their waiting erasure in the release's own unit of work,
so a hold can never be gone while the erasure it deferred stays asleep.

The operator sets holds at the command line (`actor` system:cli); the privacy officer through
the staff API (`*_by_officer`: the role is checked first, the actor is the staff member).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from minimaker.kernel.actors import Actor, StaffIdentity
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.ids import audited_id, is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.retention import events
from minimaker.retention.rules import ALL_RULES, HoldReason, check_reference, parse_reason
from minimaker.retention.tables import LegalHold
from minimaker.rights import held
from minimaker.staff.rules import Action
from minimaker.staff.service import permit

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
        raise ValidationFailed("subject_id", "must be a subject id (32 hex digits)")
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
    """End a hold: the data it kept meets its rules again at the next sweep, and, if it was
    the subject's last, an erasure it deferred is queued again at once."""
    with c.uow() as uow:
        # A malformed id answers like a missing one, and never reaches the database.
        row = uow.session.get(LegalHold, hold_id) if is_id(hold_id) else None
        if row is None:
            raise NotFound("legal hold")
        uow.session.execute(delete(LegalHold).where(LegalHold.id == hold_id))
        uow.audit(
            events.HOLD_RELEASED,
            actor=actor,
            subject=row.subject_id,
            object=f"hold:{row.id}:{row.rule}:{row.reason}",
        )
        if reason_held(uow, row.subject_id) is None:
            held.resume_erasures(uow, subject_id=row.subject_id, actor=actor)
        uow.commit()


def reason_held(uow: UnitOfWork, subject_id: str) -> HoldReason | None:
    """The reason of the subject's oldest hold of any rule, or None: not held at all."""
    found = uow.session.scalars(
        select(LegalHold.reason)
        .where(LegalHold.subject_id == subject_id)
        .order_by(LegalHold.set_at, LegalHold.id)
        .limit(1)
    ).first()
    return None if found is None else HoldReason(found)


def list_holds(c: Container) -> list[HoldRead]:
    """Every hold in force, oldest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(select(LegalHold).order_by(LegalHold.set_at)).all()
        return [_read(r) for r in rows]


def set_by_officer(
    c: Container, staff: StaffIdentity, *, subject_id: str, rule: str, reason: str, reference: str
) -> HoldRead:
    """The privacy officer sets a hold (the same checks as the command line's)."""
    permit(c, staff, Action.MANAGE_HOLDS, object=audited_id("subject", subject_id))
    return set_hold(
        c, subject_id=subject_id, rule=rule, reason=reason, reference=reference, actor=staff.actor
    )


def release_by_officer(c: Container, staff: StaffIdentity, *, hold_id: str) -> None:
    """The privacy officer releases a hold; NotFound for an id no hold has."""
    permit(c, staff, Action.MANAGE_HOLDS, object=audited_id("hold", hold_id))
    release_hold(c, hold_id=hold_id, actor=staff.actor)


def list_for_officer(c: Container, staff: StaffIdentity) -> list[HoldRead]:
    """Every hold in force, for the privacy officer; the listing is audited (a count)."""
    permit(c, staff, Action.MANAGE_HOLDS)
    with c.uow() as uow:
        rows = uow.session.scalars(select(LegalHold).order_by(LegalHold.set_at)).all()
        found = [_read(r) for r in rows]
        uow.audit(events.HOLDS_VIEWED, actor=staff.actor, object=f"holds:{len(found)}")
        uow.commit()
    return found


def _read(row: LegalHold) -> HoldRead:
    return HoldRead(
        row.id, row.subject_id, row.rule, row.reason, row.reference, row.set_by, row.set_at
    )
