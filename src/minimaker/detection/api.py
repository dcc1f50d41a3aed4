"""The detection alerts for the privacy officer: `/api/v1/admin/alerts` (policy 5.1, 8).

List them, open one, acknowledge it with a reason code (and a ticket id), or escalate it to an
incident of the breach register (source detection_rule). Only the officer may use these
routes (Action.MANAGE_INCIDENTS); other roles get 403 and the refusal is audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from minimaker.detection import alerts
from minimaker.detection.rules import MAX_REFERENCE, REFERENCE, AckReason, Rule
from minimaker.entrypoints.http import ContainerDep, Staff, StrictBody, stated

router = APIRouter(prefix="/api/v1/admin/alerts", tags=["admin"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The alert is not open (acknowledge), or already escalated."}
}


class AlertOut(BaseModel):
    """One alert: its rule, window and numbers (a staff id at most, never a subject's)."""

    id: str
    rule: Rule
    status: Literal["open", "acknowledged", "escalated"]
    opened_at: datetime
    window_start: datetime
    window_end: datetime
    body: dict[str, int | str]
    incident_id: str | None
    decided_at: datetime | None
    decided_by: str | None
    reason: AckReason | None
    reference: str | None


class AcknowledgeIn(StrictBody):
    """Why no incident is opened: a code, and optionally a ticket id like SEC-1234."""

    reason: Annotated[AckReason, Field(strict=False)]  # its value, as JSON carries it
    reference: str | None = stated(
        f"^{REFERENCE.pattern}$", MAX_REFERENCE, min_length=4, optional=True
    )


def _out(found: alerts.AlertRead) -> AlertOut:
    return AlertOut.model_validate(asdict(found))


@router.get("", response_model=list[AlertOut])
def list_alerts(c: ContainerDep, who: Staff) -> list[AlertOut]:
    """Open alerts first, then the newest (at most 200)."""
    return [_out(a) for a in alerts.list_alerts(c, who)]


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(c: ContainerDep, who: Staff, alert_id: str) -> AlertOut:
    """One alert."""
    return _out(alerts.get_alert(c, who, alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, responses=_CONFLICT)
def acknowledge(c: ContainerDep, who: Staff, alert_id: str, body: AcknowledgeIn) -> AlertOut:
    """Acknowledge an open alert without an incident, for a reason (a code)."""
    found = alerts.acknowledge(c, who, alert_id, reason=body.reason.value, reference=body.reference)
    return _out(found)


@router.post("/{alert_id}/escalate", response_model=AlertOut, responses=_CONFLICT)
def escalate(c: ContainerDep, who: Staff, alert_id: str) -> AlertOut:
    """Open an incident from the alert (source detection_rule, the 72-hour clock from now);
    the answer names it (`incident_id`)."""
    return _out(alerts.escalate(c, who, alert_id))
