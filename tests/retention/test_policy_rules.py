"""The policy file's retention rules, held against themselves and against the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from minimaker import bootstrap
from minimaker.policy import PolicyRefused
from minimaker.settings import Settings
from tests.policy.files import line_of, policy_file

_PHOTOS = "    rules:\n      photos: {after: 30d}\n"


def _refusal(tmp_path: Path, *replace: tuple[str, str]) -> str:
    path = policy_file(tmp_path, replace=replace)
    with pytest.raises(PolicyRefused) as refused:
        bootstrap.policy_in_force(Settings(policy_file=path, data_dir=tmp_path / "data"))
    return str(refused.value)


def test_the_shipped_policy_has_a_rule_with_mechanics_for_every_timed_rule(
    tmp_path: Path,
) -> None:
    doc = bootstrap.policy_in_force(Settings(data_dir=tmp_path))
    assert all(category.rules for category in doc.policy.categories.values())


def test_a_category_without_rules_is_refused_naming_its_line(tmp_path: Path) -> None:
    message = _refusal(tmp_path, (_PHOTOS, ""))
    source = policy_file(tmp_path / "copy", replace=((_PHOTOS, ""),)).read_text()
    line = line_of(source, "  uploaded_image:\n")
    assert f"line {line} (categories.uploaded_image.rules): Field required" in message


def test_a_rule_with_both_a_duration_and_an_event_is_refused(tmp_path: Path) -> None:
    message = _refusal(
        tmp_path, ("photos: {after: 30d}", "photos: {after: 30d, until: account_erased}")
    )
    assert "rule photos of uploaded_image needs exactly one of after: or until:" in message


def test_a_rule_name_used_twice_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, ("models: {after: 24mo}", "photos: {after: 24mo}"))
    assert "rule photos is named twice" in message


def test_a_timed_rule_the_code_does_not_sweep_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, (_PHOTOS, _PHOTOS + "      thumbnails: {after: 1d}\n"))
    assert "rule thumbnails of uploaded_image has no mechanics in the code" in message


def test_a_sweep_the_policy_does_not_order_is_refused(tmp_path: Path) -> None:
    message = _refusal(
        tmp_path, ("      usage_events: {after: 90d}\n", "      raw: {until: account_erased}\n")
    )
    assert "the code sweeps rule usage_events of usage_event, which the policy" in message


def test_a_rule_shorter_than_the_throttle_window_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, ("login_failures: {after: 1d}", "login_failures: {after: 0d}"))
    assert "rule login_failures of security_log is shorter than the code needs" in message


def test_a_malformed_duration_is_refused_naming_its_line(tmp_path: Path) -> None:
    message = _refusal(tmp_path, ("photos: {after: 30d}", "photos: {after: 30 days}"))
    assert "(categories.uploaded_image.rules.photos.after)" in message
