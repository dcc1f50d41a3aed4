"""Staff roles and what each may do: least privilege, decided in one table.

The privacy officer (DPO) decides on requests; support sees the queue and records requests
that arrive by email or post, but takes no legal decision (extending a deadline, refusing or
completing a request by hand, stopping the clock, vouching for someone's identity) and records
no erasure or correction; an admin manages staff accounts and sees no requests at all.
"""

from __future__ import annotations

from enum import StrEnum

from minimaker.kernel.errors import Forbidden, ValidationFailed


class Role(StrEnum):
    DPO = "dpo"
    SUPPORT = "support"
    ADMIN = "admin"
    ENGINEER = "engineer"  # runs the service: operations and records, no personal data
    CONTRACTOR = "contractor"  # support's view, for a fixed term that expires


class Action(StrEnum):
    VIEW_QUEUE = "view_queue"
    VIEW_REQUEST = "view_request"
    RECORD_REQUEST = "record_request"  # received by email or post, on the subject's behalf
    # Recording an erasure or a correction: what staff type in would destroy or replace the
    # subject's data (a corrected email is a new sign-in address), so only the officer may.
    RECORD_DESTRUCTIVE_REQUEST = "record_destructive_request"
    VERIFY_IDENTITY = "verify_identity"  # the officer records the evidence of identity
    COMPLETE_REQUEST = "complete_request"  # by hand, when fulfilment could not be automatic
    EXTEND_REQUEST = "extend_request"  # Art. 12(3)
    REJECT_REQUEST = "reject_request"  # Art. 12(5)
    PAUSE_REQUEST = "pause_request"  # stops the legal clock while waiting on the subject
    RESUME_REQUEST = "resume_request"
    MANAGE_STAFF = "manage_staff"
    # Reading a subject's personal data (a request's details, an account's profile): needs a
    # stated reason, current training and the current policy acknowledged (policy 5.2, 11.2).
    READ_SUBJECT_DATA = "read_subject_data"
    VIEW_RECORD_OF_PROCESSING = "view_record_of_processing"  # Art. 30, no personal data


_SEE = frozenset({Action.VIEW_QUEUE, Action.VIEW_REQUEST, Action.RECORD_REQUEST})
_DECIDE = frozenset(
    {
        Action.EXTEND_REQUEST,
        Action.REJECT_REQUEST,
        Action.PAUSE_REQUEST,
        Action.RESUME_REQUEST,
        Action.COMPLETE_REQUEST,
        Action.RECORD_DESTRUCTIVE_REQUEST,
        Action.VERIFY_IDENTITY,
    }
)

#: Role -> the actions it is allowed. Anything not listed is refused.
MATRIX: dict[Role, frozenset[Action]] = {
    Role.DPO: _SEE | _DECIDE | {Action.READ_SUBJECT_DATA, Action.VIEW_RECORD_OF_PROCESSING},
    Role.SUPPORT: _SEE | {Action.READ_SUBJECT_DATA},
    Role.ADMIN: frozenset({Action.MANAGE_STAFF, Action.VIEW_RECORD_OF_PROCESSING}),
    Role.ENGINEER: frozenset({Action.VIEW_RECORD_OF_PROCESSING}),
    Role.CONTRACTOR: _SEE | {Action.READ_SUBJECT_DATA},
}


class StaffForbidden(Forbidden):
    code = "staff_forbidden"

    def __init__(self, role: str, action: str) -> None:
        self.role = role
        self.action = action
        super().__init__(f"the {role} role may not {action.replace('_', ' ')}")


def parse_role(value: object) -> Role:
    """A role from input; anything else is a validation error naming the allowed roles."""
    try:
        return Role(value) if isinstance(value, str) else Role("")
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed("role", f"must be one of {allowed}") from None


def allows(role: str, action: Action) -> bool:
    """Whether `role` may do `action`; an unknown role may do nothing."""
    try:
        return action in MATRIX[Role(role)]
    except ValueError:
        return False


def require(role: str, action: Action) -> None:
    """Raise StaffForbidden unless `role` may do `action`."""
    if not allows(role, action):
        raise StaffForbidden(role, action.value)
