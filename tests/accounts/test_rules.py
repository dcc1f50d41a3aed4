"""Input is refused or made canonical: no hidden characters, one identity per address."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minimaker.accounts import rules
from minimaker.kernel.errors import ValidationFailed

#: Characters that make text read otherwise than it is stored.
HIDDEN = ["\x00", "\x1b", "\x7f", "\u202e", "\u2066", "\u200b", "\u2060", "\ufeff", "\u200f"]


@pytest.mark.parametrize("ch", HIDDEN)
def test_an_address_with_a_control_or_invisible_character_is_refused(ch: str) -> None:
    with pytest.raises(ValidationFailed, match="email"):
        rules.clean_email(f"ada{ch}@example.org")


@pytest.mark.parametrize("ch", HIDDEN)
def test_a_name_with_a_control_or_invisible_character_is_refused(ch: str) -> None:
    with pytest.raises(ValidationFailed, match="invisible"):
        rules.clean_name(f"Ada{ch} Lovelace")


def test_joiners_that_shape_letters_are_kept_in_names() -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ between two words
    assert rules.clean_name(persian) == persian


@given(st.text(min_size=1, max_size=40))
def test_whatever_a_name_holds_a_clean_one_has_nothing_hidden(text: str) -> None:
    try:
        name = rules.clean_name(text)
    except ValidationFailed:
        return
    assert name == unicodedata.normalize("NFC", name) == name.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
    assert all(unicodedata.category(c) != "Cf" or c in "\u200c\u200d" for c in name)


@given(st.text(alphabet=st.characters(categories=["Ll", "Lu", "Mn"]), min_size=1, max_size=20))
def test_one_address_in_nfc_nfd_or_another_case_has_one_identity(local: str) -> None:
    address = f"{local}@example.org"
    # Only where upper and lower case map back (not so for the micro sign, say).
    assume(address.upper().lower() == address.lower())
    forms = {unicodedata.normalize(f, address) for f in ("NFC", "NFD")} | {address.upper()}
    assert len({rules.email_key(form) for form in forms}) == 1


def test_the_schema_pattern_names_exactly_the_hidden_characters() -> None:
    # The API schema states the rule as a character class; it must match `_hidden` exactly,
    # on this Python's Unicode tables (a new Unicode version changes Cf).
    hidden = re.compile(f"[{rules.HIDDEN_CLASS}]")
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cs":
            continue  # no JSON string carries a lone surrogate; _hidden refuses them anyway
        assert bool(hidden.match(ch)) == rules._hidden(ch), f"U+{cp:04X}"


@pytest.mark.parametrize(
    ("pattern", "value", "valid"),
    [
        (rules.NAME_PATTERN, "Ada Lovelace", True),
        (rules.NAME_PATTERN, "   ", False),
        (rules.NAME_PATTERN, "A\u202eda", False),
        (rules.NAME_PATTERN, "\u0645\u200c\u06cc", True),  # ZWNJ stays allowed
        (rules.EMAIL_PATTERN, " ada@example.org ", True),
        (rules.EMAIL_PATTERN, "ada@example", False),
        (rules.EMAIL_PATTERN, "a\u200bda@example.org", False),
        (rules.USERNAME_PATTERN, "ada", True),
        (rules.USERNAME_PATTERN, "_ada", False),
    ],
)
def test_the_schema_patterns_agree_with_the_rules(pattern: str, value: str, valid: bool) -> None:
    assert bool(re.match(pattern, value)) is valid
    clean = {
        rules.NAME_PATTERN: rules.clean_name,
        rules.EMAIL_PATTERN: rules.clean_email,
        rules.USERNAME_PATTERN: rules.clean_username,
    }[pattern]
    try:
        clean(value)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert accepted is valid
