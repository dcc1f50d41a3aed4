"""Legal holds over the staff API, real HTTP: the privacy officer sets, lists and releases
them, in their own name; every other role is refused, a user's token too; bad input is a
422 and an unknown hold a 404, and no refusal writes anything but its own audit entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.retention.tables import LegalHold
from minimaker.rights.tables import RightsRequest
from tests.conftest import signup_and_login
from tests.staff.signing_in import Headers, api_sign_in, ready_staff

HOLDS = "/api/v1/admin/holds"
PASSWORD = "correct horse battery staple"


def officer(client: TestClient, c: Container) -> tuple[str, Headers]:
    made = ready_staff(c, "olga", "dpo")
    return made.id, api_sign_in(client, "olga")


def user(client: TestClient, username: str = "ada") -> tuple[str, Headers]:
    headers = signup_and_login(client, username=username)
    return str(client.get("/api/v1/me", headers=headers).json()["id"]), headers


def body(subject_id: str, **more: Any) -> dict[str, Any]:
    return {
        "subject_id": subject_id,
        "rule": "*",
        "reason": "litigation",
        "reference": "CASE-2026/17",
        **more,
    }


def hold_rows(c: Container) -> list[tuple[str, str, str]]:
    with c.sessions() as s:
        rows = s.execute(select(LegalHold.id, LegalHold.subject_id, LegalHold.set_by)).all()
        return [tuple(r) for r in rows]


def audit(c: Container) -> list[tuple[str, str, str | None]]:
    with c.sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        return [(e.action, e.actor, e.object) for e in rows]


def test_the_officer_sets_lists_and_releases_a_hold_in_their_own_name(
    client: TestClient, container: Container
) -> None:
    c = container
    staff_id, headers = officer(client, c)
    subject_id, _ = user(client)
    r = client.post(HOLDS, json=body(subject_id, rule="photos"), headers=headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["subject_id"], made["rule"], made["reason"], made["reference"]) == (
        subject_id,
        "photos",
        "litigation",
        "CASE-2026/17",
    )
    assert made["set_by"] == f"staff:{staff_id}"
    listed = client.get(HOLDS, headers=headers)
    assert listed.status_code == 200
    assert [h["id"] for h in listed.json()] == [made["id"]]
    gone = client.delete(f"{HOLDS}/{made['id']}", headers=headers)
    assert (gone.status_code, gone.content) == (204, b"")
    assert hold_rows(c) == []
    assert client.get(HOLDS, headers=headers).json() == []
    entries = audit(c)
    me = f"staff:{staff_id}"
    assert ("retention:hold:set", me, f"hold:{made['id']}:photos:litigation") in entries
    assert ("retention:hold:released", me, f"hold:{made['id']}:photos:litigation") in entries
    assert ("retention:holds:viewed", me, "holds:1") in entries
    # Ids and codes only: the case reference is the hold row's, never the audit's.
    assert not any("CASE-2026/17" in str(e) for e in entries)


def test_the_officers_release_resumes_the_erasure_the_hold_deferred(
    client: TestClient, container: Container, worker: Worker
) -> None:
    c = container
    staff_id, headers = officer(client, c)
    subject_id, mine = user(client)
    made = client.post(HOLDS, json=body(subject_id), headers=headers).json()
    asked = client.post(
        "/api/v1/privacy/requests", json={"type": "erasure", "password": PASSWORD}, headers=mine
    )
    assert asked.status_code == 202, asked.text
    worker.run_until_idle()
    seen = client.get(f"/api/v1/admin/requests/{asked.json()['id']}", headers=headers).json()
    assert seen["status"] == "held"
    assert client.delete(f"{HOLDS}/{made['id']}", headers=headers).status_code == 204
    assert ("rights:request:verified", f"staff:{staff_id}") in [e[:2] for e in audit(c)]
    worker.run_until_idle()
    with c.sessions() as s:
        status = s.scalar(
            select(RightsRequest.status).where(RightsRequest.subject_id == subject_id)
        )
    assert status == "completed" and not c.keys.has_subject_key(subject_id)


@pytest.mark.parametrize("role", ["support", "admin", "engineer", "contractor"])
def test_every_other_role_is_refused_and_nothing_is_written(
    client: TestClient, container: Container, role: str
) -> None:
    c = container
    _, dpo = officer(client, c)
    subject_id, _ = user(client)
    kept = client.post(HOLDS, json=body(subject_id), headers=dpo).json()
    expires = c.clock.now() + timedelta(days=30) if role == "contractor" else None
    other = ready_staff(c, f"{role}-staff", role, expires=expires)
    headers = api_sign_in(client, f"{role}-staff")
    before, seen = hold_rows(c), len(audit(c))
    for method, path, payload in (
        ("GET", HOLDS, None),
        ("POST", HOLDS, body(subject_id, rule="photos")),
        ("DELETE", f"{HOLDS}/{kept['id']}", None),
    ):
        r = client.request(method, path, json=payload, headers=headers)
        assert r.status_code == 403, (method, r.text)
        assert r.json()["error"]["code"] == "staff_forbidden"
    assert hold_rows(c) == before  # none set, none released
    denied = audit(c)[seen:]  # the three refusals, each audited, and nothing else
    assert [e[:2] for e in denied] == [("staff:access:denied", f"staff:{other.id}")] * 3
    assert denied[2][2] == f"hold:{kept['id']}"


def test_a_users_token_or_none_is_refused(client: TestClient, container: Container) -> None:
    c = container
    subject_id, mine = user(client)
    for headers in (mine, {}):
        assert client.get(HOLDS, headers=headers).status_code == 401
        assert client.post(HOLDS, json=body(subject_id), headers=headers).status_code == 401
        assert client.delete(f"{HOLDS}/{'a' * 32}", headers=headers).status_code == 401
    assert hold_rows(c) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject_id": "A" * 32}, "subject_id"),  # upper-case: not an id we mint
        ({"subject_id": "a" * 31}, "subject_id"),
        ({"subject_id": "a" * 33}, "subject_id"),
        ({"subject_id": "../../etc/passwd-and-some-more-x"}, "subject_id"),
        ({"rule": "no_such_rule"}, "rule"),
        ({"rule": "Photos; drop"}, "rule"),
        ({"rule": "r" * 41}, "rule"),
        ({"reason": "my boss said so"}, "reason"),
        ({"reference": "R" * 65}, "reference"),
        ({"reference": "Jane Doe v. Ada"}, "reference"),  # prose, a name: refused
        ({"reference": ""}, "reference"),
        ({"reason": 5}, "reason"),
        ({"subject_id": 12345}, "subject_id"),
        ({"rule": ["*"]}, "rule"),
        ({"note": "an extra field"}, "note"),
    ],
)
def test_a_bad_body_is_a_422_naming_its_field_and_writes_nothing(
    client: TestClient, container: Container, change: dict[str, Any], field: str
) -> None:
    c = container
    _, headers = officer(client, c)
    subject_id, _ = user(client)
    r = client.post(HOLDS, json=body(subject_id) | change, headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    named = {error.get("field")} | {p.get("field") for p in error.get("problems") or []}
    assert any(field in str(n) for n in named), error
    assert hold_rows(c) == []
    assert not any(e[0] == "retention:hold:set" for e in audit(c))


def test_a_body_that_is_not_an_object_or_lacks_a_field_is_refused(
    client: TestClient, container: Container
) -> None:
    c = container
    _, headers = officer(client, c)
    subject_id, _ = user(client)
    lacking = {k: v for k, v in body(subject_id).items() if k != "reference"}
    assert client.post(HOLDS, json=lacking, headers=headers).status_code == 422
    assert client.post(HOLDS, json=["*"], headers=headers).status_code == 422
    raw = client.post(
        HOLDS, content=b"{not json", headers=headers | {"content-type": "application/json"}
    )
    assert raw.status_code in (400, 422)
    assert hold_rows(c) == []


@pytest.mark.parametrize("hold_id", ["f" * 32, "not-an-id", "F" * 32, "1"])
def test_an_unknown_hold_is_a_404_and_releases_nothing(
    client: TestClient, container: Container, hold_id: str
) -> None:
    c = container
    _, headers = officer(client, c)
    subject_id, _ = user(client)
    kept = client.post(HOLDS, json=body(subject_id), headers=headers).json()
    r = client.delete(f"{HOLDS}/{hold_id}", headers=headers)
    assert r.status_code == 404, r.text
    assert [h[0] for h in hold_rows(c)] == [kept["id"]]
    assert not any(e[0] == "retention:hold:released" for e in audit(c))


def test_a_hold_released_twice_is_a_404_the_second_time(
    client: TestClient, container: Container
) -> None:
    c = container
    _, headers = officer(client, c)
    subject_id, _ = user(client)
    made = client.post(HOLDS, json=body(subject_id), headers=headers).json()
    assert client.delete(f"{HOLDS}/{made['id']}", headers=headers).status_code == 204
    assert client.delete(f"{HOLDS}/{made['id']}", headers=headers).status_code == 404
    with c.sessions() as s:
        released = s.scalar(
            select(func.count()).where(AuditEntry.action == "retention:hold:released")
        )
    assert released == 1
