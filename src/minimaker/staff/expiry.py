"""The retention mechanics of staff tables: sessions go when they expire."""

from __future__ import annotations

from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import table_expiry
from minimaker.staff.tables import StaffSession


def expiries() -> tuple[Expiry, ...]:
    """Staff sign-in sessions, deleted at their expiry (policy credentials: staff_sessions)."""
    return (
        table_expiry(
            rule="staff_sessions",
            category="credentials",
            what="staff sessions",
            table=StaffSession,
            key=StaffSession.id,
            anchor=StaffSession.expires_at,
            subject=StaffSession.staff_id,
        ),
    )
