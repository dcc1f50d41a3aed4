"""Data-subject requests: types, the lifecycle state machine and its legal deadlines.

GDPR Art. 12(3): a request is answered "without undue delay and in any event within one month
of receipt", extendable "by two further months where necessary", the subject being told of the
extension and its reasons within the first month. Months are calendar months.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from minimaker.kernel.errors import Conflict, ValidationFailed


class RequestType(StrEnum):
    ACCESS = "access"  # Art. 15
    PORTABILITY = "portability"  # Art. 20
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    OBJECTION = "objection"  # Art. 21


class Status(StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"  # identity verified
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"  # waiting on the subject
    # An erasure the law forbids for now (Art. 17(3)(b)/(e)): a legal hold on the subject.
    # The subject was told why (Art. 12(4)); the clock stands still until the last hold goes.
    HELD = "held"
    COMPLETED = "completed"
    REJECTED = "rejected"


OPEN = frozenset({Status.RECEIVED, Status.VERIFIED, Status.IN_PROGRESS, Status.PAUSED, Status.HELD})
#: Open requests whose legal clock runs: a held one was answered (the subject told why it
#: waits) and waits on the law, not on us, so it is never due nor overdue while held; a
#: paused one waits on the subject, and its due date moves by the pause when it resumes.
CLOCK_RUNNING = OPEN - {Status.HELD, Status.PAUSED}
CLOSED = frozenset({Status.COMPLETED, Status.REJECTED})
MAX_EXTENSION_MONTHS = 2

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.VERIFIED, Status.REJECTED, Status.PAUSED}),
    Status.VERIFIED: frozenset({Status.IN_PROGRESS, Status.REJECTED, Status.PAUSED}),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.REJECTED, Status.PAUSED, Status.HELD}),
    Status.PAUSED: frozenset({Status.RECEIVED, Status.VERIFIED, Status.IN_PROGRESS}),
    # Released: fulfilment is queued anew; or the officer refuses it outright (Art. 17(3)).
    Status.HELD: frozenset({Status.VERIFIED, Status.REJECTED}),
    Status.COMPLETED: frozenset(),
    Status.REJECTED: frozenset(),
}


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str, target: str) -> None:
        self.current = current
        self.target = target
        super().__init__(f"a request that is {current} cannot become {target}")


class ExtensionRefused(Conflict):
    code = "extension_refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"extension refused: {reason}")


def parse_type(value: object) -> RequestType:
    """A request type from user input; anything else is a validation error."""
    try:
        return RequestType(str(value)) if isinstance(value, str) else RequestType("")
    except ValueError:
        allowed = ", ".join(t.value for t in RequestType)
        raise ValidationFailed("type", f"must be one of {allowed}") from None


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, the day clamped to the month's end (31 Jan -> 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Deadline:
    """When a request is due, and how it got there."""

    received_at: datetime
    due_at: datetime
    original_due_at: datetime
    extended_months: int = 0
    paused_for: timedelta = field(default=timedelta(0))

    @classmethod
    def for_receipt(cls, received_at: datetime) -> Deadline:
        due = add_months(received_at, 1)
        return cls(received_at=received_at, due_at=due, original_due_at=due)

    def extend(self, months: int, *, now: datetime, reason: str) -> Deadline:
        """Art. 12(3): once, by at most two months, before the original due date, with a reason."""
        if self.extended_months:
            raise ExtensionRefused("the deadline was already extended once")
        if not 1 <= months <= MAX_EXTENSION_MONTHS:
            raise ExtensionRefused(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months")
        if now >= self.original_due_at:
            raise ExtensionRefused("the original due date has passed")
        if not reason.strip():
            raise ExtensionRefused("a reason the subject is told is required")
        return replace(self, due_at=add_months(self.due_at, months), extended_months=months)

    def paused(self, duration: timedelta) -> Deadline:
        """Time spent waiting on the subject does not count against us; the due date moves."""
        return replace(
            self,
            due_at=self.due_at + duration,
            original_due_at=self.original_due_at + duration,
            paused_for=self.paused_for + duration,
        )

    def is_overdue(self, now: datetime) -> bool:
        return now > self.due_at

    def due_within(self, now: datetime, days: int) -> bool:
        return now <= self.due_at <= now + timedelta(days=days)


def transition(current: Status, target: Status) -> Status:
    """The new status, if the lifecycle allows moving from `current` to `target`."""
    if target not in _ALLOWED[current]:
        raise InvalidTransition(current.value, target.value)
    return target


def rejection_reason_required(reason: str | None) -> str:
    """A rejection (manifestly unfounded or excessive, Art. 12(5)) needs a stored justification."""
    if reason is None or len(reason.strip()) < 10:
        raise ValidationFailed("reason", "a rejection needs a justification (10+ characters)")
    return reason.strip()


def statement_required(statement: str | None) -> str:
    """A request completed by hand needs the officer's statement of what was done (the subject
    is told it, as Art. 12(3) requires information on the action taken)."""
    if statement is None or len(statement.strip()) < 10:
        raise ValidationFailed("statement", "say what was done (10+ characters)")
    if len(statement) > 2000:
        raise ValidationFailed("statement", "must be at most 2000 characters")
    return statement.strip()
