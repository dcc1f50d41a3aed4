"""Staff roles and what each may do: least privilege, decided in one table.

The privacy officer (DPO) decides on requests; support sees the queue and records requests
that arrive by email or post, but takes no legal decision (extending a deadline, refusing or
completing a request by hand, stopping the clock, vouching for someone's identity) and records
no erasure or correction; an admin manages staff accounts and sees no requests at all; an
engineer runs the service and sees the record of processing, never personal data; a contractor
has support's view for a fixed term. Personal data also needs a stated reason, current
training and the policy in force acknowledged (policy 5.2, 11.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from minimaker.kernel.errors import Forbidden, NotAuthenticated, ValidationFailed
from minimaker.kernel.ids import MAX_TICKET_REFERENCE, TICKET_REFERENCE


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
    # Policy 9.1 "unless required by law": setting, listing and releasing legal holds. A
    # hold keeps data past its rule and defers an erasure the subject asked for (Art.
    # 17(3)(b)/(e)): a legal decision, the officer's alone.
    MANAGE_HOLDS = "manage_holds"
    # The breach register: open incidents, assess, decide on notification, close (Art. 33,
    # 34). The officer's alone: a decision not to notify is a legal decision.
    MANAGE_INCIDENTS = "manage_incidents"
    # Policy 5.1: run the security self-check and read its record (counts, no personal data).
    RUN_SELFCHECK = "run_selfcheck"


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
    Role.DPO: _SEE
    | _DECIDE
    | {
        Action.READ_SUBJECT_DATA,
        Action.VIEW_RECORD_OF_PROCESSING,
        Action.MANAGE_HOLDS,
        Action.MANAGE_INCIDENTS,
    },
    Role.SUPPORT: _SEE | {Action.READ_SUBJECT_DATA},
    Role.ADMIN: frozenset(
        {Action.MANAGE_STAFF, Action.VIEW_RECORD_OF_PROCESSING, Action.RUN_SELFCHECK}
    ),
    Role.ENGINEER: frozenset({Action.VIEW_RECORD_OF_PROCESSING, Action.RUN_SELFCHECK}),
    Role.CONTRACTOR: _SEE | {Action.READ_SUBJECT_DATA},
}


#: Actions that put a subject's personal data in a member of staff's hands: they need, beyond
#: the role, current data-protection training and the policy in force acknowledged (5.2, 11.2).
#: Vouching for an identity means handling the person's documents, and the evidence is kept
#: as their data; completing by hand means doing the erasure, correction or export oneself,
#: in a statement kept as their data (both sealed under the subject's key, in their archive).
PERSONAL_DATA: frozenset[Action] = frozenset(
    {Action.READ_SUBJECT_DATA, Action.VERIFY_IDENTITY, Action.COMPLETE_REQUEST}
)


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


class NotCleared(Forbidden):
    """A member of staff lacks what personal data needs; the message names each missing thing."""

    code = "staff_not_cleared"

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            "personal data needs " + " and ".join(self.missing) + "; nothing was shown or done"
        )


class AccessExpired(NotAuthenticated):
    """A contractor's fixed term is over: no sign-in, no session (policy 5.2)."""

    code = "staff_access_expired"

    def default_message(self) -> str:
        return "this staff access has expired; an admin may extend it"


def missing_clearance(
    *,
    trained_until: datetime | None,
    acknowledged: str | None,
    policy_version: str,
    now: datetime,
) -> list[str]:
    """What a member of staff lacks for personal data: current training, the policy in force."""
    missing = []
    if trained_until is None or trained_until <= now:
        missing.append("current data-protection training (none recorded, or it expired)")
    if acknowledged != policy_version:
        missing.append(f"acknowledgement of policy version {policy_version}")
    return missing


#: The longest fixed term one grant gives: a longer contract is extended, so that someone
#: looks at the access again (policy 5.2); a term in the year 9999 would be no term at all.
MAX_TERM_DAYS = 3 * 366


def check_access_expiry(role: Role, expires: datetime | None, now: datetime) -> None:
    """A contractor needs a fixed term, in the future and at most MAX_TERM_DAYS ahead; other
    roles hold none."""
    if role is Role.CONTRACTOR and expires is None:
        raise ValidationFailed("access_expires", "is required for a contractor")
    if role is not Role.CONTRACTOR and expires is not None:
        raise ValidationFailed("access_expires", "is only for contractors")
    if expires is not None and expires <= now:
        raise ValidationFailed("access_expires", "must be in the future")
    if expires is not None and expires > now + timedelta(days=MAX_TERM_DAYS):
        raise ValidationFailed("access_expires", f"must be at most {MAX_TERM_DAYS} days ahead")


def expired(expires: datetime | None, now: datetime) -> bool:
    """Whether a fixed term (a contractor's) is over; no term never expires."""
    return expires is not None and expires <= now


class ReasonCode(StrEnum):
    """Why a member of staff reads a subject's data: a fixed list, so no free text can carry
    personal data into the audit (policy 5.2: access only for a stated purpose)."""

    HANDLING_REQUEST = "handling_request"  # a rights request of this subject
    USER_SUPPORT = "user_support"  # the subject asked for help
    SECURITY_INCIDENT = "security_incident"  # investigating a breach or an abuse
    LEGAL_CLAIM = "legal_claim"  # establishing or defending a legal claim


#: A ticket reference (kernel/ids.py): nothing a name or email fits in.
REFERENCE_PATTERN, MAX_REFERENCE = TICKET_REFERENCE, MAX_TICKET_REFERENCE


@dataclass(frozen=True)
class Reason:
    """A stated reason: its code and, optionally, the ticket it belongs to."""

    code: ReasonCode
    reference: str | None = None

    @property
    def audited(self) -> str:
        """How the audit records it: fixed words and a ticket id, nothing typed freely."""
        return f"reason:{self.code.value}" + (f":ref:{self.reference}" if self.reference else "")


def parse_reason(code: object, reference: object = None) -> Reason:
    """A reason from input; a missing or unknown code, or a non-ticket reference, is refused."""
    if not isinstance(code, str) or code not in set(ReasonCode):
        allowed = ", ".join(r.value for r in ReasonCode)
        raise ValidationFailed("reason", f"is required, one of {allowed}")
    if reference in (None, ""):
        return Reason(ReasonCode(code))
    if (
        not isinstance(reference, str)
        or len(reference) > MAX_REFERENCE
        or not REFERENCE_PATTERN.fullmatch(reference)
    ):
        raise ValidationFailed("reference", "must be a ticket id like REQ-1234 (no free text)")
    return Reason(ReasonCode(code), reference)
