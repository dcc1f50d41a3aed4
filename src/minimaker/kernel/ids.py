"""Ids we mint: uuid4 hex, 32 lowercase hex characters that reveal nothing about anyone."""

from __future__ import annotations

import re

_ID = re.compile(r"[0-9a-f]{32}")


def is_id(value: object) -> bool:
    """Whether `value` could be an id we minted; anything else need not reach the database."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def audited_id(kind: str, value: object) -> str:
    """`kind:<id>` for the audit, if `value` could be an id we minted; `kind:malformed` if not:
    what a URL carried (a name, an address, control characters) never reaches the audit."""
    return f"{kind}:{value}" if is_id(value) else f"{kind}:malformed"


#: A ticket reference staff may give with a reason ("REQ-1234", "SEC-77"): letters, a dash,
#: digits; nothing a name or an email fits in (staff reasons, detection's acknowledgements).
TICKET_REFERENCE = re.compile(r"[A-Z]{2,10}-[0-9]{1,10}")
MAX_TICKET_REFERENCE = 21
