"""Staff clearance over HTTP: nothing half-written, and the gate on every hand on the data.

A create, grant or training the admin API refuses (wrong type, malformed or someone else's
id, oversized or out-of-range fields, a grant of one's own role) answers 4xx with an error
naming what is wrong, and leaves every staff row and the audit chain as they were (policy
5.2, 11.2). Vouching for an identity and completing a request by hand put the subject's data
in the officer's hands: like reading it, they need current training and the policy in force
acknowledged; a refusal is audited.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.rights.tables import RightsRequest
from minimaker.staff.tables import StaffMember
from tests.staff.signing_in import (
    PASSWORD,
    Headers,
    api_sign_in,
    enrol,
    new_staff,
    ready_staff,
    train,
)
from tests.staff.test_officer_referral import failed_rectification

ADMIN = "/api/v1/admin"
EVIDENCE = "Passport seen at the front desk, number checked against the letter."
#: Path ids by name; the named members' ids are filled in by the `ids` fixture.
ODD_IDS = {"unknown": "0" * 32, "malformed": "not-an-id", "oversized": "a" * 2000}


def state(c: Container) -> tuple[list[tuple[Any, ...]], int]:
    """Every column of every staff row, and the length of the audit chain."""
    columns = [a.key for a in StaffMember.__mapper__.column_attrs]
    with c.sessions() as session:
        rows = session.scalars(select(StaffMember).order_by(StaffMember.id))
        members = [tuple(getattr(r, k) for k in columns) for r in rows]
        entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return members, int(entries)


def actions_since(c: Container, count: int) -> list[tuple[str, str | None]]:
    with c.sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).offset(count))
        return [(e.action, e.object) for e in rows]


@pytest.fixture
def admin(client: TestClient, container: Container) -> Headers:
    ready_staff(container, "ann", "admin")
    return api_sign_in(client, "ann")


@pytest.fixture
def ids(container: Container, admin: Headers) -> dict[str, str]:
    """The path ids the refusals are tried on: members, a user (no staff), and odd ones."""
    sam = new_staff(container, "sam", "support").id
    ann = _staff_id(container, "ann")
    ada = accounts.signup(container, name="Ada Lovelace", email="ada@example.org",
                          username="ada", password=PASSWORD).id  # fmt: skip
    return {"sam": sam, "self": ann, "subject": ada, **ODD_IDS}


def _staff_id(c: Container, username: str) -> str:
    with c.sessions() as session:
        return str(session.scalar(select(StaffMember.id).where(StaffMember.username == username)))


def refused(client: TestClient, c: Container, path: str, body: object, headers: Headers) -> Any:
    """POST what must be refused: the answer, after checking nothing was written."""
    before = state(c)
    r = client.post(f"{ADMIN}{path}", json=body, headers=headers)
    assert state(c) == before, r.text
    assert 400 <= r.status_code < 500 and r.json()["error"]["message"], r.text
    return r


# --- create --------------------------------------------------------------------------------

NEW = {"username": "zed", "password": PASSWORD, "role": "support"}


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"role": 5}, 422, "role"),
        ({"role": "root"}, 422, "role"),
        ({"role": None}, 422, "role"),
        ({"username": 5}, 422, "username"),
        ({"username": "a" * 33}, 422, "username"),
        ({"username": "zed@example.org"}, 422, "username"),
        ({"password": "short"}, 422, "password"),
        ({"password": "p" * 1025}, 422, "password"),
        ({"is_admin": True}, 422, "is_admin"),
        ({"role": "contractor"}, 422, "access_expires"),
        ({"role": "contractor", "access_expires": "2001-01-01T00:00:00Z"}, 422, "access_expires"),
        ({"role": "contractor", "access_expires": "2999-01-01T00:00:00Z"}, 422, "access_expires"),
        ({"role": "contractor", "access_expires": "9999-12-31T23:59:59-05:00"}, 422, "access"),
        ({"role": "contractor", "access_expires": "2027-01-01T00:00:00"}, 422, "access_expires"),
        ({"role": "contractor", "access_expires": "next week"}, 422, "access_expires"),
        ({"access_expires": "2027-01-01T00:00:00Z"}, 422, "access_expires"),
        ({"username": "sam"}, 409, "username"),
    ],
)
def test_a_refused_create_answers_what_is_wrong_and_writes_nothing(
    client: TestClient,
    container: Container,
    admin: Headers,
    ids: dict[str, str],
    change: dict[str, Any],
    status: int,
    named: str,
) -> None:
    r = refused(client, container, "/staff", {**NEW, **change}, admin)
    assert r.status_code == status and named in r.text, r.text


def test_a_body_that_is_no_object_or_too_large_is_refused_and_writes_nothing(
    client: TestClient, container: Container, admin: Headers, ids: dict[str, str]
) -> None:
    assert refused(client, container, "/staff", [NEW], admin).status_code == 422
    huge = {**NEW, "username": "z" * 2_000_000}
    assert refused(client, container, "/staff", huge, admin).status_code == 413


# --- grant ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("self", {"role": "dpo"}, 409),
        ("unknown", {"role": "dpo"}, 404),
        ("malformed", {"role": "dpo"}, 404),
        ("oversized", {"role": "dpo"}, 404),
        ("subject", {"role": "dpo"}, 404),
        ("sam", {}, 422),
        ("sam", {"role": 5}, 422),
        ("sam", {"role": ["dpo"]}, 422),
        ("sam", {"role": "root"}, 422),
        ("sam", {"role": "dpo", "note": "promoted"}, 422),
        ("sam", {"role": "contractor"}, 422),
        ("sam", {"access_expires": "2027-01-01T00:00:00Z"}, 422),
        ("sam", {"role": "contractor", "access_expires": "2001-01-01T00:00:00Z"}, 422),
        ("sam", {"role": "contractor", "access_expires": "2999-01-01T00:00:00Z"}, 422),
        ("sam", {"role": "contractor", "access_expires": "9999-12-31T23:59:59-05:00"}, 422),
        ("sam", {"role": "contractor", "access_expires": True}, 422),
    ],
)
def test_a_refused_grant_answers_what_is_wrong_and_writes_nothing(
    client: TestClient,
    container: Container,
    admin: Headers,
    ids: dict[str, str],
    who: str,
    body: dict[str, Any],
    status: int,
) -> None:
    r = refused(client, container, f"/staff/{ids[who]}/grant", body, admin)
    assert r.status_code == status, r.text
    if status == 409:
        assert r.json()["error"]["message"] == "you cannot change your own role"


# --- training ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("unknown", {}, 404),
        ("malformed", {}, 404),
        ("oversized", {}, 404),
        ("subject", {}, 404),
        ("sam", {"valid_days": 0}, 422),
        ("sam", {"valid_days": 5000}, 422),
        ("sam", {"valid_days": "30"}, 422),
        ("sam", {"valid_days": True}, 422),
        ("sam", {"valid_days": 1.5}, 422),
        ("sam", {"trained_at": "2999-01-01T00:00:00Z"}, 422),
        ("sam", {"trained_at": "2001-01-01T00:00:00Z"}, 422),
        ("sam", {"trained_at": "0001-01-01T00:00:00+05:00"}, 422),
        ("sam", {"trained_at": "2024-01-01T00:00:00"}, 422),
        ("sam", {"trained_at": "yesterday"}, 422),
        ("sam", {"trained_on": "2024-01-01T00:00:00Z"}, 422),
    ],
)
def test_a_refused_training_answers_what_is_wrong_and_writes_nothing(
    client: TestClient,
    container: Container,
    admin: Headers,
    ids: dict[str, str],
    who: str,
    body: dict[str, Any],
    status: int,
) -> None:
    r = refused(client, container, f"/staff/{ids[who]}/training", body, admin)
    assert r.status_code == status, r.text


def test_each_accepted_write_changes_the_row_and_adds_one_audit_entry(
    client: TestClient, container: Container, admin: Headers, ids: dict[str, str]
) -> None:
    # The other side of the refusals above: `state` does see a write.
    sam = ids["sam"]
    for path, body, action in (
        ("/staff", NEW, "staff:member:created"),
        (f"/staff/{sam}/grant", {"role": "dpo"}, "staff:member:granted"),
        (f"/staff/{sam}/training", {"valid_days": 30}, "staff:training:recorded"),
    ):
        (members, entries) = state(container)
        r = client.post(f"{ADMIN}{path}", json=body, headers=admin)
        assert r.status_code in (200, 201), r.text
        assert state(container)[0] != members
        assert [a for a, _ in actions_since(container, entries)] == [action]


def test_a_role_that_manages_no_staff_is_refused_and_only_the_refusal_is_audited(
    client: TestClient, container: Container, ids: dict[str, str]
) -> None:
    ready_staff(container, "dora", "dpo")
    dpo = api_sign_in(client, "dora")
    sam = ids["sam"]
    for path, body in (
        ("/staff", NEW),
        (f"/staff/{sam}/grant", {"role": "dpo"}),
        (f"/staff/{sam}/training", {}),
    ):
        (members, entries) = state(container)
        r = client.post(f"{ADMIN}{path}", json=body, headers=dpo)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_forbidden")
        assert state(container)[0] == members
        assert [a for a, _ in actions_since(container, entries)] == ["staff:access:denied"]


# --- the clearance gate on every hand on the subject's data --------------------------------


def uncleared_officer(client: TestClient, c: Container) -> tuple[str, Headers]:
    """A DPO with the second factor, but no training and no policy acknowledged."""
    made = new_staff(c, "dora", "dpo")
    enrol(c, "dora")
    return made.id, api_sign_in(client, "dora")


def test_an_officer_not_cleared_may_not_vouch_for_an_identity_nor_is_anything_recorded(
    client: TestClient, container: Container
) -> None:
    accounts.signup(container, name="Ada Lovelace", email="ada@example.org", username="ada",
                    password=PASSWORD)  # fmt: skip
    dora, headers = uncleared_officer(client, container)
    body = {"email": "ada@example.org", "type": "erasure", "evidence": EVIDENCE}
    (_, entries) = state(container)
    r = client.post(f"{ADMIN}/requests", json=body, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_not_cleared")
    assert "training" in r.json()["error"]["message"]
    assert actions_since(container, entries) == [("staff:access:denied", "action:verify_identity")]
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RightsRequest)) == 0
    train(container, dora)
    headers = api_sign_in(client, "dora")
    assert client.post(f"{ADMIN}/requests", json=body, headers=headers).status_code == 202
    with container.sessions() as session:
        [row] = session.scalars(select(RightsRequest))
        assert (row.type, row.status, row.evidence_enc is not None) == ("erasure", "verified", True)


def test_a_recording_the_subject_confirms_needs_no_clearance(
    client: TestClient, container: Container
) -> None:
    # Nothing of the subject's reaches the member: the link goes to the address on file.
    accounts.signup(container, name="Ada Lovelace", email="ada@example.org", username="ada",
                    password=PASSWORD)  # fmt: skip
    _, headers = uncleared_officer(client, container)
    body = {"email": "ada@example.org", "type": "access"}
    assert client.post(f"{ADMIN}/requests", json=body, headers=headers).status_code == 202
    with container.sessions() as session:
        assert session.scalar(select(RightsRequest.status)) == "received"


def test_an_officer_not_cleared_may_not_complete_a_request_by_hand(
    client: TestClient, container: Container, worker: Worker
) -> None:
    request_id = failed_rectification(container, worker)
    dora, headers = uncleared_officer(client, container)
    body = {"statement": "Corrected the name as the letter asked."}
    url = f"{ADMIN}/requests/{request_id}/complete"
    (_, entries) = state(container)
    r = client.post(url, json=body, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_not_cleared")
    assert actions_since(container, entries) == [("staff:access:denied", f"request:{request_id}")]
    with container.sessions() as session:
        row = session.get(RightsRequest, request_id)
        assert row is not None and row.status != "completed" and row.resolution_enc is None
    train(container, dora)
    r = client.post(url, json=body, headers=api_sign_in(client, "dora"))
    assert (r.status_code, r.json()["status"]) == (200, "completed")
