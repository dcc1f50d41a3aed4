"""`audit verify`: the whole audit chain walked, every entry checked against its hash and head."""

from __future__ import annotations

from collections.abc import Callable

from minimaker.adapters import audit_chain
from minimaker.adapters.audit_chain import VerifyReport
from minimaker.kernel.container import Container


def verify_audit(c: Container, *, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """The chain's length and head if intact; AuditChainBroken at the first bad entry."""
    return audit_chain.verify(c.engine, progress=progress)
