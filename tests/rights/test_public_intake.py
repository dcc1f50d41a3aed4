"""Requests by email from people who cannot sign in, over HTTP, with mail through real SMTP."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts.tables import LoginFailure
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.app import create_app
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import deadlines, intake
from minimaker.rights import public_intake as public_requests
from minimaker.rights.tables import RightsRequest, VerificationToken
from minimaker.settings import Settings
from minimaker.staff.service import StaffIdentity
from tests.conftest import signup_and_login
from tests.mailserver import Mailbox, Received, delivering_to
from tests.scan import needles_for, scan_database, scan_files

ASK = "/api/v1/privacy/requests/public"
PUBLIC_URL = "https://privacy.example.org"
CONFIRM_SUBJECT = "Confirm your privacy request"
ADA = "ada@example.org"
NOBODY = "nobody.here@example.org"
#: Links nobody was sent: well formed but never issued, malformed, oversized, a header or path
#: injection. Fixed values: every test worker must collect the same ids.
UNKNOWN_TOKENS = [
    "q7LmV2xP9sK4dR8tZ1bN6cW3yH5jF0gA-uE_oI2kT9s",
    "garbage",
    "x" * 500,
    "q7LmV2xP9sK4dR8tZ1bN6cW3yH5jF0gA-uE_oI2kT9s%0A",
    "..%2F..%2Fetc",
]


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings, public_url=PUBLIC_URL)


def sign_up_ada(client: TestClient) -> None:
    """Ada's account, without signing in (these tests act as someone who cannot)."""
    r = client.post(
        "/api/v1/auth/signup",
        json={
            "name": "Ada Lovelace",
            "email": ADA,
            "username": "ada",
            "password": "correct horse battery staple",
        },
    )
    assert r.status_code == 201, r.text


def ask(client: TestClient, email: Any, type: Any = "objection") -> Any:
    return client.post(ASK, json={"email": email, "type": type})


def confirmations(mailbox: Mailbox) -> list[Received]:
    return [m for m in mailbox.received if m.message["Subject"] == CONFIRM_SUBJECT]


def link_path(message: Received) -> str:
    """The path of the confirmation link in an email (its host is the public URL)."""
    found = re.search(
        re.escape(PUBLIC_URL) + r"(/api/v1/privacy/verify/[A-Za-z0-9_-]+)", message.body
    )
    assert found, message.body
    return found.group(1)


def counts(c: Container) -> dict[str, int]:
    tables = (RightsRequest, VerificationToken, OutboxMessage, Job)
    with c.uow(write=False) as uow:
        return {
            t.__tablename__: uow.session.scalar(select(func.count()).select_from(t)) or 0
            for t in tables
        }


def asked_and_mailed(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> tuple[str, str]:
    """Ada asks by email and the link reaches her: (link path, request id)."""
    sign_up_ada(client)
    assert ask(client, ADA).status_code == 202
    worker.run_until_idle()
    [message] = confirmations(mailbox)
    with container.uow(write=False) as uow:
        request_id = uow.session.scalars(select(RightsRequest.id)).one()
    return link_path(message), request_id


def status_of(c: Container, request_id: str) -> str:
    return intake.get_any(c, request_id=request_id).status


def support() -> StaffIdentity:
    """A support staff member (support may record requests), as a live token would name them."""
    return StaffIdentity(id=uuid.uuid4().hex, role="support")


def fulfil_jobs(c: Container) -> int:
    with c.uow(write=False) as uow:
        query = select(func.count()).select_from(Job).where(Job.kind == "fulfil_request")
        return uow.session.scalar(query) or 0


# --- the whole route ----------------------------------------------------------------------


def test_a_registered_address_confirms_by_the_emailed_link_and_the_request_is_fulfilled(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    headers = signup_and_login(client, username="ada")
    answer = ask(client, "  ADA@Example.org ")
    assert answer.status_code == 202
    assert answer.json() == public_requests.ACKNOWLEDGEMENT
    [request] = client.get("/api/v1/privacy/requests", headers=headers).json()
    assert (request["status"], request["channel"], request["type"]) == (
        "received",
        "email",
        "objection",
    )

    worker.run_until_idle()  # the duty delivers the link; nothing to fulfil yet
    [message] = confirmations(mailbox)
    assert message.rcpt_tos == [ADA]  # the address on file, not the one typed
    assert message.message["To"] == ADA
    path = link_path(message)

    page = client.get(path)
    assert page.status_code == 200
    assert f'<form method="post" action="{path}">' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert status_of(container, request["id"]) == "received", "opening the link must not act"

    done = client.post(path)
    assert done.status_code == 200
    assert done.json()["id"] == request["id"]
    assert done.json()["status"] == "verified"
    assert fulfil_jobs(container) == 1

    worker.run_until_idle()
    final = client.get(f"/api/v1/privacy/requests/{request['id']}", headers=headers).json()
    assert final["status"] == "completed"
    assert [e["to_status"] for e in final["events"]] == [
        "received",
        "verified",
        "in_progress",
        "completed",
    ]
    prefs = client.get("/api/v1/privacy/preferences", headers=headers).json()
    assert all(prefs["objections"].values())
    done_mail = [m for m in mailbox.received if "is done" in str(m.message["Subject"])]
    assert [m.rcpt_tos for m in done_mail] == [[ADA]]


def test_the_confirmation_is_recorded_as_the_subject_in_the_audit_log(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    path, request_id = asked_and_mailed(client, container, worker, mailbox)
    client.post(path)
    with container.uow(write=False) as uow:
        entries = {
            e.action: e
            for e in uow.session.scalars(
                select(AuditEntry).where(AuditEntry.object == f"request:{request_id}:objection")
            )
        }
        received, verified = entries["rights:request:received"], entries["rights:request:verified"]
        assert received.actor == "system:email-intake"
        assert verified.actor == f"subject:{verified.subject}"


def test_a_browser_confirming_by_the_form_gets_a_page(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    path, request_id = asked_and_mailed(client, container, worker, mailbox)
    done = client.post(path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/html")
    assert "Request confirmed" in done.text and request_id in done.text
    assert status_of(container, request_id) == "verified"


def test_an_unregistered_address_gets_the_same_answer_and_nothing_is_created(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    sign_up_ada(client)
    before = counts(container)
    unknown = ask(client, NOBODY)
    assert counts(container) == before
    worker.run_until_idle()
    assert mailbox.received == []

    known = ask(client, ADA)
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert unknown.content == known.content
    assert counts(container)["rights_requests"] == before["rights_requests"] + 1


def test_both_answers_take_about_as_long(client: TestClient, container: Container) -> None:
    sign_up_ada(client)
    ask(client, ADA)  # warm up what a first registered request loads once

    def timed(ip: str, email: str) -> float:
        with client_from(container, ip) as tc:
            started = time.perf_counter()
            assert ask(tc, email).status_code == 202
            return time.perf_counter() - started

    known = [timed(f"192.0.2.{i}", ADA) for i in range(1, 4)]
    unknown = [timed(f"198.51.100.{i}", f"nobody{i}@example.org") for i in range(1, 4)]
    assert min(known + unknown) >= public_requests.MIN_DURATION_S
    # Medians: one slow outlier on a busy test machine says nothing about the route.
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.1


def test_nothing_readable_is_stored_of_the_address_the_link_or_the_message(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    needles = needles_for(ADA, "Ada Lovelace")
    sign_up_ada(client)
    ask(client, ADA)
    ask(client, NOBODY)
    assert scan_database(container.engine, needles + needles_for(NOBODY), set()) == {}
    worker.run_until_idle()
    [message] = confirmations(mailbox)
    token = link_path(message).rsplit("/", 1)[1]
    needles += needles_for(token, "To confirm that it comes from you")
    assert scan_database(container.engine, needles, set()) == {}
    client.post(link_path(message))
    worker.run_until_idle()
    assert scan_database(container.engine, needles, set()) == {}
    assert scan_files(container.settings.data_dir, needles, set()) == {}


# --- links that cannot be used ------------------------------------------------------------


def test_a_link_works_once(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    path, request_id = asked_and_mailed(client, container, worker, mailbox)
    assert client.post(path).status_code == 200
    again = client.post(path)
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "link_gone"
    assert "already used" in again.json()["error"]["message"]
    assert client.get(path).status_code == 410
    assert fulfil_jobs(container) == 1
    assert status_of(container, request_id) == "verified"


def test_an_expired_link_is_refused_and_changes_nothing(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    worker: Worker,
    mailbox: Mailbox,
) -> None:
    path, request_id = asked_and_mailed(client, container, worker, mailbox)
    clock.advance(seconds=container.settings.verification_ttl_s)
    page = client.get(path)
    assert page.status_code == 410
    assert "expired" in page.text
    refused = client.post(path)
    assert refused.status_code == 410
    assert "expired" in refused.json()["error"]["message"]
    assert status_of(container, request_id) == "received"
    assert fulfil_jobs(container) == 0
    with container.uow(write=False) as uow:
        assert uow.session.scalars(select(VerificationToken.used_at)).one() is None


def test_a_request_never_confirmed_is_closed_after_its_link_expired_and_the_subject_told(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    worker: Worker,
    mailbox: Mailbox,
) -> None:
    _, request_id = asked_and_mailed(client, container, worker, mailbox)
    assert deadlines.close_unconfirmed(container) == 0  # the link is still live
    clock.advance(seconds=container.settings.verification_ttl_s + 1)
    assert deadlines.close_unconfirmed(container) == 1
    closed = intake.get_any(container, request_id=request_id)
    assert closed.status == "rejected"
    assert "confirmed" in (closed.rejection_reason or "")
    assert deadlines.close_unconfirmed(container) == 0  # done once
    with container.uow(write=False) as uow:
        kinds = list(uow.session.scalars(select(OutboxMessage.kind)))
    assert "request_rejected" in kinds


@pytest.mark.parametrize("token", UNKNOWN_TOKENS)
def test_an_unknown_or_malformed_link_is_not_found_and_changes_nothing(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox, token: str
) -> None:
    _, request_id = asked_and_mailed(client, container, worker, mailbox)
    before = counts(container)
    for method in ("GET", "POST"):
        r = client.request(method, f"/api/v1/privacy/verify/{token}")
        assert r.status_code == 404, (method, r.text)
    assert counts(container) == before
    assert status_of(container, request_id) == "received"


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": ADA},
        {"type": "objection"},
        {"email": "not-an-address", "type": "objection"},
        {"email": "ada@example.org\nBcc: eve@example.org", "type": "objection"},
        {"email": ADA, "type": "delete-everything"},
        {"email": ADA, "type": ""},
        {"email": 42, "type": "objection"},
        {"email": [ADA], "type": "objection"},
        {"email": ADA, "type": ["objection"]},
        {"email": ADA, "type": "objection", "details": {"x": 1}},
        {"email": "a" * 250 + "@example.org", "type": "objection"},
        [ADA, "objection"],
        None,
    ],
)
def test_bad_input_is_refused_with_422_and_creates_nothing(
    client: TestClient, container: Container, body: Any
) -> None:
    sign_up_ada(client)
    before = counts(container)
    with container.uow(write=False) as uow:  # the sign-up counted itself (per address)
        throttled = uow.session.scalar(select(func.count()).select_from(LoginFailure))
    r = client.post(ASK, json=body)
    assert r.status_code == 422, r.text
    assert ADA not in r.text
    assert counts(container) == before
    with container.uow(write=False) as uow:
        assert uow.session.scalar(select(func.count()).select_from(LoginFailure)) == throttled


def test_a_form_encoded_body_is_refused_as_the_wrong_media_type(
    client: TestClient, container: Container
) -> None:
    r = client.post(
        ASK,
        content=f"email={ADA}&type=objection",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert counts(container)["rights_requests"] == 0


# --- throttling ---------------------------------------------------------------------------


def client_from(container: Container, ip: str) -> TestClient:
    return TestClient(create_app(container, worker=False), client=(ip, 50000))


def test_asking_too_often_for_one_address_is_throttled_from_any_ip(container: Container) -> None:
    limit = container.settings.login_max_failures
    for i in range(limit):
        with client_from(container, f"192.0.2.{i + 1}") as tc:
            assert ask(tc, NOBODY).status_code == 202
    with client_from(container, "198.51.100.7") as tc:
        refused = ask(tc, NOBODY.upper())
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert ask(tc, ADA).status_code == 202  # another address from a fresh IP still goes


def test_asking_too_often_from_one_ip_is_throttled_for_any_address(
    container: Container, clock: ManualClock
) -> None:
    limit = container.settings.login_max_failures
    with client_from(container, "192.0.2.9") as tc:
        for i in range(limit):
            assert ask(tc, f"person{i}@example.org").status_code == 202
        assert ask(tc, "someone.else@example.org").status_code == 429
        clock.advance(seconds=container.settings.login_window_s + 1)
        assert ask(tc, "someone.else@example.org").status_code == 202


# Requests staff record on someone's behalf: tests/staff/test_officer_record.py.
