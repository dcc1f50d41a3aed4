"""The purpose rule as a pure function: each refusal in its order, and the shortcut that skips
reading a subject's state gives the same answer as the full rule for every state."""

from __future__ import annotations

import itertools

import pytest

from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import (
    ALLOWED_WHILE_RESTRICTED,
    Declared,
    Purpose,
    Refusal,
    SubjectState,
    check,
    refusal,
    state_matters,
)
from minimaker.policy import load_policy
from minimaker.rights.processing import declared

#: A small policy of its own, so the rule is tested apart from the shipped file.
POLICY = {
    "service": Declared(frozenset({"account", "uploaded_image"})),
    "security": Declared(frozenset({"security_log"})),
    "analytics": Declared(frozenset({"usage_event"}), objectable=True),
    "marketing": Declared(frozenset({"generated_model"}), objectable=True, consent=True),
    "generation": Declared(frozenset({"uploaded_image"})),
}

#: An operator's policy that makes service objectable and puts security on consent: the
#: shortcut must then read the state for them too.
OPERATOR = {
    **POLICY,
    "service": Declared(frozenset({"account"}), objectable=True),
    "security": Declared(frozenset({"security_log"}), consent=True),
}

#: Every subject state the rule distinguishes, for the purposes above.
STATES = [
    SubjectState(restricted=r, objections=frozenset(o), consents=frozenset(k))
    for r, o, k in itertools.product(
        (False, True),
        ((), ("analytics", "marketing", "service")),
        ((), ("marketing", "security")),
    )
]


def test_a_purpose_the_policy_does_not_declare_is_refused_as_undeclared() -> None:
    found = refusal(Purpose.TRAINING, ["uploaded_image"], SubjectState(), POLICY)
    assert found is not None and found[0] is Refusal.UNDECLARED
    assert "training" in found[1]


def test_a_category_the_purpose_does_not_declare_is_refused_naming_it() -> None:
    found = refusal(Purpose.SERVICE, ["account", "usage_event"], SubjectState(), POLICY)
    assert found is not None and found[0] is Refusal.CATEGORY
    assert "usage_event" in found[1] and "account" not in found[1]


def test_restriction_refuses_all_but_service_and_security() -> None:
    restricted = SubjectState(restricted=True, consents=frozenset({"marketing"}))
    assert refusal(Purpose.SERVICE, ["account"], restricted, POLICY) is None
    assert refusal(Purpose.SECURITY, ["security_log"], restricted, POLICY) is None
    for purpose, category in (
        (Purpose.GENERATION, "uploaded_image"),
        (Purpose.ANALYTICS, "usage_event"),
        (Purpose.MARKETING, "generated_model"),
    ):
        found = refusal(purpose, [category], restricted, POLICY)
        assert found is not None and found[0] is Refusal.RESTRICTED, purpose
    assert frozenset({Purpose.SERVICE, Purpose.SECURITY}) == ALLOWED_WHILE_RESTRICTED


def test_an_objection_wins_over_a_consent() -> None:
    both = SubjectState(objections=frozenset({"marketing"}), consents=frozenset({"marketing"}))
    found = refusal(Purpose.MARKETING, ["generated_model"], both, POLICY)
    assert found is not None and found[0] is Refusal.OBJECTED


def test_a_consent_purpose_is_refused_until_consented() -> None:
    found = refusal(Purpose.MARKETING, ["generated_model"], SubjectState(), POLICY)
    assert found is not None and found[0] is Refusal.NO_CONSENT
    given = SubjectState(consents=frozenset({"marketing"}))
    assert refusal(Purpose.MARKETING, ["generated_model"], given, POLICY) is None


def test_an_objection_to_a_purpose_that_is_not_objectable_changes_nothing() -> None:
    # The rule honours what the policy makes objectable; the services record no other.
    state = SubjectState(objections=frozenset({"service"}))
    assert refusal(Purpose.SERVICE, ["account"], state, POLICY) is None


def test_check_raises_the_refusal_and_returns_the_purpose_when_allowed() -> None:
    assert check(Purpose.SERVICE, ["account"], SubjectState(), POLICY) is Purpose.SERVICE
    with pytest.raises(ProcessingRefused) as refused:
        check(Purpose.ANALYTICS, ["usage_event"], SubjectState(restricted=True), POLICY)
    assert refused.value.purpose == "analytics" and "Art. 18" in refused.value.reason


@pytest.mark.parametrize("policy_name", ["small", "operator", "shipped"])
def test_skipping_the_state_gives_the_full_rules_answer_for_every_state(
    policy_name: str,
) -> None:
    rules = {"small": POLICY, "operator": OPERATOR}.get(policy_name) or declared(load_policy())
    categories = sorted({c for d in rules.values() for c in d.categories} | {"message"})
    skipped = 0
    for purpose, category, state in itertools.product(Purpose, categories, STATES):
        if not state_matters(purpose, rules):
            skipped += 1
            full = refusal(purpose, [category], state, rules)
            assert full == refusal(purpose, [category], SubjectState(), rules), (purpose, state)
    assert skipped > 0  # the shortcut really applies somewhere


def test_state_matters_for_every_purpose_a_state_can_refuse() -> None:
    assert not state_matters(Purpose.SERVICE, POLICY)
    assert not state_matters(Purpose.SECURITY, POLICY)
    assert not state_matters(Purpose.TRAINING, POLICY)  # undeclared: refused for everyone
    assert state_matters(Purpose.GENERATION, POLICY)  # a restriction refuses it
    assert state_matters(Purpose.ANALYTICS, POLICY)
    assert state_matters(Purpose.MARKETING, POLICY)
    # A service made objectable by an operator's policy needs the subject's state again.
    objectable = {**POLICY, "service": Declared(frozenset({"account"}), objectable=True)}
    assert state_matters(Purpose.SERVICE, objectable)
    on_consent = {**POLICY, "security": Declared(frozenset({"security_log"}), consent=True)}
    assert state_matters(Purpose.SECURITY, on_consent)


def test_each_objection_refuses_exactly_its_purpose() -> None:
    touches = {"analytics": "usage_event", "marketing": "generated_model"}
    for objected in ("analytics", "marketing"):
        state = SubjectState(objections=frozenset({objected}), consents=frozenset({"marketing"}))
        for purpose, category in touches.items():
            found = refusal(Purpose(purpose), [category], state, POLICY)
            if purpose == objected:
                assert found is not None and found[0] is Refusal.OBJECTED, purpose
            else:
                assert found is None, (objected, purpose)
