"""ENISA's severity (SE = DPC x EI + CB) on worked examples, and the proposal it makes."""

from __future__ import annotations

import pytest

from minimaker.breach.assessment import (
    CATEGORY_CLASS,
    EXCEPTION_34_3_A,
    AssessmentInvalid,
    Availability,
    Circumstances,
    Confidentiality,
    DataClass,
    Identification,
    Integrity,
    Level,
    Numbers,
    assess,
    level_of,
    score_category,
)
from minimaker.breach.exposure import CategoryCount
from minimaker.policy import load_policy


def numbers(*categories: str, encrypted: bool = False, subjects: int = 40) -> Numbers:
    counts = tuple(CategoryCount(name, subjects, subjects * 3) for name in categories)
    return Numbers(counts, subjects, encrypted)


def test_every_category_of_the_shipped_policy_has_an_enisa_class() -> None:
    assert set(CATEGORY_CLASS) == set(load_policy().categories)


def test_simple_data_hard_to_identify_is_low_and_the_authority_need_not_be_told() -> None:
    found = assess(numbers("account"), Circumstances(Identification.NEGLIGIBLE))
    assert (found.dpc, found.ei, found.cb, found.score) == (1, 0.25, 0.0, 0.25)
    assert found.level is Level.LOW
    assert (found.notify_authority, found.notify_subjects, found.exception) == (False, False, None)
    assert "Art. 33(1)" in found.reasons[1] and "Art. 33(5)" in found.reasons[1]
    assert "ENISA" in found.method and "2013" in found.method


def test_a_stolen_encrypted_backup_is_high_but_the_subjects_fall_under_34_3_a() -> None:
    # Photos (behavioural, 2) x maximum identification (1) + unknown recipients (0.5) + theft
    # (0.5) = 3.0: high. Everything was encrypted under keys the thief does not hold.
    stolen = Circumstances(
        Identification.MAXIMUM, confidentiality=Confidentiality.UNKNOWN_RECIPIENTS, malicious=True
    )
    found = assess(numbers("account", "uploaded_image", encrypted=True), stolen)
    assert (found.dpc, found.score, found.level) == (2, 3.0, Level.HIGH)
    assert found.notify_authority is True
    assert found.notify_subjects is False
    assert found.exception == EXCEPTION_34_3_A == "Art. 34(3)(a)"
    assert any("Art. 34(3)(a)" in r and "not compromised" not in r for r in found.reasons)
    assert any("keys the breach did not reach" in r for r in found.reasons)


def test_the_same_backup_unencrypted_means_telling_every_subject() -> None:
    stolen = Circumstances(
        Identification.MAXIMUM, confidentiality=Confidentiality.UNKNOWN_RECIPIENTS, malicious=True
    )
    found = assess(numbers("account", "uploaded_image", subjects=12), stolen)
    assert (found.notify_authority, found.notify_subjects, found.exception) == (True, True, None)
    assert any("Tell the 12 people affected" in r for r in found.reasons)


def test_encryption_does_not_spare_the_notice_when_the_data_was_lost() -> None:
    lost = Circumstances(
        Identification.MAXIMUM,
        availability=Availability.PERMANENT,
        malicious=True,
        adjustments={"uploaded_image": 1},
    )
    found = assess(numbers("uploaded_image", encrypted=True), lost)
    assert (found.dpc, found.score, found.level) == (3, 4.0, Level.VERY_HIGH)
    assert (found.notify_subjects, found.exception) == (True, None)
    assert any("does not cover a loss of integrity or availability" in r for r in found.reasons)


def test_medium_severity_tells_the_authority_but_not_the_subjects() -> None:
    found = assess(
        numbers("uploaded_image"),
        Circumstances(Identification.MAXIMUM, confidentiality=Confidentiality.KNOWN_RECIPIENTS),
    )
    assert (found.score, found.level) == (2.25, Level.MEDIUM)
    assert (found.notify_authority, found.notify_subjects) == (True, False)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0.0, Level.LOW),
        (1.99, Level.LOW),
        (2.0, Level.MEDIUM),
        (2.99, Level.MEDIUM),
        (3.0, Level.HIGH),
        (3.99, Level.HIGH),
        (4.0, Level.VERY_HIGH),
        (5.5, Level.VERY_HIGH),
    ],
)
def test_the_enisa_bands(score: float, level: Level) -> None:
    assert level_of(score) is level


def test_circumstances_add_up_as_enisa_scores_them() -> None:
    every = Circumstances(
        Identification.LIMITED,
        confidentiality=Confidentiality.UNKNOWN_RECIPIENTS,
        integrity=Integrity.UNRECOVERABLE,
        availability=Availability.TEMPORARY,
        malicious=True,
    )
    found = assess(numbers("message"), every)
    assert (found.ei, found.cb, found.score) == (0.5, 1.5, 2.0)
    recoverable = Circumstances(Identification.LIMITED, integrity=Integrity.RECOVERABLE)
    assert assess(numbers("message"), recoverable).cb == 0.0


def test_the_highest_category_sets_the_data_processing_context() -> None:
    found = assess(
        numbers("account", "generated_model", "message"), Circumstances(Identification.MAXIMUM)
    )
    assert found.dpc == 2
    assert {s.category: s.dpc for s in found.categories} == {
        "account": 1,
        "generated_model": 2,
        "message": 1,
    }


def test_adjustments_stay_within_the_class_range_and_the_score_within_1_to_4() -> None:
    assert score_category("account", 3).dpc == 4
    assert score_category("uploaded_image", -1).dpc == 1
    with pytest.raises(AssessmentInvalid, match="adjusts by 0 to 3"):
        score_category("account", -1)
    with pytest.raises(AssessmentInvalid, match="adjusts by -1 to 1"):
        score_category("uploaded_image", 2)


def test_an_unclassified_category_counts_as_sensitive() -> None:
    assert score_category("health_notes").data_class is DataClass.SENSITIVE
    assert score_category("health_notes").dpc == 4


def test_nothing_to_score_or_a_stray_adjustment_is_refused() -> None:
    with pytest.raises(AssessmentInvalid, match="at least one category"):
        assess(
            Numbers((CategoryCount("account", 0, 0),), 0, False),
            Circumstances(Identification.MAXIMUM),
        )
    with pytest.raises(AssessmentInvalid, match="only the categories in the scope"):
        assess(
            numbers("account"), Circumstances(Identification.MAXIMUM, adjustments={"message": 1})
        )
