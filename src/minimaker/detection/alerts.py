"""The privacy officer's alerts (Action.MANAGE_INCIDENTS): list, open one, acknowledge it with
a reason code, or escalate it to an incident of the breach register. Each in one unit of work
with its audit entry, which names the alert by id and the reason by code only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select

from minimaker.detection import events
from minimaker.detection.rules import Status, check_acknowledge, check_escalate, check_reason
from minimaker.detection.service import escalate_row
from minimaker.detection.tables import DetectionAlert
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import audited_id, is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.staff import service as staff
from minimaker.staff.rules import Action

#: Alerts the list shows at most (open ones first, then the newest).
RECENT = 200


@dataclass(frozen=True)
class AlertRead:
    """One alert as the API and the pages show it: codes, times, numbers, ids."""

    id: str
    rule: str
    status: str
    opened_at: datetime
    window_start: datetime
    window_end: datetime
    body: dict[str, Any]
    incident_id: str | None
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    reference: str | None


def _read(row: DetectionAlert) -> AlertRead:
    return AlertRead(
        id=row.id,
        rule=row.rule,
        status=row.status,
        opened_at=row.opened_at,
        window_start=row.window_start,
        window_end=row.window_end,
        body=dict(row.body),
        incident_id=row.incident_id,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
        reference=row.reference,
    )


def _permit(c: Container, by: StaffIdentity, alert_id: object = None) -> None:
    where = "detection:alerts" if alert_id is None else audited_id("alert", alert_id)
    staff.permit(c, by, Action.MANAGE_INCIDENTS, object=where)


def _found(uow: UnitOfWork, alert_id: str, *, lock: bool = False) -> DetectionAlert:
    row = (
        uow.session.get(DetectionAlert, alert_id, with_for_update=lock) if is_id(alert_id) else None
    )
    if row is None:
        raise NotFound("alert")
    return row


def list_alerts(c: Container, by: StaffIdentity) -> list[AlertRead]:
    """Open alerts first, then the newest (at most RECENT)."""
    _permit(c, by)
    with c.uow() as uow:
        still_open = case((DetectionAlert.status == Status.OPEN.value, 0), else_=1)
        query = select(DetectionAlert).order_by(
            still_open, DetectionAlert.opened_at.desc(), DetectionAlert.id
        )
        found = [_read(r) for r in uow.session.scalars(query.limit(RECENT))]
        uow.audit(events.ALERTS_VIEWED, actor=by.actor, object=f"alerts:{len(found)}")
        uow.commit()
    return found


def get_alert(c: Container, by: StaffIdentity, alert_id: str) -> AlertRead:
    """One alert."""
    _permit(c, by, alert_id)
    with c.uow() as uow:
        found = _read(_found(uow, alert_id))
        uow.audit(events.ALERT_VIEWED, actor=by.actor, object=f"alert:{alert_id}")
        uow.commit()
    return found


def acknowledge(
    c: Container, by: StaffIdentity, alert_id: str, *, reason: object, reference: object = None
) -> AlertRead:
    """The officer saw the alert and opens no incident, for a reason (a code, and optionally
    a ticket id); only an open alert is acknowledged."""
    _permit(c, by, alert_id)
    code, ticket = check_reason(reason, reference)
    with c.uow() as uow:
        row = _found(uow, alert_id, lock=True)
        check_acknowledge(Status(row.status))
        row.status, row.reason, row.reference = Status.ACKNOWLEDGED.value, code.value, ticket
        row.decided_at, row.decided_by = c.clock.now(), by.id
        obj = f"alert:{row.id}:reason:{code.value}"
        uow.audit(events.ALERT_ACKNOWLEDGED, actor=by.actor, object=obj)
        found = _read(row)
        uow.commit()
    return found


def escalate(c: Container, by: StaffIdentity, alert_id: str) -> AlertRead:
    """Open an incident of the breach register from the alert (source detection_rule; its
    72-hour clock from now); an open or acknowledged alert may be, once."""
    _permit(c, by, alert_id)
    with c.uow() as uow:
        row = _found(uow, alert_id, lock=True)
        check_escalate(Status(row.status))
        escalate_row(uow, row, by=by.actor, staff_id=by.id)
        found = _read(row)
        uow.commit()
    return found
