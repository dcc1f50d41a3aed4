"""The detection alerts on the staff pages: /admin/alerts and one alert's page, with the
officer's two forms (acknowledge with a reason code, escalate to an incident); they post to
the same use cases as the API."""

from __future__ import annotations

from fastapi import APIRouter, Response

from minimaker.detection import alerts
from minimaker.detection.rules import AckReason
from minimaker.entrypoints.page_shell.render import render, see_other
from minimaker.entrypoints.page_shell.session import Visitor, text_field
from minimaker.entrypoints.page_shell.staff_session import Staff, StaffForm, StaffVisitor
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.errors import Conflict, ValidationFailed

router = APIRouter(prefix="/admin/alerts", include_in_schema=False)

_DONE = {
    "acknowledged": "The alert is acknowledged.",
    "escalated": "An incident is open from the alert; its 72-hour clock runs from now.",
}


@router.get("")
def alerts_page(v: StaffVisitor, who: Staff) -> Response:
    """Every alert, open ones first."""
    items = alerts.list_alerts(v.c, who)
    still_open = [a for a in items if a.status == "open"]
    return render(v, "admin_alerts.html", title="Alerts", items=items, still_open=still_open)


def _alert_page(
    v: Visitor,
    who: StaffIdentity,
    alert_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    item = alerts.get_alert(v.c, who, alert_id)
    return render(
        v,
        "admin_alert.html",
        title=f"Alert {item.id[:8]}",
        status=status,
        item=item,
        notice=notice,
        error=error,
        reasons=[r.value for r in AckReason],
    )


@router.get("/{alert_id}")
def alert_page(alert_id: str, v: StaffVisitor, who: Staff, done: str | None = None) -> Response:
    """One alert, its numbers and the officer's forms."""
    return _alert_page(v, who, alert_id, notice=_DONE.get(done or ""))


@router.post("/{alert_id}/acknowledge")
def acknowledge(alert_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Acknowledge the alert for the reason chosen."""
    try:
        alerts.acknowledge(
            v.c,
            who,
            alert_id,
            reason=text_field(form, "reason"),
            reference=text_field(form, "reference").strip() or None,
        )
    except (ValidationFailed, Conflict) as exc:
        return _alert_page(v, who, alert_id, status=exc.status, error=exc.message)
    return see_other(f"/admin/alerts/{alert_id}?done=acknowledged")


@router.post("/{alert_id}/escalate")
def escalate(alert_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Open an incident from the alert."""
    try:
        alerts.escalate(v.c, who, alert_id)
    except Conflict as exc:
        return _alert_page(v, who, alert_id, status=exc.status, error=exc.message)
    return see_other(f"/admin/alerts/{alert_id}?done=escalated")
