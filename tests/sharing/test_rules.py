"""The sharing rule on its own: processor, DPA, purpose, categories, region, payload shape."""

from __future__ import annotations

from datetime import date

import pytest

from minimaker.policy.model import Treatment as PolicyTreatment
from minimaker.sharing import rules
from minimaker.sharing.rules import Entry, Refusal, Treatment

TODAY = date(2026, 6, 1)
SID = "0123456789abcdef0123456789abcdef"


def entry(**changes: object) -> Entry:
    fields: dict[str, object] = {
        "name": "print-partner",
        "purposes": frozenset({"service"}),
        "categories": frozenset({"account", "generated_model"}),
        "treatment": Treatment.PERSONAL,
        "dpa_signed": date(2025, 1, 1),
        "dpa_expires": None,
        "transfer_problem": None,
    }
    fields.update(changes)
    return Entry(**fields)  # type: ignore[arg-type]


def refused(e: Entry | None, categories: tuple[str, ...] = ("generated_model",)) -> Refusal | None:
    found = rules.refusal(
        e,
        purpose="service",
        categories=categories,
        declared=frozenset({"account", "generated_model", "message"}),
        today=TODAY,
    )
    return None if found is None else found[0]


def test_a_processor_the_policy_names_under_a_dpa_in_force_may_receive_its_categories() -> None:
    assert refused(entry()) is None
    assert refused(entry(dpa_expires=TODAY)) is None  # the last day of the DPA still counts


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dpa_signed": None}, Refusal.NO_DPA),
        ({"dpa_expires": date(2026, 5, 31)}, Refusal.DPA_EXPIRED),
        ({"dpa_signed": date(2026, 6, 2)}, Refusal.DPA_NOT_YET),
        ({"purposes": frozenset({"analytics"})}, Refusal.PURPOSE),
        ({"categories": frozenset({"account"})}, Refusal.CATEGORY),
        ({"transfer_problem": "region us (US) records no safeguard"}, Refusal.TRANSFER),
    ],
)
def test_each_thing_the_policy_demands_of_a_processor_is_refused_on_its_own(
    changes: dict[str, object], expected: Refusal
) -> None:
    assert refused(entry(**changes)) is expected


def test_unknown_processors_undeclared_categories_and_no_category_are_refused() -> None:
    assert refused(None) is Refusal.UNKNOWN_PROCESSOR
    # The processor's own, but not declared for the purpose: the purpose decides (Art. 5(1)(b)).
    wide = entry(categories=frozenset({"generated_model", "uploaded_image"}))
    assert refused(wide, ("uploaded_image",)) is Refusal.CATEGORY
    assert refused(entry(), ()) is Refusal.CATEGORY
    undeclared = rules.refusal(
        entry(), purpose="service", categories=("account",), declared=None, today=TODAY
    )
    assert undeclared is not None and undeclared[0] is Refusal.PURPOSE


def test_the_rule_mirrors_the_treatments_of_the_policy_file() -> None:
    assert {t.value for t in Treatment} == {t.value for t in PolicyTreatment}


def test_a_pseudonym_is_keyed_stable_and_different_for_each_processor() -> None:
    key, other_key = b"k" * 32, b"o" * 32
    first = rules.pseudonym(key, "print-partner", SID)
    assert first == rules.pseudonym(key, "print-partner", SID)
    assert first != rules.pseudonym(key, "render-farm", SID)  # no joining two copies
    assert first != rules.pseudonym(other_key, "print-partner", SID)  # no key, no pseudonym
    assert SID not in first and len(first) == 32


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ([{"day": "2026-06-01", "event": "model.generated", "count": 12}], True),
        ([], True),
        ({"day": "2026-06-01", "count": 12}, False),  # not a list of rows
        ([{"day": "2026-06-01", "subject_id": "x", "count": 1}], False),
        ([{"day": "2026-06-01", "Email": "x", "count": 1}], False),
        ([{"day": "2026-06-01", "event": f"by {SID}", "count": 1}], False),
        ([{"day": "2026-06-01", "counts": [1, 2]}], False),
        (["a row that is not a mapping"], False),
    ],
)
def test_anonymised_data_is_flat_aggregate_rows_that_name_nobody(payload: object, ok: bool) -> None:
    assert (rules.aggregates_problem(payload) is None) is ok


def test_an_anonymised_share_is_about_nobody_and_a_pseudonymised_one_about_someone() -> None:
    assert rules.subject_problem(Treatment.ANONYMISED, SID) is not None
    assert rules.subject_problem(Treatment.ANONYMISED, None) is None
    assert rules.subject_problem(Treatment.PSEUDONYMISED, None) is not None
    assert rules.subject_problem(Treatment.PSEUDONYMISED, SID) is None
    assert rules.subject_problem(Treatment.PERSONAL, None) is None
    assert rules.names({"note": {"deep": [SID]}}, SID)
    assert not rules.names({"note": "nothing"}, SID)
