"""Input is refused or made canonical: no hidden characters, one identity per address."""

from __future__ import annotations

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
