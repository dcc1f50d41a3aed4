"""The audit chain's rules: each entry's hash covers its fields and the previous hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from minimaker.kernel.errors import AuditChainBroken
from minimaker.kernel.purposes import Purpose

GENESIS_HASH = "0" * 64

#: The widest value each event field may hold: the widths of the audit_log columns, checked
#: here so a too-long value fails where it is recorded, alike on SQLite and PostgreSQL.
FIELD_LIMITS = {"actor": 64, "action": 64, "subject": 64, "object": 128, "purpose": 32}
_REQUIRED = ("actor", "action")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PART = re.compile(r"[a-z][a-z0-9_]{0,30}")

#: One stored entry, in audit_log's column order:
#: (seq, ts, actor, action, subject, object, purpose, prev_hash, hash).
Row = tuple[int, str, str, str, str | None, str | None, str | None, str, str]

_sha256 = hashlib.sha256
_join = "\x1f".join


@dataclass(frozen=True)
class AuditTag:
    """An audit action, `source:object:verb`, with the purpose its processing serves.

    Each feature declares its tags once, in its `events.py`; code passes the value, never a
    literal string, so every action the audit can hold is listed in one place per feature.
    """

    source: str
    object: str
    verb: str
    purpose: Purpose

    def __post_init__(self) -> None:
        if not isinstance(self.purpose, Purpose):  # a typed-in string is no declared purpose
            raise TypeError("an audit tag's purpose is a Purpose member")
        for part in (self.source, self.object, self.verb):
            if not _PART.fullmatch(part):
                raise ValueError("an audit tag part is lowercase letters, digits and '_'")
        if len(str(self)) > FIELD_LIMITS["action"]:
            raise ValueError("an audit tag is longer than the audit's action column")

    def __str__(self) -> str:
        return f"{self.source}:{self.object}:{self.verb}"


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to whose data, for which purpose. Subjects by pseudonymous id only."""

    actor: str  # "subject:<id>", "staff:<id>", "system:<component>"
    action: str  # "source:object:verb", e.g. "upload:content:read"
    subject: str | None = None
    object: str | None = None
    purpose: str | None = None

    def __post_init__(self) -> None:
        for name, limit in FIELD_LIMITS.items():
            value, required = getattr(self, name), name in _REQUIRED
            if value is None and not required:
                continue
            if not isinstance(value, str) or (required and not value):
                raise ValueError(f"audit {name} must be a {'non-empty ' if required else ''}string")
            if len(value) > limit:
                raise ValueError(f"audit {name} is longer than {limit} characters")
            # The hash joins fields with \x1f: a field holding one could move a boundary and
            # make two different entries hash alike. (PostgreSQL refuses \x00 in text anyway.)
            if _CONTROL.search(value):
                raise ValueError(f"audit {name} contains a control character")


class CheckpointKind(StrEnum):
    """Why a signed checkpoint of the chain was taken (adapters/checkpoints.py)."""

    PERIODIC = "periodic"  # the workers' schedule, or `minimaker audit checkpoint`
    EVENT = "event"  # a sensitive operation was audited (see `anchors`)
    RESTORE = "restore"  # a backup replaced the chain: the one kind that may shrink it


def anchors(event: AuditEvent, anchored_actions: Collection[str]) -> bool:
    """Whether committing `event` takes a signed checkpoint of the chain at once.

    A sensitive operation (key rotation, backup, restore, erasure, `audit verify`: the actions
    bootstrap.anchored_actions() names) and anything a staff member does (staff reach personal
    data only on audited paths, and an insider is who would rewrite the log afterwards).
    """
    return event.action in anchored_actions or event.actor.startswith("staff:")


def entry_hash(
    prev_hash: str,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str | None,
    obj: str | None,
    purpose: str | None,
) -> str:
    """SHA-256 over an unambiguous encoding of the entry and its predecessor's hash."""
    # Fields are joined by \x1f, which AuditEvent refuses inside them, and None ("\x00") stays
    # distinct from every string ("=" + value, even ""), so no two different entries encode
    # alike. check_chain inlines this same encoding for speed; the tests hold the two equal.
    return _sha256(
        _join(
            (
                prev_hash,
                str(seq),
                ts,
                actor,
                action,
                "\x00" if subject is None else "=" + subject,
                "\x00" if obj is None else "=" + obj,
                "\x00" if purpose is None else "=" + purpose,
            )
        ).encode()
    ).hexdigest()


def chain(events: Sequence[AuditEvent], *, after_seq: int, after_hash: str, ts: str) -> list[Row]:
    """The rows that append `events`, stamped `ts`, after the entry (after_seq, after_hash)."""
    rows: list[Row] = []
    seq, prev = after_seq, after_hash
    for e in events:
        seq += 1
        digest = entry_hash(prev, seq, ts, e.actor, e.action, e.subject, e.object, e.purpose)
        rows.append((seq, ts, e.actor, e.action, e.subject, e.object, e.purpose, prev, digest))
        prev = digest
    return rows


def check_chain(rows: Iterable[Row], *, after_seq: int, after_hash: str) -> tuple[int, str]:
    """The chain's new end if `rows` continue it; else AuditChainBroken at the first bad entry."""
    expected, prev = after_seq, after_hash
    sha256, join = _sha256, _join  # locals: the loop runs once per entry of the log
    for seq, ts, actor, action, subject, obj, purpose, prev_hash, digest in rows:
        expected += 1
        if seq != expected:
            raise AuditChainBroken(expected, f"missing or out of order (found entry {seq})")
        if prev_hash != prev:
            raise AuditChainBroken(seq, "does not link to the previous entry")
        try:
            # entry_hash, inlined: this loop is the whole cost of `audit verify`.
            actual = sha256(
                join(
                    (
                        prev,
                        str(seq),
                        ts,
                        actor,
                        action,
                        "\x00" if subject is None else "=" + subject,
                        "\x00" if obj is None else "=" + obj,
                        "\x00" if purpose is None else "=" + purpose,
                    )
                ).encode()
            ).hexdigest()
        except (TypeError, UnicodeError):
            # SQLite keeps a blob written into a text column: a field rewritten as one.
            raise AuditChainBroken(seq, "a field holds a value of the wrong type") from None
        if actual != digest:
            raise AuditChainBroken(seq, "contents do not match its hash")
        prev = digest
    return expected, prev
