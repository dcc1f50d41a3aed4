"""The breach-detection rules (policy 5.1, 8; Art. 32(1)(d), 33): what each rule counts, over
which windows, and what an alert may carry. Pure: no I/O.

A rule counts audit entries in windows of its own length that hop by half of it, aligned to
the epoch: any burst no longer than half a window falls wholly inside one window, so a rule
never misses a burst by a window boundary; an alert's window that overlaps an earlier alert
of the same rule and scope is the same episode, and is not opened twice.

An alert's body holds numbers only (counts, thresholds, seconds) and, for the rules about one
staff account, its staff id (pseudonymous, like the audit's). Never a subject id: subjects
stay in the audit chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from minimaker.kernel.errors import Conflict, ValidationFailed
from minimaker.kernel.ids import MAX_TICKET_REFERENCE, TICKET_REFERENCE

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Rule(StrEnum):
    """The rules, each with its own code (an alert's `rule`)."""

    MANY_SUBJECTS = "many_subjects"  # one staff account names many subjects
    OUTSIDE_ROLE = "outside_role"  # an audited action the account's role does not allow
    ACCESS_DENIED = "access_denied"  # repeated refusals of one staff account
    OUTSIDE_HOURS = "outside_hours"  # staff actions outside the working hours and days
    FAILED_SIGN_INS_ACCOUNT = "failed_sign_ins_account"  # one staff account
    FAILED_SIGN_INS = "failed_sign_ins"  # every staff account together
    AUDIT_CHAIN = "audit_chain"  # the chain fails verification: opens an incident
    ORPHAN_BLOBS = "orphan_blobs"  # blobs no row names
    ORPHAN_KEYS = "orphan_keys"  # data keys of no subject
    ERASURE_BURST = "erasure_burst"  # many erasure requests
    EXPORT_BURST = "export_burst"  # many access or portability requests


#: The rules whose finding opens an incident at once (source detection_rule): an audit chain
#: that does not verify is evidence that someone rewrote the record of who did what.
INCIDENT_RULES = frozenset({Rule.AUDIT_CHAIN})
#: The scope of a rule that counts everyone together.
EVERYONE = "*"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"  # an incident was opened from it (its id is kept)


class AckReason(StrEnum):
    """Why the officer acknowledges an alert without an incident: codes, not free text, so
    nothing typed can carry a person into the audit or the alert."""

    EXPECTED_ACTIVITY = "expected_activity"  # planned work (a migration, a bulk export)
    FALSE_POSITIVE = "false_positive"  # the rule misread normal work
    HANDLED_ELSEWHERE = "handled_elsewhere"  # dealt with under another ticket or incident
    THRESHOLD_REVIEW = "threshold_review"  # the setting is to be changed


#: A ticket reference ("SEC-1234"), the form staff give a reason's ticket in: nothing a name
#: or an email fits in.
REFERENCE, MAX_REFERENCE = TICKET_REFERENCE, MAX_TICKET_REFERENCE


@dataclass(frozen=True)
class Entry:
    """One audit entry as the rules read it."""

    seq: int
    ts: datetime
    actor: str
    action: str
    subject: str | None
    object: str | None


@dataclass(frozen=True)
class Window:
    """[start, end): the entries a rule counts together."""

    start: datetime
    end: datetime

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


def windows_of(moment: datetime, length_s: int) -> list[Window]:
    """Every window of `length_s` seconds, hopping by half of it, that holds `moment`."""
    hop = max(length_s // 2, 1)
    offset = int((moment - EPOCH).total_seconds())
    found: list[Window] = []
    index = offset // hop
    while index * hop + length_s > offset:
        start = EPOCH + timedelta(seconds=index * hop)
        found.append(Window(start, start + timedelta(seconds=length_s)))
        index -= 1
    return sorted(found, key=lambda w: w.start)


def windows_for(moments: Iterable[datetime], length_s: int) -> list[Window]:
    """The windows that hold any of `moments`, earliest first, each once."""
    unique = {w for m in moments for w in windows_of(m, length_s)}
    return sorted(unique, key=lambda w: w.start)


def stamp(moment: datetime) -> str:
    """A time as the audit stores `ts` (comparable as text): UTC, microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def staff_id(actor: str) -> str | None:
    """The staff id of a `staff:<id>` actor; None for anyone else."""
    kind, _, rest = actor.partition(":")
    return rest if kind == "staff" and rest else None


def failed_account(object_: str | None) -> str | None:
    """The staff id a failed sign-in names (`staff:<id>` or `staff:<id>:expired`); None when
    the name given was nobody's."""
    if not object_:
        return None
    parts = object_.split(":")
    return parts[1] if len(parts) >= 2 and parts[0] == "staff" and parts[1] else None


def request_type(object_: str | None) -> str | None:
    """The type a rights request entry names (`request:<id>:<type>`)."""
    if not object_:
        return None
    parts = object_.split(":")
    return parts[2] if len(parts) == 3 and parts[0] == "request" else None


@dataclass(frozen=True)
class WorkingHours:
    """When staff are expected to work: [start, end) o'clock on the given ISO weekdays
    (1 = Monday), in `zone`."""

    start_hour: int
    end_hour: int
    days: frozenset[int]
    zone: tzinfo

    def outside(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if local.isoweekday() not in self.days:
            return True
        begins, ends = time(self.start_hour), local.time()
        return ends < begins or (self.end_hour < 24 and ends >= time(self.end_hour))


def parse_days(text: str) -> frozenset[int]:
    """`mon,tue,...` (any order, any case) as ISO weekday numbers; an empty text is no day."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in DAYS]
    if unknown:
        raise ValueError(f"working days are {', '.join(DAYS)}, comma-separated")
    return frozenset(DAYS.index(n) + 1 for n in names)


def distinct_subjects(entries: Iterable[Entry]) -> int:
    """How many different subjects the entries name."""
    return len({e.subject for e in entries if e.subject})


def crossing(count: int, threshold: int) -> bool:
    """A rule fires when its count reaches its threshold."""
    return count >= threshold


@dataclass(frozen=True)
class Candidate:
    """An alert a rule would open: its rule, scope (a staff id, `*` or a fingerprint), window
    and numbers-only body."""

    rule: Rule
    scope: str
    window: Window
    body: dict[str, int | str]


def counted(
    rule: Rule, scope: str, window: Window, count: int, threshold: int, **extra: int | str
) -> Iterator[Candidate]:
    """The candidate of one window's count, if it reaches the threshold."""
    if crossing(count, threshold):
        seconds = int((window.end - window.start).total_seconds())
        body: dict[str, int | str] = {"count": count, "threshold": threshold, "window_s": seconds}
        yield Candidate(rule, scope, window, {**body, **extra})


def check_reason(code: object, reference: object = None) -> tuple[AckReason, str | None]:
    """An acknowledgement's reason: one of the codes and, optionally, a ticket id."""
    if not isinstance(code, str) or code not in set(AckReason):
        allowed = ", ".join(r.value for r in AckReason)
        raise ValidationFailed("reason", f"is required, one of {allowed}")
    if reference in (None, ""):
        return AckReason(code), None
    if (
        not isinstance(reference, str)
        or len(reference) > MAX_REFERENCE
        or not REFERENCE.fullmatch(reference)
    ):
        raise ValidationFailed("reference", "must be a ticket id like SEC-1234 (no free text)")
    return AckReason(code), reference


def check_acknowledge(status: Status) -> None:
    """Only an open alert is acknowledged; an escalated one belongs to its incident."""
    if status is not Status.OPEN:
        raise Conflict(f"the alert is {status.value}; only an open alert is acknowledged")


def check_escalate(status: Status) -> None:
    """An alert opens one incident at most."""
    if status is Status.ESCALATED:
        raise Conflict("the alert was already escalated to an incident")
