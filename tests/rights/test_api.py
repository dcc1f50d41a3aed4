"""Data-subject requests over HTTP: intake, due dates, and restriction, objection and
rectification fulfilled end to end by the worker."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.generation.tables import UsageEvent
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import AlreadyTaken
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import rectification
from minimaker.rights.fulfil import Work, run_fulfilment_job
from minimaker.rights.read_model import EventRead, RequestRead
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import RightsRequest
from tests.conftest import photo_bytes, signup_and_login
from tests.rights.disclosures import PRINT_PARTNER, disclose, policy_naming
from tests.rights.test_restriction_order import every_commit


def _upload(client: TestClient, headers: dict[str, str]) -> str:
    r = client.post("/api/v1/uploads", files={"file": ("p.png", photo_bytes())}, headers=headers)
    assert r.status_code == 201
    return str(r.json()["id"])


def _request(client: TestClient, headers: dict[str, str], body: dict[str, object]):
    return client.post("/api/v1/privacy/requests", json=body, headers=headers)


def test_a_request_is_accepted_with_its_legal_due_date(
    client: TestClient, clock: ManualClock
) -> None:
    clock._now = datetime(2028, 1, 31, 9, 0, tzinfo=UTC)  # a leap year's January end
    headers = signup_and_login(client)
    r = _request(client, headers, {"type": "restriction"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["type"], body["status"]) == ("restriction", "verified")
    assert body["due_at"].startswith("2028-02-29T09:00")
    assert [e["to_status"] for e in body["events"]] == ["received", "verified"]
    listed = client.get("/api/v1/privacy/requests", headers=headers).json()
    assert [x["id"] for x in listed] == [body["id"]]


def test_a_request_answers_with_exactly_the_fields_of_its_read_model(
    client: TestClient,
) -> None:
    headers = signup_and_login(client)
    made = _request(client, headers, {"type": "access"}).json()
    listed = client.get("/api/v1/privacy/requests", headers=headers).json()
    for body in (made, listed[0]):
        assert set(body) == {f.name for f in fields(RequestRead)}
        assert {k for e in body["events"] for k in e} == {f.name for f in fields(EventRead)}


@pytest.mark.parametrize(
    "body",
    [
        {"type": "delete-everything"},
        {"type": 7},
        {},
        {"type": "access", "details": "please"},
        {"type": "access", "extra": 1},
        {"type": "rectification", "details": {"name": "x" * 5000}},
    ],
)
def test_malformed_requests_are_422_and_create_nothing(
    client: TestClient, container: Container, body: dict[str, object]
) -> None:
    headers = signup_and_login(client)
    r = _request(client, headers, body)
    assert r.status_code == 422, r.text
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RightsRequest)) == 0


def test_another_subjects_request_answers_like_a_missing_one(client: TestClient) -> None:
    alice = signup_and_login(client, username="alice")
    mallory = signup_and_login(client, username="mallory")
    request_id = _request(client, alice, {"type": "restriction"}).json()["id"]
    theirs = client.get(f"/api/v1/privacy/requests/{request_id}", headers=mallory)
    missing = client.get(f"/api/v1/privacy/requests/{'0' * 32}", headers=mallory)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert client.get("/api/v1/privacy/requests", headers=mallory).json() == []


def test_restriction_refuses_generation_but_keeps_the_subjects_own_access(
    client: TestClient, worker: Worker, container: Container
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers)
    queued = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    request_id = _request(client, headers, {"type": "restriction"}).json()["id"]
    # Fulfil the restriction before the older generation job gets its turn.
    fulfil = Worker(container, {"fulfil_request": run_fulfilment_job})
    assert fulfil.run_until_idle() == 1
    worker.run_until_idle()
    done = client.get(f"/api/v1/privacy/requests/{request_id}", headers=headers).json()
    assert done["status"] == "completed"
    prefs = client.get("/api/v1/privacy/preferences", headers=headers).json()
    assert prefs["restricted"] is True
    r = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "processing_refused"
    assert "restricted" in r.json()["error"]["message"]
    # The model queued before the restriction did not run: it was stopped, not processed.
    model = client.get(f"/api/v1/models/{queued}", headers=headers).json()
    assert model["status"] == "failed"
    assert "restricted" in model["error"]
    # Storage and the subject's own access go on.
    assert client.get(f"/api/v1/uploads/{upload_id}/content", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_lifting_a_restriction_tells_the_subject_first_and_generation_resumes(
    client: TestClient, worker: Worker, container: Container
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers)
    _request(client, headers, {"type": "restriction"})
    worker.run_until_idle()
    lift = _request(client, headers, {"type": "restriction", "details": {"action": "lift"}})
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    with every_commit(container, user_id) as seen:
        worker.run_until_idle()
    # First: a commit where the subject is told and the restriction still holds; then lifted.
    told = next(i for i, s in enumerate(seen) if s.told)
    assert seen[told].restricted and not seen[-1].restricted
    assert (
        client.get(f"/api/v1/privacy/requests/{lift.json()['id']}", headers=headers).json()[
            "status"
        ]
        == "completed"
    )
    with container.sessions() as s:
        kinds = set(s.scalars(select(OutboxMessage.kind)))
    assert "restriction_lifted" in kinds
    assert client.get("/api/v1/privacy/preferences", headers=headers).json()["restricted"] is False
    r = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
    assert r.status_code == 202


def test_an_objection_to_analytics_stops_usage_events_at_once(
    client: TestClient, worker: Worker, container: Container
) -> None:
    headers = signup_and_login(client)
    upload_id = _upload(client, headers)
    client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
    worker.run_until_idle()
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 1
    r = client.put(
        "/api/v1/privacy/preferences",
        json={"objections": {"training": False, "marketing": True, "analytics": True}},
        headers=headers,
    )
    assert r.status_code == 200
    assert r.json()["objections"] == {"training": False, "marketing": True, "analytics": True}
    client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers)
    worker.run_until_idle()
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 1  # no new event


def test_an_objection_request_records_the_named_purposes(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    r = _request(client, headers, {"type": "objection", "details": {"purposes": ["training"]}})
    worker.run_until_idle()
    done = client.get(f"/api/v1/privacy/requests/{r.json()['id']}", headers=headers).json()
    assert done["status"] == "completed"
    prefs = client.get("/api/v1/privacy/preferences", headers=headers).json()
    assert prefs["objections"] == {"training": True, "marketing": False, "analytics": False}


@pytest.mark.parametrize(
    "body",
    [
        {"objections": {"training": "yes"}},
        {"objections": {"profiling": True}},
        {"objections": []},
        {},
        {"objections": {"training": True}, "restricted": False},
    ],
)
def test_bad_preferences_are_422_and_change_nothing(
    client: TestClient, body: dict[str, object]
) -> None:
    headers = signup_and_login(client)
    r = client.put("/api/v1/privacy/preferences", json=body, headers=headers)
    assert r.status_code == 422, r.text
    prefs = client.get("/api/v1/privacy/preferences", headers=headers).json()
    assert not any(prefs["objections"].values())


def test_rectification_by_request_corrects_the_profile(client: TestClient, worker: Worker) -> None:
    headers = signup_and_login(client)
    r = _request(
        client, headers, {"type": "rectification", "details": {"name": "Ada King, Countess"}}
    )
    worker.run_until_idle()
    done = client.get(f"/api/v1/privacy/requests/{r.json()['id']}", headers=headers).json()
    assert done["status"] == "completed", done
    assert client.get("/api/v1/me", headers=headers).json()["name"] == "Ada King, Countess"


def test_a_rectification_without_fields_fails_its_job_and_stays_open_for_the_dpo(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    r = _request(client, headers, {"type": "rectification", "details": {"shoe_size": 42}})
    worker.run_until_idle()
    state = client.get(f"/api/v1/privacy/requests/{r.json()['id']}", headers=headers).json()
    assert state["status"] == "in_progress"  # not silently completed; the DPO sees it open


def test_request_details_are_sealed_at_rest(client: TestClient, container: Container) -> None:
    headers = signup_and_login(client)
    _request(client, headers, {"type": "rectification", "details": {"name": "Secret Newname"}})
    with container.sessions() as s:
        sealed = s.scalars(select(RightsRequest.details_enc)).one()
    assert sealed is not None and b"Newname" not in sealed


def _signup(c: Container, username: str) -> str:
    password = "correct horse battery staple"
    email = f"{username}@example.org"
    return accounts.signup(c, name="Ada", email=email, username=username, password=password).id


def test_a_rectification_and_its_recipient_notices_are_one_unit_of_work(
    container: Container,
) -> None:
    user_id = _signup(container, "ada")
    work = Work("0" * 32, user_id, RequestType.RECTIFICATION, {"name": "Ada King"})
    seen: list[Session] = []
    count = seen.append  # one bound method, to remove the very listener that was added
    with policy_naming(container, PRINT_PARTNER):
        disclose(container, user_id, PRINT_PARTNER["name"])
        event.listen(container.sessions, "after_commit", count)
        try:
            rectification.rectify(container, work)
        finally:
            event.remove(container.sessions, "after_commit", count)
    assert len(seen) == 1  # the correction, its audit and the Art. 19 notices together
    assert accounts.get_profile(container, user_id=user_id).name == "Ada King"
    with container.sessions() as s:
        kinds = list(s.scalars(select(OutboxMessage.kind)))
    assert kinds == ["recipient_rectification"]  # and the notice is in that one commit


def test_a_rectification_refused_as_taken_changes_and_audits_nothing(
    container: Container,
) -> None:
    _signup(container, "grace")
    user_id = _signup(container, "ada")
    work = Work("0" * 32, user_id, RequestType.RECTIFICATION, {"email": "grace@example.org"})
    with pytest.raises(AlreadyTaken):
        rectification.rectify(container, work)
    assert accounts.get_profile(container, user_id=user_id).email == "ada@example.org"
    with container.sessions() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert "account:profile:corrected" not in actions
