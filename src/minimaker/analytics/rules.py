"""Usage aggregates as pure rules (policy 4.2, 7.3): which cells, what sensitivity, what budget.

Nothing here reads a database, a clock or a setting: the service passes them. The noise itself
is OpenDP's (aggregates.py); these are the facts its calibration and the refusals rest on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from minimaker.kernel.errors import Conflict, MiniMakerError, ValidationFailed

#: The event types usage events are recorded under (`usage.record(..., event=...)`), declared
#: here once: the key set of a publication is public, so which cells exist says nothing about
#: anyone. An event type missing here is never published (a test walks the record calls).
PUBLISHED_EVENTS: tuple[str, ...] = ("model.generated",)
#: The OpenDP mechanism: `make_laplace` on an integer vector is the discrete Laplace.
MECHANISM = "opendp.discrete_laplace"
#: Budget sums are floats: a rounding hair above the budget is not a new spend.
_EPSILON_SLACK = 1e-9


@dataclass(frozen=True)
class Cell:
    """One day's true count for one event type: distinct people, and events clamped per person."""

    event: str
    people: int
    events: int


def sensitivities(*, cap: int, types: int) -> tuple[int, int]:
    """L1 sensitivities (people vector, events vector) of one person's presence.

    A person can appear in every event type's cell of their day (one pseudonym a day), adding
    1 to each people count and at most `cap` to each events count.
    """
    return types, cap * types


def kept(cells: list[Cell], *, k: int) -> tuple[list[Cell], int]:
    """The cells with at least `k` distinct people, and how many were suppressed."""
    keep = [c for c in cells if c.people >= k]
    return keep, len(cells) - len(keep)


def floor_at(value: int, k: int) -> int:
    """Post-processing: a published value is never below `k` (keeps the DP guarantee)."""
    return max(int(value), k)


def budget_problem(spent: float, wanted: float, budget: float) -> str | None:
    """Why spending `wanted` more on a day that spent `spent` breaks `budget`; None if fine."""
    if spent + wanted > budget + _EPSILON_SLACK:
        return (
            f"the day's privacy budget is {budget:g}; {spent:g} is spent and this publication "
            f"needs {wanted:g}"
        )
    return None


def day_problem(day: date, *, today: date, kept_days: int) -> str | None:
    """Why `day` cannot be published today; None if it is complete and within retention."""
    if day >= today:
        return "the day is not over yet (UTC): only complete days are published"
    # The retention sweep takes a day's events `kept_days` after its midnight: the day that
    # old is being swept now, and a half-swept day would publish counts that are not true.
    if day <= today - timedelta(days=kept_days):
        return f"the day's raw events are kept {kept_days} days: that day is gone or going"
    return None


def parse_day(text: str) -> date:
    """`YYYY-MM-DD` as a date; DayRefused otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise DayRefused("a day is written YYYY-MM-DD") from None


class DayRefused(ValidationFailed):
    """The day cannot be published (malformed, not over, or beyond the raw events' retention)."""

    code = "analytics_day_refused"

    def __init__(self, reason: str) -> None:
        super().__init__("day", reason)


class BudgetExhausted(MiniMakerError):
    """A further publication of the day would spend more epsilon than its budget allows."""

    status = 409
    code = "analytics_budget_exhausted"

    def __init__(self, day: date, reason: str) -> None:
        self.day = day
        super().__init__(f"publication of {day.isoformat()} refused: {reason}; nothing was sent")


class PublicationUnderWay(Conflict):
    """Another process reserved the same publication slot of the day first."""

    code = "analytics_publication_under_way"

    def __init__(self, day: date) -> None:
        self.day = day
        super().__init__(f"another publication of {day.isoformat()} is under way; try again")


class AnalyticsNotConfigured(MiniMakerError):
    """No analytics URL: nothing would leave, so nothing is computed and no budget is spent."""

    status = 409
    code = "analytics_not_configured"

    def default_message(self) -> str:
        return "MINIMAKER_ANALYTICS_URL is not set: nothing is published, no budget is spent"
