"""Master key parsing, wrapping, and field encryption with blind indexes."""

from __future__ import annotations

import pytest

from minimaker.adapters.crypto.fields import blind_index, open_field, seal_field
from minimaker.adapters.crypto.keys import MasterKey, decode_key, encode_key, generate_key
from minimaker.kernel.errors import ConfigurationError, KeyUnavailable


def test_a_generated_key_round_trips_through_its_text_form() -> None:
    key = generate_key()
    assert decode_key(encode_key(key)) == key


@pytest.mark.parametrize("text", ["", "not base64!!", encode_key(b"short"), encode_key(b"x" * 33)])
def test_malformed_master_keys_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError):
        decode_key(text)


def test_a_wrapped_key_opens_only_under_its_master_key_and_context() -> None:
    master, other = MasterKey(generate_key()), MasterKey(generate_key())
    dek = generate_key()
    wrapped = master.wrap(dek, context="dek:a")
    assert master.unwrap(wrapped, context="dek:a") == dek
    with pytest.raises(KeyUnavailable):
        other.unwrap(wrapped, context="dek:a")
    with pytest.raises(KeyUnavailable):
        master.unwrap(wrapped, context="dek:b")  # moved to another subject
    tampered = bytearray(wrapped)
    tampered[-1] ^= 1
    with pytest.raises(KeyUnavailable):
        master.unwrap(bytes(tampered), context="dek:a")
    assert master.kek_id != other.kek_id


def test_sealed_fields_are_bound_to_their_subject_and_field() -> None:
    dek = generate_key()
    sealed = seal_field(dek, subject_id="a" * 32, field="email", value="x@example.org")
    assert b"example" not in sealed
    assert open_field(dek, subject_id="a" * 32, field="email", sealed=sealed) == "x@example.org"
    with pytest.raises(KeyUnavailable):
        open_field(dek, subject_id="b" * 32, field="email", sealed=sealed)
    with pytest.raises(KeyUnavailable):
        open_field(dek, subject_id="a" * 32, field="name", sealed=sealed)
    with pytest.raises(KeyUnavailable):
        open_field(generate_key(), subject_id="a" * 32, field="email", sealed=sealed)


def test_blind_indexes_match_equal_values_and_depend_on_the_key() -> None:
    k1, k2 = generate_key(), generate_key()
    assert blind_index(k1, field="email", value="a@example.org") == blind_index(
        k1, field="email", value="a@example.org"
    )
    assert blind_index(k1, field="email", value="a@example.org") != blind_index(
        k1, field="username", value="a@example.org"
    )
    assert blind_index(k1, field="email", value="a@example.org") != blind_index(
        k2, field="email", value="a@example.org"
    )
