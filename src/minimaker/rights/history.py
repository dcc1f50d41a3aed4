"""Art. 15: who accessed or changed the subject's data, and when, read from the audit chain.

The audit names people by pseudonymous id only. Here the subject is "you"; a staff member is
named by role (the role their account was created with, as the chain records it), never by
name, username or id; a part of MiniMaker by the component that acted.
"""

from __future__ import annotations

from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.staff import events as staff_events
from minimaker.staff.rules import Role

#: How each staff role reads in the archive: a function, never a person.
ROLE_NAMES = {
    Role.DPO: "the privacy officer",
    Role.SUPPORT: "support staff",
    Role.ADMIN: "an administrator",
}
#: A staff actor whose role the chain does not hold (e.g. created before roles were audited).
UNKNOWN_ROLE = "a member of staff"

Entry = dict[str, str | None]


def history(uow: UnitOfWork, subject_id: str) -> list[Entry]:
    """Every audited access to or change of the subject's data, oldest first: when, by whom
    (by role or component), what and for which purpose."""
    rows = uow.session.execute(
        select(AuditEntry.ts, AuditEntry.actor, AuditEntry.action, AuditEntry.purpose)
        .where(AuditEntry.subject == subject_id)
        .order_by(AuditEntry.seq)
    ).all()
    staff_ids = {actor.partition(":")[2] for _, actor, _, _ in rows if actor.startswith("staff:")}
    roles = _staff_roles(uow, staff_ids)
    return [
        {"at": ts, "by": _who(actor, subject_id, roles), "action": action, "purpose": purpose}
        for ts, actor, action, purpose in rows
    ]


def _who(actor: str, subject_id: str, roles: dict[str, str]) -> str:
    kind, _, ident = actor.partition(":")
    if kind == "subject":
        return "you" if ident == subject_id else "another user"
    if kind == "staff":
        return f"staff: {roles.get(ident, UNKNOWN_ROLE)}"
    return f"MiniMaker ({ident or 'system'})"


def _staff_roles(uow: UnitOfWork, staff_ids: set[str]) -> dict[str, str]:
    """Staff id -> role name, from the `staff:member:created` entries of the chain."""
    if not staff_ids:
        return {}
    # The entry's object is `staff:<id>:<role>`: asked for exactly, never parsed from a prefix.
    wanted = {f"staff:{sid}:{role.value}": (sid, role) for sid in staff_ids for role in Role}
    found = uow.session.scalars(
        select(AuditEntry.object).where(
            AuditEntry.action == str(staff_events.MEMBER_CREATED),
            AuditEntry.object.in_(sorted(wanted)),
        )
    )
    return {wanted[o][0]: ROLE_NAMES[wanted[o][1]] for o in found if o is not None}
