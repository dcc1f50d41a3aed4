"""The pure rules of retention: durations, cutoffs, hold reasons and references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from minimaker.retention.rules import Duration, check_reference, parse_reason

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", datetime(2026, 3, 30, 12, 0, tzinfo=UTC)),
        ("30d", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("0d", NOW),
        ("1mo", datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),  # 31 March - 1 month, clamped
        ("24mo", datetime(2024, 3, 31, 12, 0, tzinfo=UTC)),
        ("13mo", datetime(2025, 2, 28, 12, 0, tzinfo=UTC)),
    ],
)
def test_a_duration_counts_back_hours_days_and_calendar_months(
    text: str, expected: datetime
) -> None:
    assert Duration.parse(text).before(NOW) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "1.5d", "30 days", "01d", "1y", "3w"])
def test_a_duration_in_any_other_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="24h, 30d, 24mo"):
        Duration.parse(text)


def test_a_duration_is_compared_with_a_floor() -> None:
    assert Duration.parse("1d").at_least(timedelta(hours=1), now=NOW)
    assert not Duration.parse("0d").at_least(timedelta(seconds=1), now=NOW)


def test_a_hold_reason_is_a_code_and_a_reference_is_a_case_number() -> None:
    assert parse_reason("litigation").value == "litigation"
    with pytest.raises(ValueError, match="litigation, regulator"):
        parse_reason("because the boss said so")
    assert check_reference("CASE-2026/17") == "CASE-2026/17"
    for bad in ("", "Ada Lovelace's case", "x" * 65, "-leading"):
        with pytest.raises(ValueError, match="case number"):
            check_reference(bad)
