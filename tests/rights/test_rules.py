"""Request deadlines by calendar month, the lifecycle, and the extension rules (Art. 12(3))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimaker.kernel.errors import ValidationFailed
from minimaker.rights.rules import (
    Deadline,
    ExtensionRefused,
    InvalidTransition,
    RequestType,
    Status,
    add_months,
    parse_type,
    rejection_reason_required,
    transition,
)


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2025, 1, 31), at(2025, 2, 28)),  # no 31 February: the month's last day
        (at(2024, 1, 31), at(2024, 2, 29)),  # leap year
        (at(2024, 1, 30), at(2024, 2, 29)),
        (at(2025, 1, 15), at(2025, 2, 15)),
        (at(2025, 3, 31), at(2025, 4, 30)),
        (at(2025, 12, 31), at(2026, 1, 31)),  # across the year end
        (at(2100, 1, 31), at(2100, 2, 28)),  # 2100 is not a leap year
        (at(2000, 1, 31), at(2000, 2, 29)),  # 2000 is
    ],
)
def test_a_request_is_due_one_calendar_month_after_receipt(
    received: datetime, due: datetime
) -> None:
    assert Deadline.for_receipt(received).due_at == due


def test_one_month_is_not_thirty_days() -> None:
    assert Deadline.for_receipt(at(2025, 7, 1)).due_at == at(2025, 8, 1)  # 31 days
    assert Deadline.for_receipt(at(2025, 2, 1)).due_at == at(2025, 3, 1)  # 28 days


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2400, 1, 1)), st.integers(0, 36)
)
def test_adding_months_keeps_the_time_and_never_overshoots_the_month(
    moment: datetime, months: int
) -> None:
    result = add_months(moment, months)
    assert (result.year * 12 + result.month) - (moment.year * 12 + moment.month) == months
    assert result.time() == moment.time()
    assert result.day <= moment.day


def test_an_extension_is_allowed_once_by_at_most_two_months_before_the_due_date() -> None:
    deadline = Deadline.for_receipt(at(2025, 1, 31))
    extended = deadline.extend(2, now=at(2025, 2, 10), reason="many photos to collect")
    assert extended.due_at == at(2025, 4, 28)
    assert extended.extended_months == 2
    with pytest.raises(ExtensionRefused, match="already extended"):
        extended.extend(1, now=at(2025, 2, 11), reason="again")
    with pytest.raises(ExtensionRefused, match="1 to 2 months"):
        deadline.extend(3, now=at(2025, 2, 10), reason="too long")
    with pytest.raises(ExtensionRefused, match="1 to 2 months"):
        deadline.extend(0, now=at(2025, 2, 10), reason="none")
    with pytest.raises(ExtensionRefused, match="original due date has passed"):
        deadline.extend(1, now=at(2025, 3, 1), reason="late")
    with pytest.raises(ExtensionRefused, match="reason"):
        deadline.extend(1, now=at(2025, 2, 10), reason="   ")


def test_a_pause_moves_the_due_date_by_the_time_spent_waiting() -> None:
    deadline = Deadline.for_receipt(at(2025, 5, 10)).paused(timedelta(days=3))
    assert deadline.due_at == at(2025, 6, 13)
    assert deadline.paused_for == timedelta(days=3)


def test_overdue_and_due_soon_are_decided_by_the_due_date() -> None:
    deadline = Deadline.for_receipt(at(2025, 5, 10))
    assert not deadline.is_overdue(at(2025, 6, 10))
    assert deadline.is_overdue(at(2025, 6, 10, 13))
    assert deadline.due_within(at(2025, 6, 5), 7)
    assert not deadline.due_within(at(2025, 5, 20), 7)


def test_the_lifecycle_allows_only_its_transitions() -> None:
    assert transition(Status.RECEIVED, Status.VERIFIED) is Status.VERIFIED
    assert transition(Status.VERIFIED, Status.IN_PROGRESS) is Status.IN_PROGRESS
    assert transition(Status.IN_PROGRESS, Status.COMPLETED) is Status.COMPLETED
    assert transition(Status.IN_PROGRESS, Status.PAUSED) is Status.PAUSED
    for done in (Status.COMPLETED, Status.REJECTED):
        for target in Status:
            with pytest.raises(InvalidTransition):
                transition(done, target)
    with pytest.raises(InvalidTransition):
        transition(Status.RECEIVED, Status.COMPLETED)  # never without verification


def test_request_types_are_parsed_strictly() -> None:
    assert parse_type("erasure") is RequestType.ERASURE
    for bad in ("Erasure", "delete", "", None, 3, ["access"]):
        with pytest.raises(ValidationFailed):
            parse_type(bad)


def test_a_rejection_needs_a_real_justification() -> None:
    assert rejection_reason_required("  the same request twice this week  ").startswith("the")
    for bad in (None, "", "no", "         "):
        with pytest.raises(ValidationFailed):
            rejection_reason_required(bad)
