"""Which role may have written an audited action: each staff action of the audit, by tag, with
the permissions (staff/rules.py `Action`) any one of which allows it. A staff entry whose role
holds none of them is access outside the role: a permission check was bypassed, or the role
was changed behind the staff service's back.

Built from the tags the features declare (their events.py), so a renamed tag breaks here. The
role is the member's as the staff table holds it when the rule runs (staff/service.py reads it
on every request too); an account the table does not hold, or a disabled one, may do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from minimaker.breach import events as breach_events
from minimaker.detection import events as detection_events
from minimaker.kernel.audit import AuditTag
from minimaker.operations import events as operations_events
from minimaker.retention import events as retention_events
from minimaker.rights import events as rights_events
from minimaker.staff import events as staff_events
from minimaker.staff.rules import Action, allows

_DECIDING = frozenset(
    {
        Action.RECORD_REQUEST,
        Action.VERIFY_IDENTITY,
        Action.COMPLETE_REQUEST,
        Action.EXTEND_REQUEST,
        Action.REJECT_REQUEST,
        Action.PAUSE_REQUEST,
        Action.RESUME_REQUEST,
    }
)
_VERBS = {
    "viewed": Action.VIEW_REQUEST,
    "extended": Action.EXTEND_REQUEST,
    "rejected": Action.REJECT_REQUEST,
    "paused": Action.PAUSE_REQUEST,
    "resumed": Action.RESUME_REQUEST,
    "recorded": Action.RECORD_REQUEST,
    "completed": Action.COMPLETE_REQUEST,
}


def _each(tags: Iterable[AuditTag], actions: frozenset[Action]) -> dict[str, frozenset[Action]]:
    return {str(tag): actions for tag in tags}


def _table() -> dict[str, frozenset[Action]]:
    incidents = frozenset({Action.MANAGE_INCIDENTS})
    staff_managed = frozenset({Action.MANAGE_STAFF})
    table: dict[str, frozenset[Action]] = {
        str(staff_events.QUEUE_VIEWED): frozenset({Action.VIEW_QUEUE}),
        str(staff_events.CLOSED_VIEWED): frozenset({Action.VIEW_QUEUE}),
        str(staff_events.SUBJECT_DATA_READ): frozenset({Action.READ_SUBJECT_DATA}),
        str(staff_events.REQUEST_REFERRED): _DECIDING,
        str(rights_events.REQUEST_EXTENDED): frozenset({Action.EXTEND_REQUEST}),
        str(operations_events.SELFCHECK_RAN): frozenset({Action.RUN_SELFCHECK}),
    }
    table |= {str(staff_events.REQUEST[v]): frozenset({a}) for v, a in _VERBS.items()}
    table |= _each(rights_events.REQUEST_MOVED.values(), _DECIDING)
    members = [staff_events.MEMBER_CREATED, staff_events.MEMBER_DISABLED]
    members += [staff_events.MEMBER_GRANTED, staff_events.TRAINING_RECORDED]
    table |= _each(members, staff_managed)
    table |= _each(
        (retention_events.HOLD_SET, retention_events.HOLD_RELEASED, retention_events.HOLDS_VIEWED),
        frozenset({Action.MANAGE_HOLDS}),
    )
    register = [*breach_events.STEP.values(), breach_events.INCIDENT_VIEWED]
    register += [breach_events.REGISTER_VIEWED, detection_events.ALERTS_VIEWED]
    register += [detection_events.ALERT_VIEWED, detection_events.ALERT_ACKNOWLEDGED]
    table |= _each((*register, detection_events.ALERT_ESCALATED), incidents)
    return table


#: Audited action -> the permissions, any one of which allows a staff member to write it.
#: Actions not listed (signing in and out, enrolment, acknowledging the policy, a refusal)
#: are every member's own.
REQUIRED: Mapping[str, frozenset[Action]] = _table()


def permitted(role: str | None, action: str) -> bool:
    """Whether a member holding `role` (None: no live account) may have written `action`."""
    needed = REQUIRED.get(action)
    if needed is None:
        return True
    return role is not None and any(allows(role, a) for a in needed)
