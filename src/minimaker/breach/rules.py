"""The incident register's rules (policy 8; Art. 33, 34 GDPR): sources, steps, the 72-hour
clock, what each step may carry and when an incident may close. Pure: no I/O.

Every breach is documented, notified or not (Art. 33(5)): an incident is its opening facts and
an append-only list of steps. A step's body holds numbers, flags and codes only; what staff type
freely (the description, a phase's content, a decision's reason) may name people, so the
service seals it apart from the body and it never reaches the audit or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from minimaker.kernel.errors import Conflict, ValidationFailed

#: Art. 33(1): "not later than 72 hours after having become aware of it".
AUTHORITY_DEADLINE = timedelta(hours=72)
MAX_DESCRIPTION = 4000
MAX_TEXT = 4000
MIN_REASON = 10
MAX_REASON = 2000


class Source(StrEnum):
    """How the controller became aware of the breach."""

    DETECTION_RULE = "detection_rule"  # a rule over the audit stream (a later session)
    STAFF_REPORT = "staff_report"
    PROCESSOR_REPORT = "processor_report"  # Art. 33(2): the processor tells the controller
    USER_REPORT = "user_report"


class StepKind(StrEnum):
    """What a step records. The register takes them in any order but `closed` last."""

    OPENED = "opened"
    SCOPED = "scoped"  # what scoping found: numbers only (breach/scope.py)
    ASSESSED = "assessed"  # the ENISA severity and the proposal (breach/assessment.py)
    DECIDED = "decided"  # the officer confirms or overrides the proposal, with a reason
    PHASE = "phase"  # Art. 33(4): what was told the authority in this phase, and when
    #: The officer's texts of the Art. 33(3) report: likely consequences, measures (report.py).
    REPORTED = "reported"
    #: The Art. 34 notices queued to every affected subject, with their counts (notices.py).
    SUBJECTS_NOTIFIED = "subjects_notified"
    CLOSED = "closed"


class Status(StrEnum):
    OPEN = "open"
    ASSESSED = "assessed"
    DECIDED = "decided"
    CLOSED = "closed"


class Exception34(StrEnum):
    """Art. 34(3): when the subjects of a high-risk breach need not be told."""

    #: (a) the data was unintelligible to whoever had it (encrypted under keys not reached).
    UNINTELLIGIBLE = "Art. 34(3)(a)"
    #: (b) measures taken since ensure the high risk is no longer likely to materialise.
    RISK_AVERTED = "Art. 34(3)(b)"
    #: (c) telling each would take disproportionate effort: a public communication instead.
    PUBLIC_COMMUNICATION = "Art. 34(3)(c)"


class Outcome(StrEnum):
    """The officer's answer to a proposal."""

    CONFIRM = "confirm"
    OVERRIDE = "override"


#: The status an incident is in once a step of each kind is recorded (others keep it).
_STATUS_AFTER = {
    StepKind.ASSESSED: Status.ASSESSED,
    StepKind.DECIDED: Status.DECIDED,
    StepKind.CLOSED: Status.CLOSED,
}


def status_after(current: Status, kind: StepKind) -> Status:
    """The status once a step of `kind` is recorded; a new assessment after a decision
    reopens the question until the officer decides again."""
    return _STATUS_AFTER.get(kind, current)


def authority_deadline(aware_at: datetime) -> datetime:
    """Art. 33(1): 72 hours after awareness, exactly."""
    return aware_at + AUTHORITY_DEADLINE


def check_aware_at(aware_at: datetime, now: datetime) -> datetime:
    """The time of awareness: aware of its zone, and never in the future (the clock must not
    start later than it did)."""
    if aware_at.tzinfo is None:
        raise ValidationFailed("aware_at", "must carry a time zone")
    if aware_at > now:
        raise ValidationFailed("aware_at", "must not be in the future")
    return aware_at


def check_source(source: object, processor: str | None, processors: set[str]) -> Source:
    """The source, and the processor it names: a processor's report (Art. 33(2)) names one of
    the policy's processors; any other source may name one, none unknown."""
    try:
        parsed = Source(source) if isinstance(source, str) else Source("")
    except ValueError:
        allowed = ", ".join(s.value for s in Source)
        raise ValidationFailed("source", f"must be one of {allowed}") from None
    if parsed is Source.PROCESSOR_REPORT and not processor:
        raise ValidationFailed("processor", "is required for a processor's report (Art. 33(2))")
    if processor and processor not in processors:
        raise ValidationFailed("processor", "must be one of the policy's processors")
    return parsed


def check_text(field: str, value: object, *, minimum: int = 1, maximum: int = MAX_TEXT) -> str:
    """Staff free text, stripped, within its bounds."""
    if not isinstance(value, str) or len(value.strip()) < minimum:
        raise ValidationFailed(field, f"needs at least {minimum} character(s)")
    if len(value) > maximum:
        raise ValidationFailed(field, f"must be at most {maximum} characters")
    return value.strip()


def check_exception(
    exception: str | None, *, notify_subjects: bool, high_risk: bool, encrypted: bool
) -> Exception34 | None:
    """An Art. 34(3) exception the decision records: only where the subjects of a high-risk
    breach are not told, and (a) only where the assessment found the data encrypted under
    keys not compromised."""
    if exception is None:
        return None
    try:
        found = Exception34(exception)
    except ValueError:
        allowed = ", ".join(e.value for e in Exception34)
        raise ValidationFailed("exception", f"must be one of {allowed}") from None
    if notify_subjects or not high_risk:
        raise ValidationFailed(
            "exception", "applies only where the subjects of a high-risk breach are not told"
        )
    if found is Exception34.UNINTELLIGIBLE and not encrypted:
        raise ValidationFailed(
            "exception", "Art. 34(3)(a) needs the data encrypted under keys not compromised"
        )
    return found


def check_open(status: Status) -> None:
    """A closed incident takes no more steps: its record is final."""
    if status is Status.CLOSED:
        raise Conflict("the incident is closed; its record takes no more steps")


def check_close(status: Status, decided: bool) -> None:
    """Closing needs a recorded decision (Art. 33(5): the reasoning is documented)."""
    check_open(status)
    if not decided:
        raise Conflict("record a decision on notification before closing the incident")


def check_phase_time(told_at: datetime, *, aware_at: datetime, now: datetime) -> datetime:
    """When the authority was told: after awareness, not in the future."""
    if told_at.tzinfo is None:
        raise ValidationFailed("told_at", "must carry a time zone")
    if told_at > now:
        raise ValidationFailed("told_at", "must not be in the future")
    if told_at < aware_at:
        raise ValidationFailed("told_at", "must not be before the time of awareness")
    return told_at


def needs_delay_reason(told_at: datetime, deadline: datetime, earlier_phases: int) -> bool:
    """Art. 33(1): a first notification after 72 hours comes with the reasons for the delay."""
    return earlier_phases == 0 and told_at > deadline


@dataclass(frozen=True)
class Clock:
    """The 72-hour clock as every view shows it."""

    deadline_at: datetime
    minutes_left: int  # negative once overdue
    overdue: bool
    text: str


def clock(
    deadline: datetime, now: datetime, *, told_at: datetime | None = None, required: bool = True
) -> Clock:
    """Time left to the deadline (to the minute), or how long it is overdue; once the
    authority was told, whether in time; once the officer decided it need not be, that."""
    left = deadline - now
    minutes = int(left.total_seconds() // 60)
    overdue = left < timedelta(0) and told_at is None and required
    if told_at is None and not required:
        when = "the deadline has passed" if minutes < 0 else f"{_duration(minutes)} left"
        text = f"decided: the authority need not be told; {when}"
    elif told_at is not None:
        late = told_at > deadline
        text = f"authority told {'after' if late else 'within'} the 72 hours"
    elif overdue:
        text = f"overdue by {_duration(-minutes)}"
    else:
        text = f"{_duration(minutes)} left"
    return Clock(deadline_at=deadline, minutes_left=minutes, overdue=overdue, text=text)


def _duration(minutes: int) -> str:
    hours, mins = divmod(max(minutes, 0), 60)
    return f"{hours} h {mins:02d} min"
