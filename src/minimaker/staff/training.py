"""Staff clearance: training records, the policy acknowledged, role grants and contractor terms.

Policy 11.2: staff with access to personal data are trained in data protection and bound by
the policy in force. Training and grants are recorded by an admin or the operator; each
member acknowledges the current policy version themselves. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, NotFound, ValidationFailed
from minimaker.kernel.ids import is_id
from minimaker.staff import events
from minimaker.staff.rules import Role, check_access_expiry, parse_role
from minimaker.staff.service import StaffIdentity, StaffRead, acting_operator, staff_read
from minimaker.staff.tables import StaffMember

#: How long a training stays current unless said otherwise: yearly refreshers.
DEFAULT_TRAINING_DAYS = 365
_MAX_TRAINING_DAYS = 3 * 366


def record_training(
    c: Container,
    *,
    by: StaffIdentity | None,
    staff_id: str,
    trained_at: datetime | None = None,
    valid_days: int = DEFAULT_TRAINING_DAYS,
) -> StaffRead:
    """Record that a member completed data-protection training; current for `valid_days`."""
    actor = acting_operator(c, by)
    now = c.clock.now()
    when = trained_at or now
    if when > now:
        raise ValidationFailed("trained_at", "cannot be in the future")
    if isinstance(valid_days, bool) or not 1 <= valid_days <= _MAX_TRAINING_DAYS:
        raise ValidationFailed("valid_days", f"must be 1 to {_MAX_TRAINING_DAYS}")
    # A training already out of date clears nobody, and would overwrite a current one.
    if when + timedelta(days=valid_days) <= now:
        raise ValidationFailed(
            "trained_at", f"is more than {valid_days} days ago: that training is not current"
        )
    with c.uow() as uow:
        row = _member(uow.session, staff_id)
        row.trained_at, row.training_expires_at = when, when + timedelta(days=valid_days)
        until = f"{row.training_expires_at:%Y-%m-%d}"
        uow.audit(events.TRAINING_RECORDED, actor=actor, object=f"staff:{row.id}:until:{until}")
        uow.commit()
        return staff_read(row)


def acknowledge_policy(c: Container, *, staff: StaffIdentity, version: object) -> StaffRead:
    """The member acknowledges the policy in force; only its current version is accepted."""
    current = c.policy.version
    if not isinstance(version, str) or version != current:
        raise ValidationFailed("version", f"must be the current policy version, {current}")
    with c.uow() as uow:
        row = _member(uow.session, staff.id)
        row.policy_version, row.policy_acknowledged_at = current, c.clock.now()
        # The version is ours (the policy file's), not anything the member typed.
        uow.audit(events.POLICY_ACKNOWLEDGED, actor=staff.actor, object=f"policy:{current}")
        uow.commit()
        return staff_read(row)


def grant(
    c: Container,
    *,
    by: StaffIdentity | None,
    staff_id: str,
    role: str | None = None,
    access_expires: datetime | None = None,
) -> StaffRead:
    """Change a member's role and/or a contractor's end of term; a contractor needs one."""
    actor = acting_operator(c, by)
    if by is not None and by.id == staff_id:
        raise Conflict("you cannot change your own role")
    if role is None and access_expires is None:
        # Nothing to change: no grant, and no audit entry claiming one.
        raise ValidationFailed("grant", "give a role, an end of term (access_expires) or both")
    with c.uow() as uow:
        row = _member(uow.session, staff_id)
        kind = parse_role(role) if role is not None else Role(row.role)
        # Leaving the contractor role drops the term; staying keeps it unless it is extended.
        term = access_expires
        if term is None and kind is Role.CONTRACTOR and row.role == Role.CONTRACTOR.value:
            term = row.access_expires_at
        check_access_expiry(kind, term, c.clock.now())
        row.role, row.access_expires_at = kind.value, term
        uow.audit(events.MEMBER_GRANTED, actor=actor, object=_granted(row))
        uow.commit()
        return staff_read(row)


def _granted(row: StaffMember) -> str:
    term = f":until:{row.access_expires_at:%Y-%m-%d}" if row.access_expires_at else ""
    return f"staff:{row.id}:{row.role}{term}"


def _member(session: Session, staff_id: str) -> StaffMember:
    row = session.get(StaffMember, staff_id) if is_id(staff_id) else None
    if row is None:
        raise NotFound("staff member")
    return row
