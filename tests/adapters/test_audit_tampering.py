"""The audit chain detects every edit, deletion, insertion and reordering, at the right entry."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from minimaker.kernel.audit import entry_hash
from tests.adapters.audit_helpers import CHAIN_LENGTH, FULL, NOW, SPARSE, broken_at, entry, tamper


@pytest.mark.parametrize("field", ["actor", "action", "subject", "object", "purpose", "ts"])
def test_an_edited_field_is_detected_at_its_entry(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = :value WHERE seq = :seq", value="x", seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "contents do not match its hash")


@pytest.mark.parametrize("field", ["subject", "object", "purpose"])
def test_a_null_field_set_to_the_empty_string_is_detected(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = '' WHERE seq = :seq", seq=SPARSE)
    assert broken_at(chained).seq == SPARSE


@pytest.mark.parametrize("field", ["subject", "object", "purpose"])
def test_a_field_set_to_null_is_detected(chained: Engine, field: str) -> None:
    tamper(chained, f"UPDATE audit_log SET {field} = NULL WHERE seq = :seq", seq=FULL)
    assert broken_at(chained).seq == FULL


def test_an_edited_hash_is_detected_at_its_entry(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET hash = :h WHERE seq = :seq", h="f" * 64, seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "contents do not match its hash")


def test_an_edited_link_is_detected_at_its_entry(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET prev_hash = :h WHERE seq = :seq", h="f" * 64, seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "does not link to the previous entry")


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_link_of_the_next(chained: Engine) -> None:
    forged = entry(chained, FULL) | {"actor": "staff:9999"}
    fields = ("seq", "ts", "actor", "action", "subject", "object", "purpose")
    forged_hash = entry_hash(forged["prev_hash"], *(forged[f] for f in fields))
    tamper(
        chained,
        "UPDATE audit_log SET actor = 'staff:9999', hash = :h WHERE seq = :seq",
        h=forged_hash,
        seq=FULL,
    )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL + 1, "does not link to the previous entry")


@pytest.mark.parametrize("victim", [1, FULL], ids=["first", "middle"])
def test_a_deleted_entry_is_detected_at_its_seq(chained: Engine, victim: int) -> None:
    tamper(chained, "DELETE FROM audit_log WHERE seq = :seq", seq=victim)
    broken = broken_at(chained)
    assert broken.seq == victim
    assert "missing" in broken.reason


def test_a_deleted_last_entry_leaves_the_head_pointing_past_the_chain(chained: Engine) -> None:
    tamper(chained, "DELETE FROM audit_log WHERE seq = :seq", seq=CHAIN_LENGTH)
    broken = broken_at(chained)
    assert broken.seq == CHAIN_LENGTH
    assert "ends before its head" in broken.reason


def test_deleting_every_entry_is_detected(chained: Engine) -> None:
    tamper(chained, "DELETE FROM audit_log")
    assert broken_at(chained).seq == 1


def test_an_edited_or_deleted_head_is_detected(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_head SET hash = :h", h="e" * 64)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (CHAIN_LENGTH, "does not match the chain head's hash")
    tamper(chained, "DELETE FROM audit_head")
    assert "head is missing" in broken_at(chained).reason


def insert_entry(engine: Engine, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    tamper(engine, f"INSERT INTO audit_log ({columns}) VALUES ({values})", **row)


def forge(prev_hash: str, seq: int) -> dict[str, Any]:
    """An entry that links to prev_hash and carries its own correct hash."""
    row = {
        "seq": seq,
        "ts": NOW.isoformat(timespec="microseconds"),
        "actor": "staff:0666",
        "action": "upload:content:read",
        "subject": "f" * 32,
        "object": None,
        "purpose": "service",
        "prev_hash": prev_hash,
    }
    fields = ("seq", "ts", "actor", "action", "subject", "object", "purpose")
    return row | {"hash": entry_hash(prev_hash, *(row[f] for f in fields))}


def test_a_forged_entry_inserted_in_the_middle_breaks_the_chain_right_after_it(
    chained: Engine,
) -> None:
    # To make room at FULL, the attacker renumbers FULL.. up by one (through negatives, so no
    # seq collides midway), inserts a forgery that links to FULL - 1 and hashes correctly,
    # and relinks the displaced entry to it (its old link is now the forgery's).
    # The forgery itself is indistinguishable; the displaced entry's hash covers its old seq
    # and link, so the break shows at FULL + 1.
    before = entry(chained, FULL - 1)
    forged = forge(before["hash"], FULL)
    tamper(
        chained,
        "UPDATE audit_log SET seq = -seq WHERE seq >= :seq",
        "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
        "UPDATE audit_log SET prev_hash = :forged WHERE seq = :next",
        seq=FULL,
        next=FULL + 1,
        forged=forged["hash"],
    )
    insert_entry(chained, forged)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL + 1, "contents do not match its hash")


def test_a_forged_entry_appended_without_moving_the_head_is_detected(chained: Engine) -> None:
    insert_entry(chained, forge(entry(chained, CHAIN_LENGTH)["hash"], CHAIN_LENGTH + 1))
    broken = broken_at(chained)
    assert broken.seq == CHAIN_LENGTH + 1
    assert "not covered by the chain head" in broken.reason


@pytest.mark.parametrize(("low", "high"), [(5, 9), (5, 6)], ids=["apart", "adjacent"])
def test_two_entries_swapped_in_place_are_detected_at_the_first(
    chained: Engine, low: int, high: int
) -> None:
    a, b = entry(chained, low), entry(chained, high)
    columns = [c for c in a if c != "seq"]
    assign = ", ".join(f"{c} = :{c}" for c in columns)
    tamper(chained, "UPDATE audit_log SET prev_hash = 'parked' WHERE seq = :seq", seq=low)
    for target, source in ((high, a), (low, b)):
        values = {c: source[c] for c in columns}
        tamper(
            chained, f"UPDATE audit_log SET {assign} WHERE seq = :target", target=target, **values
        )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (low, "does not link to the previous entry")


def test_two_entries_with_their_seq_swapped_are_detected_at_the_first(chained: Engine) -> None:
    tamper(
        chained,
        "UPDATE audit_log SET seq = -1 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = -1",
    )
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (5, "does not link to the previous entry")


def test_an_entry_moved_to_the_end_is_detected_where_it_went_missing(chained: Engine) -> None:
    tamper(chained, "UPDATE audit_log SET seq = :end WHERE seq = 3", end=CHAIN_LENGTH + 1)
    broken = broken_at(chained)
    assert broken.seq == 3
    assert "missing or out of order" in broken.reason


def test_a_field_rewritten_as_another_type_is_reported_not_crashed(chained: Engine) -> None:
    if chained.dialect.name != "sqlite":
        pytest.skip("only SQLite stores a blob in a text column")
    tamper(chained, "UPDATE audit_log SET subject = X'616461' WHERE seq = :seq", seq=FULL)
    broken = broken_at(chained)
    assert (broken.seq, broken.reason) == (FULL, "a field holds a value of the wrong type")
