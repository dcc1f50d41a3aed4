"""Reason-bound staff access to a subject's data: role, second factor, training, policy and a
stated reason each needed; the read stands in the audit with its reason; contractors expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.staff import training
from minimaker.staff.tables import StaffMember
from tests.conftest import signup_and_login
from tests.staff.signing_in import (
    PASSWORD,
    TOKEN,
    api_sign_in,
    code_for,
    enrol,
    new_staff,
    ready_staff,
)

Headers = dict[str, str]


def _subject(client: TestClient) -> str:
    headers = signup_and_login(client, username="ada", name="Ada Lovelace")
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def _read(client: TestClient, headers: Headers, subject_id: str, query: str) -> dict:
    r = client.get(f"/api/v1/admin/subjects/{subject_id}{query}", headers=headers)
    return {"status": r.status_code, **r.json()}


def _reads(c: Container) -> list[tuple[str, str | None, str | None, str | None]]:
    with c.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff:subject_data:read")
        )
        return [(e.actor, e.subject, e.object, e.purpose) for e in rows]


def test_with_role_factor_training_policy_and_reason_the_read_stands_in_the_audit(
    client: TestClient, container: Container
) -> None:
    ada = _subject(client)
    made = ready_staff(container, "sam", "support")
    sam = api_sign_in(client, "sam")
    found = _read(client, sam, ada, "?reason=user_support&reference=SUP-42")
    assert found["status"] == 200, found
    assert (found["name"], found["username"]) == ("Ada Lovelace", "ada")
    [(actor, subject, obj, purpose)] = _reads(container)
    assert (actor, subject) == (f"staff:{made.id}", ada)
    assert obj == "profile:reason:user_support:ref:SUP-42" and purpose == "service"
    assert "Ada" not in str(_reads(container))


def test_without_a_reason_or_with_free_text_nothing_is_shown_nor_recorded(
    client: TestClient, container: Container
) -> None:
    ada = _subject(client)
    ready_staff(container, "sam", "support")
    sam = api_sign_in(client, "sam")
    for query in (
        "",
        "?reason=curious",
        "?reason=user_support&reference=called+Ada+Lovelace",
        "?reason=user_support&reference=SUP-" + "1" * 30,  # oversized
        "?reason=user_support&reference=sup-1",
    ):
        assert _read(client, sam, ada, query)["status"] == 422, query
    assert _reads(container) == []


def test_a_role_without_personal_data_is_refused_and_the_refusal_audited(
    client: TestClient, container: Container
) -> None:
    ada = _subject(client)
    for name, role in (("ann", "admin"), ("eve", "engineer")):
        ready_staff(container, name, role)
        found = _read(client, api_sign_in(client, name), ada, "?reason=user_support")
        assert (found["status"], found["error"]["code"]) == (403, "staff_forbidden")
    assert _reads(container) == []


def test_a_refused_read_audits_only_an_id_we_could_have_minted(
    client: TestClient, container: Container
) -> None:
    # What a URL carries (an address, control characters) never reaches the audit.
    ready_staff(container, "ann", "admin")
    headers = api_sign_in(client, "ann")
    for typed in ("ada@example.org", "a%0Ab", "0" * 31 + "%07"):
        found = _read(client, headers, typed, "?reason=user_support")
        assert (found["status"], found["error"]["code"]) == (403, "staff_forbidden")
    with container.sessions() as session:
        objects = list(
            session.scalars(
                select(AuditEntry.object).where(AuditEntry.action == "staff:access:denied")
            )
        )
    assert objects == ["subject:malformed"] * 3


def test_untrained_or_unacknowledged_staff_are_refused_naming_what_is_missing(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    ada = _subject(client)
    made = new_staff(container, "sam", "support")
    enrol(container, "sam")
    sam = api_sign_in(client, "sam")
    found = _read(client, sam, ada, "?reason=user_support")
    assert (found["status"], found["error"]["code"]) == (403, "staff_not_cleared")
    assert "training" in found["error"]["message"] and "policy version" in found["error"]["message"]
    training.record_training(container, by=None, staff_id=made.id)
    found = _read(client, sam, ada, "?reason=user_support")
    assert "training" not in found["error"]["message"]
    r = client.post(
        "/api/v1/admin/me/acknowledge-policy", json={"version": "0.0-not-it"}, headers=sam
    )
    assert r.status_code == 422
    version = container.policy.version
    r = client.post("/api/v1/admin/me/acknowledge-policy", json={"version": version}, headers=sam)
    assert r.status_code == 200, r.text
    assert _read(client, sam, ada, "?reason=user_support")["status"] == 200
    # A year on, the training is out of date: refused again.
    clock.advance(days=366)
    sam = api_sign_in(client, "sam")
    found = _read(client, sam, ada, "?reason=user_support")
    assert found["status"] == 403 and "training" in found["error"]["message"]
    assert len(_reads(container)) == 1


def test_without_the_second_factor_no_token_reads_a_subject(
    client: TestClient, container: Container
) -> None:
    ada = _subject(client)
    new_staff(container, "sam", "support")
    r = client.post(TOKEN, data={"username": "sam", "password": PASSWORD})
    enrolling = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert _read(client, enrolling, ada, "?reason=user_support")["status"] == 401
    assert _reads(container) == []


def test_an_unknown_or_malformed_subject_is_404_and_nothing_is_recorded(
    client: TestClient, container: Container
) -> None:
    ready_staff(container, "sam", "support")
    sam = api_sign_in(client, "sam")
    for subject in ("0" * 32, "not-an-id"):
        assert _read(client, sam, subject, "?reason=user_support")["status"] == 404
    assert _reads(container) == []


def test_a_contractors_access_ends_with_its_term_sessions_included(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    ada = _subject(client)
    now = clock.now()
    r = client.post(TOKEN, data={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401
    for bad in (None, now - timedelta(days=1)):
        with pytest.raises(ValidationFailed):
            new_staff(container, "cyd", "contractor", expires=bad)
    with pytest.raises(ValidationFailed):
        new_staff(container, "sue", "support", expires=now + timedelta(days=1))
    made = ready_staff(container, "cyd", "contractor", expires=now + timedelta(days=7))
    cy = api_sign_in(client, "cyd")
    assert _read(client, cy, ada, "?reason=handling_request")["status"] == 200
    clock.advance(days=8)
    assert client.get("/api/v1/admin/requests", headers=cy).status_code == 401
    code = code_for(container, made.id)
    r = client.post(TOKEN, data={"username": "cyd", "password": PASSWORD, "code": code})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "staff_access_expired")
    training.grant(
        container, by=None, staff_id=made.id, access_expires=clock.now() + timedelta(days=30)
    )
    assert (
        client.get("/api/v1/admin/requests", headers=api_sign_in(client, "cyd")).status_code == 200
    )
    with container.sessions() as session:
        assert session.get(StaffMember, made.id).access_expires_at is not None
