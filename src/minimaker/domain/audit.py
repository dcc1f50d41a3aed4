"""The audit chain's rule: each entry's hash covers its fields and the previous hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to whose data, for which purpose. Subjects by pseudonymous id only."""

    actor: str  # "subject:<id>", "staff:<id>", "system:<component>"
    action: str  # "source:object:verb", e.g. "upload:content:read"
    subject: str | None = None
    object: str | None = None
    purpose: str | None = None


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
    # Fields are separated by a byte that cannot occur in them (\x1f), and None is kept
    # distinct from "" so no two different entries encode alike.
    parts = (prev_hash, str(seq), ts, actor, action, _opt(subject), _opt(obj), _opt(purpose))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _opt(value: str | None) -> str:
    return "\x00" if value is None else "=" + value
