"""The staff API over real HTTP: sign-in, token separation, the queue and the DPO's decisions."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import intake
from minimaker.rights.read_model import RequestRead, StaffRequestView
from minimaker.staff import service as staff
from tests.conftest import signup_and_login
from tests.staff.signing_in import PASSWORD, Headers, api_sign_in, ready_staff


def staff_headers(client: TestClient, c: Container, role: str = "dpo", name: str = "") -> Headers:
    """Create a ready staff member of `role` and sign them in over HTTP."""
    username = name or f"{role}-staff"
    ready_staff(c, username, role)
    return sign_in(client, username)


def sign_in(client: TestClient, username: str = "dpo-staff") -> Headers:
    """A fresh staff token (sessions last an hour: tests that move the clock sign in again)."""
    return api_sign_in(client, username)


def user_id_of(client: TestClient, headers: Headers) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def submit(c: Container, user_id: str, type: str = "access") -> RequestRead:
    return intake.submit(c, user_id=user_id, type=type)


def outbox_kinds(c: Container, subject_id: str) -> list[str]:
    with c.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage.kind)
                .where(OutboxMessage.subject_id == subject_id)
                .order_by(OutboxMessage.created_at)
            )
        )


def audit_actions(c: Container) -> list[tuple[str, str, str | None]]:
    with c.sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        return [(e.action, e.actor, e.object) for e in rows]


@pytest.fixture
def subject(client: TestClient) -> tuple[Headers, str]:
    headers = signup_and_login(client, username="ada", name="Ada Lovelace")
    return headers, user_id_of(client, headers)


@pytest.fixture
def dpo(client: TestClient, container: Container) -> Headers:
    return staff_headers(client, container, "dpo")


# --- sign-in and tokens ------------------------------------------------------------------


def test_staff_sign_in_refuses_a_wrong_password_with_401(
    client: TestClient, container: Container
) -> None:
    staff.create_staff(container, by=None, username="dora", password=PASSWORD, role="dpo")
    r = client.post("/api/v1/admin/auth/token", data={"username": "dora", "password": "x" * 12})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


def test_staff_sign_in_is_rate_limited_with_429_and_retry_after(
    client: TestClient, container: Container
) -> None:
    staff.create_staff(container, by=None, username="dora", password=PASSWORD, role="dpo")
    for _ in range(container.settings.login_max_failures):
        client.post("/api/v1/admin/auth/token", data={"username": "dora", "password": "x" * 12})
    r = client.post("/api/v1/admin/auth/token", data={"username": "dora", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


def test_a_user_token_is_refused_on_every_admin_route(
    client: TestClient, subject: tuple[Headers, str]
) -> None:
    user_headers, _ = subject
    for method, path in (
        ("GET", "/api/v1/admin/requests"),
        ("GET", "/api/v1/admin/me"),
        ("GET", "/api/v1/admin/staff"),
        ("POST", f"/api/v1/admin/requests/{'0' * 32}/resume"),
    ):
        r = client.request(method, path, headers=user_headers)
        assert r.status_code == 401, (method, path)
        assert r.json()["error"]["code"] == "not_authenticated"


def test_a_staff_token_is_refused_on_user_routes(client: TestClient, dpo: Headers) -> None:
    for path in ("/api/v1/me", "/api/v1/uploads", "/api/v1/privacy/requests"):
        assert client.get(path, headers=dpo).status_code == 401, path


def test_admin_routes_without_a_token_answer_401(client: TestClient) -> None:
    r = client.get("/api/v1/admin/requests")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_staff_member_reads_their_role_and_signs_out(client: TestClient, dpo: Headers) -> None:
    assert client.get("/api/v1/admin/me", headers=dpo).json()["role"] == "dpo"
    assert client.post("/api/v1/admin/auth/logout", headers=dpo).status_code == 204
    assert client.get("/api/v1/admin/me", headers=dpo).status_code == 401


def test_the_staff_api_is_documented_and_the_pages_are_not(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert paths["/api/v1/admin/requests/{request_id}/extend"]["post"]["description"].startswith(
        "DPO: extend once"
    )
    assert "/api/v1/admin/auth/token" in paths
    assert not [p for p in paths if p.startswith(("/admin", "/privacy"))]


# --- the queue ----------------------------------------------------------------------------


def test_the_queue_filters_overdue_and_due_within_seven_days_soonest_first(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    subject: tuple[Headers, str],
    dpo: Headers,
) -> None:
    _, user_id = subject
    late = submit(container, user_id, "access")
    clock.advance(days=10)
    soon = submit(container, user_id, "portability")
    clock.advance(days=25)
    fresh = submit(container, user_id, "objection")
    dpo = sign_in(client)

    everything = client.get("/api/v1/admin/requests", headers=dpo).json()
    assert [r["id"] for r in everything] == [late.id, soon.id, fresh.id]
    assert [r["overdue"] for r in everything] == [True, False, False]
    assert everything[0]["days_left"] < 0 <= everything[1]["days_left"] <= 7
    assert everything[2]["days_left"] >= 27

    overdue = client.get("/api/v1/admin/requests?overdue=true", headers=dpo).json()
    assert [r["id"] for r in overdue] == [late.id]
    due_soon = client.get("/api/v1/admin/requests?due_within_days=7", headers=dpo).json()
    assert [r["id"] for r in due_soon] == [soon.id]
    assert due_soon[0]["subject_id"] == user_id


def test_the_queue_filters_by_status_and_refuses_an_unknown_one(
    client: TestClient, container: Container, subject: tuple[Headers, str], dpo: Headers
) -> None:
    _, user_id = subject
    request = submit(container, user_id)
    r = client.get("/api/v1/admin/requests?status=verified", headers=dpo)
    assert [x["id"] for x in r.json()] == [request.id]
    assert client.get("/api/v1/admin/requests?status=completed", headers=dpo).json() == []
    bad = client.get("/api/v1/admin/requests?status=lost", headers=dpo)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "status"
    assert client.get("/api/v1/admin/requests?due_within_days=x", headers=dpo).status_code == 422


def test_staff_see_metadata_and_the_pseudonymous_subject_never_profile_data(
    client: TestClient, container: Container, subject: tuple[Headers, str], dpo: Headers
) -> None:
    _, user_id = subject
    request = intake.submit(
        container, user_id=user_id, type="rectification", details={"name": "Ada King"}
    )
    r = client.get(f"/api/v1/admin/requests/{request.id}", headers=dpo)
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["subject_id"], body["type"]) == (request.id, user_id, "rectification")
    assert [e["to_status"] for e in body["events"]] == ["received", "verified"]
    for personal in ("Ada", "Lovelace", "King", "ada@example.org", '"ada"'):
        assert personal not in r.text
    # The staff view of the read model, field for field: no result, no details.
    assert set(body) == {f.name for f in fields(StaffRequestView)}
    assert "result_ref" not in body and "details" not in body
    viewed = [a for a in audit_actions(container) if a[0] == "staff:request:viewed"]
    assert viewed == [("staff:request:viewed", viewed[0][1], f"request:{request.id}:rectification")]


def test_unknown_and_malformed_request_ids_answer_404(client: TestClient, dpo: Headers) -> None:
    for request_id in ("0" * 32, "not-an-id", "x" * 200):
        r = client.get(f"/api/v1/admin/requests/{request_id}", headers=dpo)
        assert r.status_code == 404, request_id
        r = client.post(
            f"/api/v1/admin/requests/{request_id}/extend",
            json={"months": 1, "reason": "complex"},
            headers=dpo,
        )
        assert r.status_code == 404, request_id


# --- decisions ------------------------------------------------------------------------------


def test_the_dpo_extends_once_the_subject_is_told_and_a_second_extension_is_409(
    client: TestClient, container: Container, subject: tuple[Headers, str], dpo: Headers
) -> None:
    user_headers, user_id = subject
    request = submit(container, user_id)
    body = {"months": 2, "reason": "Your archive holds many large models."}
    r = client.post(f"/api/v1/admin/requests/{request.id}/extend", json=body, headers=dpo)
    assert r.status_code == 200, r.text
    assert r.json()["extended_months"] == 2
    assert r.json()["due_at"] > r.json()["original_due_at"]
    assert "request_extended" in outbox_kinds(container, user_id)
    seen = client.get(f"/api/v1/privacy/requests/{request.id}", headers=user_headers).json()
    assert seen["extension_reason"] == "Your archive holds many large models."

    again = client.post(f"/api/v1/admin/requests/{request.id}/extend", json=body, headers=dpo)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "extension_refused"
    me = client.get("/api/v1/admin/me", headers=dpo).json()["id"]
    assert ("staff:request:extended", f"staff:{me}", f"request:{request.id}:access") in (
        audit_actions(container)
    )
    assert ("rights:request:extended", f"staff:{me}") in [a[:2] for a in audit_actions(container)]


def test_an_extension_after_the_original_due_date_is_409(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    subject: tuple[Headers, str],
    dpo: Headers,
) -> None:
    request = submit(container, subject[1])
    clock.advance(days=32)
    dpo = sign_in(client)
    r = client.post(
        f"/api/v1/admin/requests/{request.id}/extend",
        json={"months": 1, "reason": "too late to ask"},
        headers=dpo,
    )
    assert r.status_code == 409
    assert "original due date has passed" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"months": 3, "reason": "a long job"}, 409),
        ({"months": 0, "reason": "a long job"}, 409),
        ({"months": "two", "reason": "a long job"}, 422),
        ({"months": 1}, 422),
        ({"months": 1, "reason": ""}, 422),
        ({"months": 1, "reason": "a long job", "extra": 1}, 422),
    ],
)
def test_an_extension_needs_one_or_two_months_and_a_reason(
    client: TestClient,
    container: Container,
    subject: tuple[Headers, str],
    dpo: Headers,
    body: dict[str, object],
    status: int,
) -> None:
    request = submit(container, subject[1])
    r = client.post(f"/api/v1/admin/requests/{request.id}/extend", json=body, headers=dpo)
    assert r.status_code == status, r.text
    assert (
        client.get(f"/api/v1/admin/requests/{request.id}", headers=dpo).json()["extended_months"]
        == 0
    )


def test_a_rejection_needs_a_reason_and_tells_the_subject_of_the_right_to_complain(
    client: TestClient, container: Container, subject: tuple[Headers, str], dpo: Headers
) -> None:
    _, user_id = subject
    request = submit(container, user_id, "erasure")
    url = f"/api/v1/admin/requests/{request.id}/reject"
    assert client.post(url, json={}, headers=dpo).status_code == 422
    short = client.post(url, json={"reason": "no"}, headers=dpo)
    assert (short.status_code, short.json()["error"]["field"]) == (422, "reason")
    assert "request_rejected" not in outbox_kinds(container, user_id)

    reason = "The same request was answered in full last week."
    r = client.post(url, json={"reason": reason}, headers=dpo)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["rejection_reason"]) == ("rejected", reason)
    assert r.json()["overdue"] is False
    with container.uow(write=False) as uow:
        row = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject_id == user_id, OutboxMessage.kind == "request_rejected"
            )
        ).one()
        message = outbox.open_message(uow, row)
    assert reason in message["body"] and "supervisory authority" in message["body"]
    again = client.post(url, json={"reason": reason}, headers=dpo)
    assert again.status_code == 409
    extend = {"months": 1, "reason": "more time"}
    closed = client.post(f"/api/v1/admin/requests/{request.id}/extend", json=extend, headers=dpo)
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "extension_refused")


def test_support_sees_the_queue_but_cannot_extend_reject_or_pause(
    client: TestClient, container: Container, subject: tuple[Headers, str]
) -> None:
    support = staff_headers(client, container, "support")
    request = submit(container, subject[1])
    assert client.get("/api/v1/admin/requests", headers=support).status_code == 200
    assert client.get(f"/api/v1/admin/requests/{request.id}", headers=support).status_code == 200
    base = f"/api/v1/admin/requests/{request.id}"
    for path, body in (
        ("/extend", {"months": 1, "reason": "complex"}),
        ("/reject", {"reason": "manifestly unfounded, as before"}),
        ("/pause", {"note": "which photos?"}),
    ):
        r = client.post(base + path, json=body, headers=support)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "staff_forbidden"
    assert client.get(base, headers=support).json()["extended_months"] == 0
    denied = [a for a in audit_actions(container) if a[0] == "staff:access:denied"]
    assert len(denied) == 3


def test_an_admin_manages_staff_but_sees_no_requests(
    client: TestClient, container: Container, dpo: Headers
) -> None:
    admin = staff_headers(client, container, "admin")
    assert client.get("/api/v1/admin/requests", headers=admin).status_code == 403
    body = {"username": "sam", "password": PASSWORD, "role": "support"}
    r = client.post("/api/v1/admin/staff", json=body, headers=admin)
    assert (r.status_code, r.json()["role"]) == (201, "support")
    assert client.post("/api/v1/admin/staff", json=body, headers=admin).status_code == 409
    assert client.post("/api/v1/admin/staff", json=body, headers=dpo).status_code == 403
    names = [s["username"] for s in client.get("/api/v1/admin/staff", headers=admin).json()]
    assert names == ["admin-staff", "dpo-staff", "sam"]  # made at one clock time: by name
    r = client.post(f"/api/v1/admin/staff/{r.json()['id']}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["disabled_at"] is not None


def test_the_dpo_pauses_and_resumes_a_request_and_fulfilment_is_queued_again(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    subject: tuple[Headers, str],
    dpo: Headers,
) -> None:
    request = submit(container, subject[1])
    base = f"/api/v1/admin/requests/{request.id}"
    assert client.post(base + "/pause", json={}, headers=dpo).status_code == 422
    r = client.post(base + "/pause", json={"note": "Which account email?"}, headers=dpo)
    assert (r.status_code, r.json()["status"]) == (200, "paused")
    clock.advance(days=3)
    dpo = sign_in(client)
    r = client.post(base + "/resume", headers=dpo)
    assert (r.status_code, r.json()["status"]) == (200, "verified")
    # The three days spent waiting on the subject do not count against the deadline.
    assert datetime.fromisoformat(r.json()["due_at"]) == request.due_at + timedelta(days=3)
    assert client.post(base + "/resume", headers=dpo).status_code == 422


# --- recording on a subject's behalf: tests/staff/test_officer_record.py ------------------
