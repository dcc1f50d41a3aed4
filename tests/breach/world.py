"""An officer signed in, and incidents opened the way the register's tests need them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.breach import service as register
from minimaker.breach.assessment import Circumstances, Confidentiality, Identification, Numbers
from minimaker.breach.exposure import CategoryCount
from minimaker.breach.views import IncidentSummary
from minimaker.kernel.container import Container
from minimaker.staff.service import StaffIdentity
from tests.staff.signing_in import identity, ready_staff

#: Free text that names a person: it must never be found in clear in a row, a file or the audit.
DESCRIPTION = "Laptop of Grace Hopper stolen at Rotterdam Centraal with grace@example.org open"
PHASE_TEXT = "Told the authority: the laptop of Grace Hopper was stolen; 40 accounts"
REASON = "Overridden because Grace Hopper's photos show her children"


def officer(c: Container, username: str = "dora", role: str = "dpo") -> StaffIdentity:
    ready_staff(c, username, role)
    return identity(c, username)


def opened(
    c: Container, who: StaffIdentity, *, hours_ago: float = 1, source: str = "staff_report"
) -> IncidentSummary:
    aware = c.clock.now() - timedelta(hours=hours_ago)
    return register.open_incident(c, who, aware_at=aware, description=DESCRIPTION, source=source)


def photos_stolen(encrypted: bool = False) -> tuple[Numbers, Circumstances]:
    numbers = Numbers(
        (CategoryCount("account", 40, 40), CategoryCount("uploaded_image", 40, 120)), 40, encrypted
    )
    circumstances = Circumstances(
        Identification.MAXIMUM, confidentiality=Confidentiality.UNKNOWN_RECIPIENTS, malicious=True
    )
    return numbers, circumstances


def audit_of(c: Container, incident_id: str) -> list[tuple[str, str, str | None]]:
    with c.sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.subject)
            .where(AuditEntry.object == f"incident:{incident_id}")
            .order_by(AuditEntry.seq)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
