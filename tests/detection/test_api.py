"""The officer's alerts over HTTP and on the staff pages: list, one alert, acknowledge with a
reason code, escalate to an incident; other roles refused, bad input refused with nothing
half-written, unknown ids 404."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.breach.tables import Incident
from minimaker.detection.tables import DetectionAlert
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.browser import csrf_on
from tests.conftest import signup_and_login
from tests.detection.world import requests, run
from tests.staff.signing_in import staff_headers
from tests.staff.test_pages import staff_signed_in

BASE = "/api/v1/admin/alerts"
DECIDED = ("acknowledged", "escalated")
ALL_DAY = {
    "detection_work_start_hour": 0,
    "detection_work_end_hour": 24,
    "detection_work_days": "mon,tue,wed,thu,fri,sat,sun",
    "detection_erasure_threshold": 2,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Staff sign in at whatever time the suite runs: no outside_hours alert from that.
    return settings.model_copy(update=ALL_DAY)


def an_alert(c: Container) -> str:
    """An erasure burst, found by the duty; the alert's id."""
    requests(c, "erasure", 2)
    run(c)
    with c.sessions() as session:
        found = session.scalars(select(DetectionAlert.id)).all()
    assert len(found) == 1
    return found[0]


def state(c: Container) -> tuple[list[tuple[str, str | None]], int, int]:
    """The alerts' statuses and reasons, the incidents, and the alert entries of the audit."""
    with c.sessions() as session:
        rows = session.execute(select(DetectionAlert.status, DetectionAlert.reason)).all()
        incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action.in_(["detection:alert:acknowledged", "detection:alert:escalated"])
            )
        )
    return [(r.status, r.reason) for r in rows], incidents, audited or 0


def test_the_officer_lists_acknowledges_and_escalates_alerts(
    client: TestClient, container: Container
) -> None:
    dpo = staff_headers(client, container, "dora", "dpo")
    first = an_alert(container)
    listed = client.get(BASE, headers=dpo).json()
    assert [(a["id"], a["rule"], a["status"]) for a in listed] == [(first, "erasure_burst", "open")]
    assert listed[0]["body"] == {"count": 2, "threshold": 2, "window_s": 3600}
    shown = client.get(f"{BASE}/{first}", headers=dpo).json()
    assert shown == listed[0]
    body = {"reason": "expected_activity", "reference": "SEC-12"}
    r = client.post(f"{BASE}/{first}/acknowledge", json=body, headers=dpo)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"], r.json()["reference"]) == (
        "acknowledged",
        "expected_activity",
        "SEC-12",
    )
    r = client.post(f"{BASE}/{first}/acknowledge", json=body, headers=dpo)
    assert r.status_code == 409
    r = client.post(f"{BASE}/{first}/escalate", headers=dpo)
    assert r.status_code == 200, r.text
    incident_id = r.json()["incident_id"]
    assert r.json()["status"] == "escalated" and incident_id
    incident = client.get(f"/api/v1/admin/incidents/{incident_id}", headers=dpo).json()
    assert incident["source"] == "detection_rule"
    assert first in incident["description"] and "erasure_burst" in incident["description"]
    assert client.post(f"{BASE}/{first}/escalate", headers=dpo).status_code == 409
    assert state(container) == ([("escalated", "expected_activity")], 1, 2)


@pytest.mark.parametrize("role", ["admin", "support", "engineer"])
def test_every_other_role_is_refused_with_403(
    client: TestClient, container: Container, role: str
) -> None:
    other = staff_headers(client, container, "sam", role)
    alert_id = an_alert(container)
    for method, path, body in (
        ("GET", BASE, None),
        ("GET", f"{BASE}/{alert_id}", None),
        ("POST", f"{BASE}/{alert_id}/acknowledge", {"reason": "false_positive"}),
        ("POST", f"{BASE}/{alert_id}/escalate", None),
    ):
        r = client.request(method, path, json=body, headers=other)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "staff_forbidden"
    assert state(container) == ([("open", None)], 0, 0)


def test_a_user_token_or_none_is_refused(client: TestClient) -> None:
    user = signup_and_login(client)
    assert client.get(BASE, headers=user).status_code == 401
    assert client.get(BASE).status_code == 401


def test_an_unknown_or_malformed_alert_is_404(client: TestClient, container: Container) -> None:
    dpo = staff_headers(client, container)
    for alert_id in ("0" * 32, "not-an-id", "A" * 32):
        assert client.get(f"{BASE}/{alert_id}", headers=dpo).status_code == 404
        r = client.post(f"{BASE}/{alert_id}/escalate", headers=dpo)
        assert r.status_code == 404
        r = client.post(
            f"{BASE}/{alert_id}/acknowledge", json={"reason": "false_positive"}, headers=dpo
        )
        assert r.status_code == 404
    assert state(container) == ([], 0, 0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "because I say so"},
        {"reason": "false_positive", "reference": "Ada Lovelace called"},
        {"reason": "false_positive", "reference": "ada@example.org"},
        {"reason": "false_positive", "note": "extra"},
        {"reason": 3},
    ],
)
def test_a_bad_reason_is_422_and_changes_nothing(
    client: TestClient, container: Container, body: dict[str, Any]
) -> None:
    dpo = staff_headers(client, container)
    alert_id = an_alert(container)
    r = client.post(f"{BASE}/{alert_id}/acknowledge", json=body, headers=dpo)
    assert r.status_code == 422, r.text
    assert state(container) == ([("open", None)], 0, 0)


def test_a_malformed_body_is_400_or_422_and_changes_nothing(
    client: TestClient, container: Container
) -> None:
    dpo = staff_headers(client, container)
    alert_id = an_alert(container)
    headers = {**dpo, "Content-Type": "application/json"}
    r = client.post(f"{BASE}/{alert_id}/acknowledge", content=b"{not json", headers=headers)
    assert r.status_code in (400, 422), r.text
    assert state(container) == ([("open", None)], 0, 0)


def test_the_pages_list_an_alert_and_its_forms_act_on_it(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "dpo")
    alert_id = an_alert(container)
    page = browser.get("/admin/alerts")
    assert page.status_code == 200, page.text
    assert alert_id[:8] in page.text and "erasure burst" in page.text
    assert "1 open alert" in page.text
    one = browser.get(f"/admin/alerts/{alert_id}")
    assert one.status_code == 200 and "threshold" in one.text
    bad = {"csrf": csrf_on(one.text), "reason": "whatever"}
    r = browser.post(f"/admin/alerts/{alert_id}/acknowledge", data=bad, follow_redirects=False)
    assert r.status_code == 422 and "reason" in r.text
    form = {"csrf": csrf_on(one.text), "reason": "false_positive", "reference": ""}
    r = browser.post(f"/admin/alerts/{alert_id}/acknowledge", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown = browser.get(r.headers["location"]).text
    assert "The alert is acknowledged" in shown and "false positive" in shown
    r = browser.post(
        f"/admin/alerts/{alert_id}/escalate",
        data={"csrf": csrf_on(shown)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    shown = browser.get(r.headers["location"]).text
    assert "An incident is open from the alert" in shown and "/admin/incidents/" in shown
    assert state(container) == ([("escalated", "false_positive")], 1, 2)


def test_the_pages_refuse_other_roles(client: TestClient, container: Container) -> None:
    browser = staff_signed_in(client, container, "support")
    assert browser.get("/admin/alerts").status_code == 403
