"""What a restriction (Art. 18) and each objection (Art. 21) refuse, and what they leave."""

from __future__ import annotations

import pytest

from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import ALLOWED_WHILE_RESTRICTED, Activity, check

NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize("activity", list(Activity))
def test_a_restriction_refuses_everything_but_storage_own_access_rights_and_security(
    activity: Activity,
) -> None:
    if activity in ALLOWED_WHILE_RESTRICTED:
        check(activity, restricted=True, objections=NONE)
    else:
        with pytest.raises(ProcessingRefused, match="restricted"):
            check(activity, restricted=True, objections=NONE)


@pytest.mark.parametrize("purpose", ["training", "marketing", "analytics"])
def test_each_objection_refuses_exactly_its_purpose(purpose: str) -> None:
    objections = frozenset({purpose})
    for activity in Activity:
        if activity.value == purpose:
            with pytest.raises(ProcessingRefused, match="objected"):
                check(activity, restricted=False, objections=objections)
        else:
            check(activity, restricted=False, objections=objections)


def test_without_restriction_or_objection_everything_is_allowed() -> None:
    assert {check(a, restricted=False, objections=NONE) for a in Activity} == {
        "service",
        "security",
        "analytics",
        "training",
        "marketing",
    }
