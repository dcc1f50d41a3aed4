"""The register over HTTP: the officer's routes, their refusals and their bad bodies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.breach.tables import Incident, IncidentStep
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from tests.breach.world import DESCRIPTION, PHASE_TEXT, REASON
from tests.conftest import signup_and_login
from tests.staff.signing_in import staff_headers

BASE = "/api/v1/admin/incidents"
STOLEN: dict[str, Any] = {
    "categories": [
        {"category": "account", "subjects": 40, "records": 40},
        {"category": "uploaded_image", "subjects": 40, "records": 120},
    ],
    "subjects": 40,
    "encrypted_under_uncompromised_keys": True,
    "circumstances": {
        "identification": "maximum",
        "confidentiality": "unknown_recipients",
        "malicious": True,
    },
}


def _open(client: TestClient, headers: dict[str, str], aware: str) -> dict[str, Any]:
    body = {"aware_at": aware, "description": DESCRIPTION, "source": "staff_report"}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def rows(c: Container) -> tuple[int, int]:
    with c.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Incident)) or 0,
            session.scalar(select(func.count()).select_from(IncidentStep)) or 0,
        )


def test_the_officer_runs_an_incident_from_opening_to_closing(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    dpo = staff_headers(client, container, "dora", "dpo")
    aware = clock.now() - timedelta(hours=2)
    made = _open(client, dpo, aware.isoformat())
    assert made["deadline_at"].startswith((aware + timedelta(hours=72)).isoformat()[:16])
    assert made["clock"] == "70 h 00 min left" and made["minutes_left"] == 70 * 60
    iid = made["id"]
    listed = client.get(BASE, headers=dpo).json()
    assert [(i["id"], i["status"], i["clock"]) for i in listed] == [(iid, "open", made["clock"])]
    phase = {"told_at": clock.now().isoformat(), "content": PHASE_TEXT}
    r = client.post(f"{BASE}/{iid}/phases", json=phase, headers=dpo)
    assert r.status_code == 200, r.text
    assert r.json()["authority_told_at"] is not None
    r = client.post(f"{BASE}/{iid}/assessment", json=STOLEN, headers=dpo)
    assert r.status_code == 200, r.text
    proposal = r.json()
    assert (proposal["score"], proposal["level"]) == (3.0, "high")
    assert (proposal["notify_subjects"], proposal["exception"]) == (False, "Art. 34(3)(a)")
    r = client.post(f"{BASE}/{iid}/close", json={}, headers=dpo)
    assert r.status_code == 409 and "record a decision" in r.json()["error"]["message"]
    decision = {"outcome": "override", "notify_authority": True, "notify_subjects": True}
    r = client.post(f"{BASE}/{iid}/decision", json=decision, headers=dpo)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = client.post(f"{BASE}/{iid}/decision", json={**decision, "reason": REASON}, headers=dpo)
    assert r.status_code == 200, r.text
    assert (r.json()["notify_authority"], r.json()["notify_subjects"]) == (True, True)
    r = client.post(f"{BASE}/{iid}/close", json={"note": "done"}, headers=dpo)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    shown = client.get(f"{BASE}/{iid}", headers=dpo).json()
    assert shown["description"] == DESCRIPTION
    assert [s["kind"] for s in shown["history"]] == [
        "opened",
        "phase",
        "assessed",
        "decided",
        "closed",
    ]
    assert shown["deadline_at"] == made["deadline_at"] and "clock" in shown


@pytest.mark.parametrize("role", ["admin", "support", "engineer"])
def test_every_other_role_is_refused_with_403(
    client: TestClient, container: Container, role: str
) -> None:
    other = staff_headers(client, container, "sam", role)
    aware = container.clock.now().isoformat()
    for method, path, body in (
        ("GET", BASE, None),
        ("POST", BASE, {"aware_at": aware, "description": "x", "source": "staff_report"}),
        ("GET", f"{BASE}/{'0' * 32}", None),
        ("POST", f"{BASE}/{'0' * 32}/close", {}),
    ):
        r = client.request(method, path, json=body, headers=other)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "staff_forbidden"
    assert rows(container) == (0, 0)


def test_a_user_token_or_none_is_refused(client: TestClient, container: Container) -> None:
    user = signup_and_login(client)
    assert client.get(BASE, headers=user).status_code == 401
    assert client.get(BASE).status_code == 401


def test_an_unknown_incident_is_404(client: TestClient, container: Container) -> None:
    dpo = staff_headers(client, container)
    for path in (f"{BASE}/{'0' * 32}", f"{BASE}/not-an-id"):
        assert client.get(path, headers=dpo).status_code == 404
    r = client.post(f"{BASE}/{'0' * 32}/assessment", json=STOLEN, headers=dpo)
    assert r.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"aware_at": "yesterday", "description": "x", "source": "staff_report"},
        {"aware_at": "2026-01-01T10:00:00", "description": "x", "source": "staff_report"},
        {"aware_at": "2020-01-01T10:00:00Z", "description": "", "source": "staff_report"},
        {"aware_at": "2020-01-01T10:00:00Z", "description": "x" * 4001, "source": "staff_report"},
        {"aware_at": "2020-01-01T10:00:00Z", "description": "x", "source": "rumour"},
        {"aware_at": "2020-01-01T10:00:00Z", "description": 7, "source": "staff_report"},
        {
            "aware_at": "2020-01-01T10:00:00Z",
            "description": "x",
            "source": "staff_report",
            "who": 1,
        },
        {"aware_at": "2020-01-01T10:00:00Z", "description": "x", "source": "processor_report"},
        {"aware_at": "2999-01-01T10:00:00Z", "description": "x", "source": "staff_report"},
    ],
)
def test_a_bad_opening_body_is_422_and_nothing_is_written(
    client: TestClient, container: Container, body: dict[str, Any]
) -> None:
    dpo = staff_headers(client, container)
    r = client.post(BASE, json=body, headers=dpo)
    assert r.status_code == 422, r.text
    assert rows(container) == (0, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"categories": []},
        {"categories": [{"category": "diaries", "subjects": 1, "records": 1}]},
        {"categories": [{"category": "account", "subjects": -1, "records": 1}]},
        {"subjects": "forty"},
        {"encrypted_under_uncompromised_keys": "yes"},
        {"circumstances": {"identification": "total"}},
        {"circumstances": {"identification": "maximum", "adjustments": {"account": 9}}},
        {"circumstances": {"identification": "maximum", "adjustments": {"account": -1}}},
        {"extra": True},
    ],
)
def test_a_bad_assessment_body_is_422_and_no_step_is_written(
    client: TestClient, container: Container, change: dict[str, Any]
) -> None:
    dpo = staff_headers(client, container)
    iid = _open(client, dpo, container.clock.now().isoformat())["id"]
    r = client.post(f"{BASE}/{iid}/assessment", json={**STOLEN, **change}, headers=dpo)
    assert r.status_code == 422, r.text
    assert rows(container) == (1, 1)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("phases", {"told_at": "2999-01-01T00:00:00Z", "content": "told"}),
        ("phases", {"told_at": "2000-01-01T00:00:00Z", "content": "told"}),  # before awareness
        ("phases", {"told_at": "now", "content": "told"}),
        ("phases", {"content": "told"}),
        ("decision", {"outcome": "maybe"}),
        ("decision", {"outcome": "confirm", "reason": "x" * 2001}),
        ("close", {"note": ""}),
        ("close", {"note": None, "force": True}),
    ],
)
def test_a_bad_step_body_is_422(
    client: TestClient, container: Container, path: str, body: dict[str, Any]
) -> None:
    dpo = staff_headers(client, container)
    iid = _open(client, dpo, container.clock.now().isoformat())["id"]
    r = client.post(f"{BASE}/{iid}/{path}", json=body, headers=dpo)
    assert r.status_code == 422, r.text
    assert rows(container) == (1, 1)
