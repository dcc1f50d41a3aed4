"""Retention, the pure part: durations, cutoffs, hold reasons and the report of a run."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

_DURATION = re.compile(r"^(0|[1-9][0-9]{0,4})(h|d|mo)$")
#: The account's last warning must be this old before an inactive account is erased: a
#: person told "in a month" gets at least 30 days to keep it, whenever the rules first ran.
NOTICE_PERIOD = timedelta(days=30)
#: What a legal hold's reference may hold: a case or file number, never free text (no names).
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
#: A hold on every rule of a subject.
ALL_RULES = "*"


@dataclass(frozen=True)
class Duration:
    """A rule's duration: hours, days or calendar months (`24h`, `30d`, `24mo`, `0d`)."""

    amount: int
    unit: str  # "h", "d", "mo"

    @classmethod
    def parse(cls, text: str) -> Duration:
        """`30d` -> Duration(30, "d"); ValueError names the accepted forms."""
        m = _DURATION.fullmatch(text.strip())
        if m is None:
            raise ValueError("a duration is a whole number and h, d or mo: 24h, 30d, 24mo, 0d")
        return cls(int(m.group(1)), m.group(2))

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def before(self, moment: datetime) -> datetime:
        """The moment this long before `moment` (calendar months keep the day, clamped)."""
        if self.unit == "h":
            return moment - timedelta(hours=self.amount)
        if self.unit == "d":
            return moment - timedelta(days=self.amount)
        months = moment.year * 12 + moment.month - 1 - self.amount
        year, month = divmod(months, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)

    def at_least(self, floor: timedelta, *, now: datetime) -> bool:
        """Whether this duration is no shorter than `floor` (measured back from `now`)."""
        return now - self.before(now) >= floor


class Event(StrEnum):
    """What ends a rule with no duration: the data lives exactly as long as the event waits."""

    ACCOUNT_ERASED = "account_erased"  # erasure (rights/erasure.py) is the mechanism
    HOLD_RELEASED = "hold_released"  # the hold is released by the staff who set it


class HoldReason(StrEnum):
    """Policy 9.1 "unless required by law": why data outlives its rule. Codes, not text."""

    LITIGATION = "litigation"  # Art. 17(3)(e): establishment, exercise or defence of claims
    REGULATOR = "regulator"  # an inquiry of a supervisory authority
    LAW_ENFORCEMENT = "law_enforcement"  # a preservation order
    STATUTORY = "statutory"  # a retention duty in law (tax, accounting)


#: What the subject is told of a hold's reason, in plain words (never the case reference,
#: which may name the other party or the authority's file).
PLAIN_REASON: dict[HoldReason, str] = {
    HoldReason.LITIGATION: "it is needed for a legal claim, such as a court case",
    HoldReason.REGULATOR: "a supervisory authority is looking into a matter it concerns",
    HoldReason.LAW_ENFORCEMENT: "an order of the police or a court requires us to preserve it",
    HoldReason.STATUTORY: "a law obliges us to keep such records for a time (such as tax law)",
}


def parse_reason(text: str) -> HoldReason:
    """The hold reason `text` names; ValueError lists the codes."""
    try:
        return HoldReason(text)
    except ValueError:
        codes = ", ".join(r.value for r in HoldReason)
        raise ValueError(f"unknown hold reason; one of {codes}") from None


def check_reference(text: str) -> str:
    """A hold's reference, checked to be a case number, not prose (no personal data)."""
    if not REFERENCE.fullmatch(text):
        raise ValueError("a reference is 1-64 letters, digits and . _ / - (a case number)")
    return text


@dataclass
class RuleReport:
    """What a run did for one rule: counts only."""

    category: str
    rule: str
    what: str
    cutoff: datetime
    removed: int = 0
    held: int = 0
    offered: int = 0
    batches: int = 0


@dataclass
class Report:
    """What a run did (or, dry, would do), rule by rule."""

    dry_run: bool
    rules: list[RuleReport] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(r.removed for r in self.rules)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.rules)
