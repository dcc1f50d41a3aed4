"""Staff record requests within their role and with proof (issue 8, item 4), over HTTP.

Support's recordings wait for the subject's confirmation by a link mailed (through a real SMTP
server on loopback) to the address on file; a DPO who records the evidence of identity
verifies at once; erasure and rectification need the DPO; the answer is the same for known
and unknown addresses.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import public_intake
from minimaker.rights.tables import RightsRequest, VerificationToken
from minimaker.settings import Settings
from tests.browser import csrf_on
from tests.mailserver import Mailbox, Received, delivering_to
from tests.staff.test_api import PASSWORD, sign_in
from tests.staff.test_pages import staff_signed_in
from tests.staff.test_service import make_staff

PUBLIC_URL = "https://privacy.example.org"
ADA, NOBODY = "ada@example.org", "nobody.here@example.org"
RECORD = "/api/v1/admin/requests"
EVIDENCE = "Passport seen at the front desk, number checked against the letter."


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings, public_url=PUBLIC_URL)


@pytest.fixture
def ada(container: Container) -> str:
    profile = accounts.signup(
        container, name="Ada Lovelace", email=ADA, username="ada", password=PASSWORD
    )
    return profile.id


@pytest.fixture
def staff(client: TestClient, container: Container) -> dict[str, dict[str, str]]:
    make_staff(container, "dora", "dpo")
    make_staff(container, "sam", "support")
    return {"dpo": sign_in(client, "dora"), "support": sign_in(client, "sam")}


def requests_of(c: Container) -> list[RightsRequest]:
    with c.sessions() as session:
        return list(session.scalars(select(RightsRequest)))


def counts(c: Container) -> dict[str, int]:
    with c.sessions() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in (RightsRequest, VerificationToken, OutboxMessage, Job)
        }


def confirmations(mailbox: Mailbox) -> list[Received]:
    return [m for m in mailbox.received if m.message["Subject"] == "Confirm your privacy request"]


def link_path(message: Received) -> str:
    found = re.search(re.escape(PUBLIC_URL) + r"(/api/v1/privacy/verify/[\w-]+)", message.body)
    assert found, message.body
    return found.group(1)


def record(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(RECORD, json={"email": ADA, "type": "access", **body}, headers=headers)


def test_support_may_not_record_an_erasure_or_a_correction(
    client: TestClient, container: Container, ada: str, staff: dict[str, dict[str, str]]
) -> None:
    for body in ({"type": "erasure"}, {"type": "rectification", "details": {"name": "Ada L"}}):
        r = record(client, staff["support"], **body)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "staff_forbidden"
    assert requests_of(container) == []
    with container.sessions() as session:
        denied = list(session.scalars(select(AuditEntry.object).where(
            AuditEntry.action == "staff:access:denied")))  # fmt: skip
    assert denied == ["request-type:erasure", "request-type:rectification"]


def test_support_records_an_access_request_unverified_and_the_subject_confirms_it(
    client: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    ada: str,
    staff: dict[str, dict[str, str]],
) -> None:
    r = record(client, staff["support"], email="  Ada@Example.org ")
    assert r.status_code == 202, r.text
    [row] = requests_of(container)
    assert (row.status, row.channel, row.subject_id) == ("received", "staff", ada)
    assert row.recorded_by is not None and row.evidence_enc is None
    worker.run_until_idle()
    [message] = confirmations(mailbox)
    assert message.rcpt_tos == [ADA]  # the address on file
    assert client.post(link_path(message)).json()["status"] == "verified"
    worker.run_until_idle()
    assert requests_of(container)[0].status == "completed"


def test_a_dpo_with_the_evidence_of_identity_records_a_verified_erasure(
    client: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    ada: str,
    staff: dict[str, dict[str, str]],
) -> None:
    r = record(client, staff["dpo"], type="erasure", evidence=EVIDENCE)
    assert r.status_code == 202, r.text
    [row] = requests_of(container)
    assert (row.status, row.channel) == ("verified", "staff")
    assert row.evidence_enc is not None and EVIDENCE.encode() not in row.evidence_enc
    view = client.get(f"{RECORD}/{row.id}", headers=staff["dpo"]).json()
    assert view["evidence_recorded"] is True and EVIDENCE not in str(view)
    with container.sessions() as session:
        entries = list(session.scalars(select(AuditEntry)))
    assert all(EVIDENCE not in str(vars(e)) and ADA not in str(vars(e)) for e in entries)
    worker.run_until_idle()
    assert confirmations(mailbox) == []  # no link: the officer vouched for the person
    assert requests_of(container)[0].status == "completed"


def test_support_may_not_vouch_for_an_identity(
    client: TestClient, container: Container, ada: str, staff: dict[str, dict[str, str]]
) -> None:
    r = record(client, staff["support"], evidence=EVIDENCE)
    assert r.status_code == 403
    assert requests_of(container) == []


def test_known_and_unknown_addresses_get_the_same_answer_in_about_the_same_time(
    client: TestClient, container: Container, ada: str, staff: dict[str, dict[str, str]]
) -> None:
    answers, took = [], []
    for email in (ADA, NOBODY, ADA, NOBODY):
        started = time.monotonic()
        r = record(client, staff["support"], email=email)
        took.append(time.monotonic() - started)
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] == answers[2] == answers[3]
    assert answers[0][0] == 202 and set(answers[0][1]) == {"status", "message"}
    assert min(took) >= public_intake.MIN_DURATION_S
    assert len(requests_of(container)) == 2  # only Ada's


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address"},
        {"email": 3},
        {"type": "everything"},
        {"details": ["name"]},
        {"details": {"note": "x" * 5000}},
        {"type": "rectification", "details": {}},
        {"type": "rectification", "details": {"email": "not-an-address"}},
        {"type": "rectification", "details": {"shoe_size": "42"}},
        {"evidence": "short"},
        {"evidence": "x" * 2001},
        {"unknown": "field"},
    ],
)
def test_bad_input_is_refused_the_same_for_any_address_and_writes_nothing(
    client: TestClient,
    container: Container,
    ada: str,
    staff: dict[str, dict[str, str]],
    body: dict[str, Any],
) -> None:
    before = counts(container)
    known = record(client, staff["dpo"], **body)
    unknown = record(client, staff["dpo"], **{"email": NOBODY, **body})
    assert known.status_code == 422, known.text
    if "email" not in body:
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == known.json()["error"]["code"]
    assert counts(container) == before


def test_the_console_form_records_a_request_and_offers_only_what_the_role_may(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox, ada: str
) -> None:
    staff_signed_in(client, container, "support")
    form = client.get("/admin/record").text
    assert '<option value="access"' in form and '<option value="erasure"' not in form
    assert 'name="evidence"' not in form
    token = csrf_on(form)
    r = client.post("/admin/record", data={"csrf": token, "email": ADA, "type": "erasure"})
    assert r.status_code == 403 and "may not record destructive request" in r.text
    data = {"csrf": token, "email": ADA, "type": "objection"}
    r = client.post("/admin/record", data=data, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/record?done=recorded")
    assert (
        "If the address is registered, the request was recorded"
        in client.get(r.headers["location"]).text
    )
    bad = client.post("/admin/record", data={**data, "email": "nope"})
    assert bad.status_code == 422 and 'value="nope"' in bad.text
    [row] = requests_of(container)
    assert (row.type, row.status, row.channel) == ("objection", "received", "staff")
    worker.run_until_idle()
    assert len(confirmations(mailbox)) == 1


def test_a_dpo_records_a_correction_with_evidence_from_the_console(
    client: TestClient, container: Container, worker: Worker, ada: str
) -> None:
    staff_signed_in(client, container, "dpo")
    form = client.get("/admin/record").text
    assert 'name="evidence"' in form and '<option value="rectification"' in form
    data = {"csrf": csrf_on(form), "email": ADA, "type": "rectification",
            "name": "Augusta Ada King", "evidence": EVIDENCE}  # fmt: skip
    r = client.post("/admin/record", data=data, follow_redirects=False)
    assert r.status_code == 303
    worker.run_until_idle()
    assert requests_of(container)[0].status == "completed"
    assert accounts.get_profile(container, user_id=ada).name == "Augusta Ada King"
