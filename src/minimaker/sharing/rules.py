"""What may leave for a third party, as pure rules (policy 7.1-7.3, 10.2; Art. 28, 44-46).

The service reads the policy's processor entry into an `Entry` and asks `refusal` before any
data leaves; the payload is then shaped as the entry's treatment demands (`pseudonym`,
`aggregates_problem`). Nothing here reads a database, a clock or a key: the caller passes them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from minimaker.kernel.errors import Forbidden, ValidationFailed

#: Ids we mint are 32 lowercase hex digits: any such string in an anonymised payload may be
#: someone's pseudonymous id, and aggregates carry none (kernel/ids.py).
_ID_LIKE = re.compile(r"[0-9a-f]{32}")
#: Keys that name a person; an aggregate row holding one is not an aggregate.
PERSON_KEYS = frozenset({"subject", "subject_id", "user", "user_id", "email", "name", "username"})
#: The fields of one aggregate row may hold only these: counts and labels, nothing nested.
_SCALARS = (str, int, float, bool, type(None))


class Treatment(StrEnum):
    """How a payload leaves: as it is, with the subject id replaced, or as aggregates only."""

    PERSONAL = "personal"
    PSEUDONYMISED = "pseudonymised"
    ANONYMISED = "anonymised"


class Refusal(StrEnum):
    """Why a share was refused; the audit records this code, never more."""

    UNKNOWN_PROCESSOR = "unknown_processor"
    NO_DPA = "no_dpa"
    DPA_EXPIRED = "dpa_expired"
    DPA_NOT_YET = "dpa_not_signed_yet"
    PURPOSE = "purpose"
    CATEGORY = "category"
    TRANSFER = "transfer"
    NEEDS_SUBJECT = "needs_subject"
    NAMES_SUBJECT = "names_subject"


@dataclass(frozen=True)
class Entry:
    """One processor as the rule reads it: what the policy file says of it."""

    name: str
    purposes: frozenset[str]
    categories: frozenset[str]
    treatment: Treatment
    dpa_signed: date | None
    dpa_expires: date | None
    #: Why its region would be an unlawful transfer (policy/residency.py); None if lawful.
    transfer_problem: str | None


def refusal(
    entry: Entry | None,
    *,
    purpose: str,
    categories: Iterable[str],
    declared: frozenset[str] | None,
    today: date,
) -> tuple[Refusal, str] | None:
    """Why this processor may not receive `categories` for `purpose`; None if it may.

    `declared` is what the policy lets `purpose` touch (None: no such purpose).
    """
    if entry is None:
        return Refusal.UNKNOWN_PROCESSOR, "the policy names no such processor (policy 7.1)"
    dpa = _dpa_problem(entry, today)
    if dpa is not None:
        return dpa
    if purpose not in entry.purposes or declared is None:
        return Refusal.PURPOSE, (
            f"processor {entry.name} does not receive data for {purpose} (Art. 28(3)(a))"
        )
    wanted = set(categories)
    outside = sorted(wanted - (entry.categories & declared))
    if not wanted or outside:
        what = ", ".join(outside) or "no category"
        return Refusal.CATEGORY, (
            f"processor {entry.name} may not receive {what} for {purpose} (Art. 5(1)(c))"
        )
    if entry.transfer_problem is not None:
        return Refusal.TRANSFER, f"processor {entry.name}: {entry.transfer_problem}"
    return None


def _dpa_problem(entry: Entry, today: date) -> tuple[Refusal, str] | None:
    # Art. 28(3): processing by a processor "shall be governed by a contract": none, or one
    # not yet or no longer in force, governs nothing.
    if entry.dpa_signed is None:
        return Refusal.NO_DPA, f"processor {entry.name} has no data processing agreement"
    if entry.dpa_signed > today:
        return Refusal.DPA_NOT_YET, f"the DPA of processor {entry.name} is not in force yet"
    if entry.dpa_expires is not None and entry.dpa_expires < today:
        return Refusal.DPA_EXPIRED, (
            f"the DPA of processor {entry.name} expired on {entry.dpa_expires.isoformat()}"
        )
    return None


def subject_problem(treatment: Treatment, subject_id: str | None) -> str | None:
    """Why a share of this treatment may not (or must) be about `subject_id`; None if fine."""
    if treatment is Treatment.ANONYMISED and subject_id is not None:
        return "an anonymised share carries aggregates only, about no one subject"
    if treatment is Treatment.PSEUDONYMISED and subject_id is None:
        return "a pseudonymised share is about one subject, whose id it replaces"
    return None


def names(payload: Any, subject_id: str) -> bool:
    """Whether the subject's id appears anywhere in `payload` (keys and values alike)."""
    return subject_id in json.dumps(payload, default=str)


def pseudonym(key: bytes, processor: str, subject_id: str) -> str:
    """The keyed pseudonym of a subject for one processor (Art. 4(5)): HMAC-SHA256, so that
    two processors cannot join their copies and none can reverse it without our key."""
    message = f"{processor}\x1f{subject_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def aggregates_problem(payload: Any) -> str | None:
    """Why `payload` is not a list of flat aggregate rows naming nobody; None if it is."""
    if not isinstance(payload, list) or not all(isinstance(r, Mapping) for r in payload):
        return "anonymised data leaves as a list of aggregate rows"
    for row in payload:
        for key, value in row.items():
            if not isinstance(key, str) or key.lower() in PERSON_KEYS:
                return "an aggregate row has a field that names a person"
            if not isinstance(value, _SCALARS):
                return "an aggregate row holds only counts and labels, nothing nested"
            if isinstance(value, str) and _ID_LIKE.search(value):
                return "an aggregate row holds an id, which may be someone's"
    return None


class ShareRefused(Forbidden):
    """The policy does not let this data go to this processor (policy 7.1-7.3, 10.2)."""

    code = "share_refused"

    def __init__(self, processor: str, refusal: Refusal, reason: str) -> None:
        self.processor = processor
        self.refusal = refusal
        self.reason = reason
        super().__init__(f"sharing refused: {reason}; nothing was sent")


class PayloadRefused(ValidationFailed):
    """The payload is not what the processor's treatment allows (it names a subject)."""

    code = "payload_refused"

    def __init__(self, processor: str, reason: str) -> None:
        self.processor = processor
        super().__init__("payload", f"{reason}; nothing was sent")
