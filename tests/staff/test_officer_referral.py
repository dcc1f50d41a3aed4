"""A request that cannot be fulfilled automatically goes to the officer, visibly (issue 8, 1).

A rectification without fields fails its job for good; the console shows it with the reason,
apart and with a badge, and the officer completes it (stating what was done) or refuses it,
from the page and the API; the subject is told through a real SMTP server on loopback.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.rights import export, intake
from minimaker.rights.tables import RightsRequest
from minimaker.settings import Settings
from tests.browser import csrf_on
from tests.mailserver import Mailbox, delivering_to
from tests.staff.test_api import PASSWORD, sign_in
from tests.staff.test_pages import staff_signed_in
from tests.staff.test_service import make_staff

REASON = "name, email or username to correct is required"
DONE = "Your privacy request is done"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings)


def failed_rectification(c: Container, worker: Worker, username: str = "ada") -> str:
    """A rectification that names nothing to correct, run until its job failed for good."""
    profile = accounts.signup(
        c, name="Ada Lovelace", email=f"{username}@example.org", username=username,
        password=PASSWORD,
    )  # fmt: skip
    read = intake.submit(c, user_id=profile.id, type="rectification", details=None)
    worker.run_until_idle()
    return read.id


def mail_to(mailbox: Mailbox, address: str, subject: str) -> list[str]:
    return [
        m.body
        for m in mailbox.received
        if address in m.rcpt_tos and m.message["Subject"] == subject
    ]


def test_a_failed_rectification_is_shown_to_the_officer_with_its_reason(
    client: TestClient, container: Container, worker: Worker
) -> None:
    request_id = failed_rectification(container, worker)
    with container.sessions() as session:
        assert session.scalar(select(Job.status).where(Job.kind == "fulfil_request")) == "failed"
    staff_signed_in(client, container)
    queue = client.get("/admin").text
    assert "1 request needs the privacy officer." in queue
    assert "needs officer" in queue and request_id[:8] in queue
    only = client.get("/admin?view=officer").text
    assert request_id[:8] in only and 'aria-current="page">Needs the officer' in only
    page = client.get(f"/admin/requests/{request_id}").text
    assert "Needs the privacy officer:" in page and REASON in page
    assert f'action="/admin/requests/{request_id}/complete"' in page
    assert f'action="/admin/requests/{request_id}/reject"' in page
    dpo = sign_in(client, "dpo-staff")
    listed = client.get("/api/v1/admin/requests?needs_officer=true", headers=dpo).json()
    assert [(x["id"], x["needs_officer"]) for x in listed] == [(request_id, True)]
    assert REASON in listed[0]["attention_reason"]
    with container.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "staff:request:referred" in actions


def test_the_officer_completes_it_from_the_page_and_the_subject_is_told_what_was_done(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    request_id = failed_rectification(container, worker)
    staff_signed_in(client, container)
    url = f"/admin/requests/{request_id}"
    token = csrf_on(client.get(url).text)
    short = client.post(f"{url}/complete", data={"csrf": token, "statement": "done"})
    assert short.status_code == 422 and "10+ characters" in short.text
    said = "We corrected the surname after your letter of 1 December."
    r = client.post(f"{url}/complete", data={"csrf": token, "statement": said},
                    follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, f"{url}?done=completed")
    after = client.get(r.headers["location"]).text
    assert "completed by hand" in after and "Needs the privacy officer:" not in after
    assert "1 request needs" not in client.get("/admin").text
    worker.run_until_idle()
    bodies = mail_to(mailbox, "ada@example.org", DONE)
    assert len(bodies) == 1 and said in bodies[0] and request_id in bodies[0]
    with container.sessions() as session:
        row = session.get(RightsRequest, request_id)
        assert row is not None and row.status == "completed" and row.completed_at is not None
        assert row.resolution_enc is not None and said.encode() not in row.resolution_enc
        entries = list(session.scalars(select(AuditEntry)))
    assert "staff:request:completed" in [e.action for e in entries]
    assert all(said not in str(vars(e)) for e in entries)


def test_the_officer_completes_or_refuses_it_over_the_api_and_support_may_not(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    first = failed_rectification(container, worker, "ada")
    second = failed_rectification(container, worker, "bob")
    make_staff(container, "dora", "dpo")
    make_staff(container, "sam", "support")
    dpo, support = sign_in(client, "dora"), sign_in(client, "sam")
    body = {"statement": "Corrected the name as the letter asked."}
    denied = client.post(f"/api/v1/admin/requests/{first}/complete", json=body, headers=support)
    assert denied.status_code == 403
    bad = client.post(f"/api/v1/admin/requests/{first}/complete", json={}, headers=dpo)
    assert bad.status_code == 422
    done = client.post(f"/api/v1/admin/requests/{first}/complete", json=body, headers=dpo)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["needs_officer"]) == ("completed", False)
    again = client.post(f"/api/v1/admin/requests/{first}/complete", json=body, headers=dpo)
    assert again.status_code == 409
    why = {"reason": "The letter did not say what to correct."}
    refused = client.post(f"/api/v1/admin/requests/{second}/reject", json=why, headers=dpo)
    assert refused.status_code == 200 and refused.json()["status"] == "rejected"
    worker.run_until_idle()
    assert len(mail_to(mailbox, "ada@example.org", DONE)) == 1
    told = mail_to(mailbox, "bob@example.org", "Your privacy request was refused")
    assert len(told) == 1 and why["reason"] in told[0]


def test_only_a_request_waiting_for_the_officer_is_completed_by_hand(
    client: TestClient, container: Container, worker: Worker
) -> None:
    profile = accounts.signup(
        container, name="Ada Lovelace", email="ada@example.org", username="ada",
        password=PASSWORD,
    )  # fmt: skip
    # Verified and queued, not failed: completing it by hand would skip the archive.
    read = intake.submit(container, user_id=profile.id, type="access")
    make_staff(container, "dora", "dpo")
    dpo = sign_in(client, "dora")
    body = {"statement": "Sent the archive by post."}
    r = client.post(f"/api/v1/admin/requests/{read.id}/complete", json=body, headers=dpo)
    assert r.status_code == 409
    missing = client.post(f"/api/v1/admin/requests/{'0' * 32}/complete", json=body, headers=dpo)
    assert missing.status_code == 404


def test_the_officers_statement_is_in_the_subjects_access_archive(
    client: TestClient, container: Container, worker: Worker
) -> None:
    # Art. 15(1): what the officer recorded about the subject's request is theirs to see.
    request_id = failed_rectification(container, worker)
    make_staff(container, "dora", "dpo")
    said = "We corrected the surname after your letter of 1 December."
    r = client.post(
        f"/api/v1/admin/requests/{request_id}/complete",
        json={"statement": said},
        headers=sign_in(client, "dora"),
    )
    assert r.status_code == 200, r.text
    with container.uow(write=False) as uow:
        row = uow.session.get(RightsRequest, request_id)
        assert row is not None
        exported = {e["id"]: e for e in export.requests(uow, row.subject_id).data}
    assert exported[request_id]["resolution"] == said
    assert exported[request_id]["identity_evidence"] is None  # nobody vouched: the link did
