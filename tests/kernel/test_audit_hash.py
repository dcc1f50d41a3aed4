"""The audit chain's pure rules: the entry hash, building rows, and checking them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimaker.kernel.audit import (
    GENESIS_HASH,
    AuditEvent,
    anchors,
    chain,
    check_chain,
    entry_hash,
)
from minimaker.kernel.errors import AuditChainBroken

quick = settings(max_examples=200, deadline=None)
chains = settings(max_examples=80, deadline=None)  # whole chains: fewer, larger examples
Entry = tuple[Any, ...]
TS = "2025-03-01T12:00:00.000000+00:00"

# Any text UTF-8 can carry (lone surrogates cannot reach a database, nor be hashed).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
optional_text = st.none() | any_text
entries = st.tuples(
    any_text,  # prev_hash
    st.integers(min_value=1, max_value=2**63 - 1),  # seq
    any_text,  # ts
    any_text,  # actor
    any_text,  # action
    optional_text,  # subject
    optional_text,  # object
    optional_text,  # purpose
)
# What AuditEvent accepts: no control characters, within the column widths.
field_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="".join(map(chr, range(32)))),
    max_size=32,
).map(lambda s: s.replace("\x7f", ""))
events = st.builds(
    AuditEvent,
    actor=field_text.filter(bool),
    action=field_text.filter(bool),
    subject=st.none() | field_text,
    object=st.none() | field_text,
    purpose=st.none() | field_text,
)


@quick
@given(entries)
def test_entry_hash_is_deterministic_hex_sha256(entry: Entry) -> None:
    digest = entry_hash(*entry)
    assert digest == entry_hash(*entry)
    assert len(digest) == 64
    assert int(digest, 16) >= 0


@quick
@given(entries, st.data())
def test_changing_any_single_field_changes_the_hash(entry: Entry, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(entry) - 1), label="field")
    if index == 1:
        new_value: object = data.draw(st.integers(min_value=1).filter(lambda v: v != entry[1]))
    elif index >= 5:
        new_value = data.draw(optional_text.filter(lambda v: v != entry[index]))
    else:
        new_value = data.draw(any_text.filter(lambda v: v != entry[index]))
    changed = (*entry[:index], new_value, *entry[index + 1 :])
    assert entry_hash(*changed) != entry_hash(*entry)


@pytest.mark.parametrize("field", [5, 6, 7], ids=["subject", "object", "purpose"])
def test_none_and_the_empty_string_hash_differently(field: int) -> None:
    entry: list[Any] = [GENESIS_HASH, 1, TS, "system:test", "test:entry:made", "s", "o", "p"]
    entry[field] = None
    with_none = entry_hash(*entry)
    entry[field] = ""
    assert entry_hash(*entry) != with_none


@quick
@given(optional_text)
def test_none_never_hashes_like_any_string(value: str | None) -> None:
    base = (GENESIS_HASH, 1, TS, "system:test", "test:entry:made")
    if value is not None:
        assert entry_hash(*base, None, None, None) != entry_hash(*base, value, None, None)


def test_a_separator_inside_a_field_would_make_entries_hash_alike_so_events_refuse_it() -> None:
    # Why AuditEvent refuses control characters: with \x1f inside, a boundary could move.
    base = (GENESIS_HASH, 1, TS)
    moved = entry_hash(*base, "system:a\x1fb", "c", None, None, None)
    assert moved == entry_hash(*base, "system:a", "b\x1fc", None, None, None)
    with pytest.raises(ValueError, match="control character"):
        AuditEvent("system:a\x1fb", "c")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"actor": "", "action": "a:b:c"},
        {"actor": "system:x", "action": ""},
        {"actor": None, "action": "a:b:c"},
        {"actor": "system:x", "action": "a:b:c", "subject": 42},
        {"actor": "system:x", "action": "a:b:c", "subject": "x" * 65},
        {"actor": "system:x", "action": "a:b:c", "object": "x" * 129},
        {"actor": "system:x", "action": "a:b:c", "purpose": "x" * 33},
        {"actor": "system:x", "action": "a:b:c", "purpose": "new\nline"},
        {"actor": "system:x", "action": "a:b:c", "object": "nul\x00"},
        {"actor": "system:x", "action": "a:b:c", "subject": "del\x7f"},
    ],
    ids=[
        "empty-actor",
        "empty-action",
        "missing-actor",
        "not-a-string",
        "subject-too-long",
        "object-too-long",
        "purpose-too-long",
        "newline",
        "nul",
        "del",
    ],
)
def test_events_refuse_values_the_log_cannot_hold_unambiguously(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^audit (actor|action|subject|object|purpose) "):
        AuditEvent(**kwargs)


def test_refusals_never_echo_the_value() -> None:
    with pytest.raises(ValueError) as info:
        AuditEvent("system:x", "a:b:c", object="ada.lovelace@example.org" * 6)
    assert "ada" not in str(info.value)


@chains
@given(st.lists(events, min_size=1, max_size=20), st.integers(min_value=0, max_value=10**12))
def test_check_chain_accepts_exactly_the_rows_chain_builds(
    batch: list[AuditEvent], after_seq: int
) -> None:
    after_hash = entry_hash(GENESIS_HASH, after_seq, TS, "system:test", "x", None, None, None)
    rows = chain(batch, after_seq=after_seq, after_hash=after_hash, ts=TS)
    assert [r[0] for r in rows] == list(range(after_seq + 1, after_seq + len(batch) + 1))
    assert rows[0][7] == after_hash
    for prev, row in itertools.pairwise(rows):
        assert row[7] == prev[8]
        assert row[8] == entry_hash(row[7], *row[:7])
    # check_chain inlines entry_hash's encoding: any drift between the two fails here.
    assert check_chain(rows, after_seq=after_seq, after_hash=after_hash) == (
        rows[-1][0],
        rows[-1][8],
    )


@chains
@given(
    st.lists(events, min_size=3, max_size=12),
    st.data(),
)
def test_check_chain_names_the_first_entry_whose_field_was_edited(
    batch: list[AuditEvent], data: st.DataObject
) -> None:
    rows = [list(r) for r in chain(batch, after_seq=0, after_hash=GENESIS_HASH, ts=TS)]
    victim = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="entry")
    column = data.draw(st.integers(min_value=1, max_value=6), label="column")
    original = rows[victim][column]
    if column >= 4:
        replacement = data.draw((st.none() | field_text).filter(lambda v: v != original))
    else:
        replacement = data.draw(field_text.filter(lambda v: v != original))
    rows[victim][column] = replacement
    with pytest.raises(AuditChainBroken) as broken:
        check_chain([tuple(r) for r in rows], after_seq=0, after_hash=GENESIS_HASH)
    assert broken.value.seq == victim + 1


def test_check_chain_reports_a_gap_at_the_missing_seq() -> None:
    rows = chain([AuditEvent("system:t", "t:t:t")] * 5, after_seq=0, after_hash=GENESIS_HASH, ts=TS)
    with pytest.raises(AuditChainBroken, match="missing") as broken:
        check_chain(rows[:2] + rows[3:], after_seq=0, after_hash=GENESIS_HASH)
    assert broken.value.seq == 3


def test_check_chain_reports_a_wrongly_typed_field_as_broken_not_as_a_crash() -> None:
    rows = [
        list(r)
        for r in chain(
            [AuditEvent("system:t", "t:t:t")] * 3, after_seq=0, after_hash=GENESIS_HASH, ts=TS
        )
    ]
    rows[1][4] = 12345
    with pytest.raises(AuditChainBroken, match="wrong type") as broken:
        check_chain([tuple(r) for r in rows], after_seq=0, after_hash=GENESIS_HASH)
    assert broken.value.seq == 2


def test_a_listed_action_or_any_staff_action_anchors_and_nothing_else_does() -> None:
    listed = frozenset({"backup:data:created"})
    assert anchors(AuditEvent("system:cli", "backup:data:created"), listed)
    assert anchors(AuditEvent("staff:0001", "staff:queue:viewed"), listed)
    assert not anchors(AuditEvent("subject:0001", "upload:content:read"), listed)
    assert not anchors(AuditEvent("system:auth", "staff:login:failed"), listed)
