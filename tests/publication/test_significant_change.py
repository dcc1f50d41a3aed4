"""Policy 12 end to end: a significant change reaches every user through a real SMTP server
and is acknowledged at their next sign-in; a minor change mails nobody and asks nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.publication import notify, service
from minimaker.publication.tables import PolicyAcknowledgement
from minimaker.rights import intake
from tests.browser import PASSWORD, api_headers, form_token, log_in, sign_up
from tests.mailserver import Mailbox
from tests.publication.conftest import NEW_CLAUSE, Reissue, browser_for

USERS = ("ada", "grace", "alan")
NEW = "2026-03-01"
SUBJECT = "Our data protection policy has changed"


def sign_up_everyone(client: TestClient) -> None:
    for name in USERS:
        assert sign_up(client, username=name).status_code == 303


def policy_mail(mailbox: Mailbox) -> dict[str, str]:
    """Recipient -> body of every policy notice the SMTP server received."""
    return {
        to: m.body for m in mailbox.received if m.message["Subject"] == SUBJECT for to in m.rcpt_tos
    }


def queued(c: Container, kind: str = notify.KIND) -> int:
    with c.uow(write=False) as uow:
        return int(
            uow.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == kind)
            )
            or 0
        )


def test_a_significant_change_reaches_every_user_by_smtp_and_is_acknowledged_at_next_sign_in(
    client: TestClient, published: Container, reissue: Reissue, mailbox: Mailbox
) -> None:
    sign_up_everyone(client)
    c2 = reissue(version=NEW, significant=True, changes="Section 12.1 added: notice by email.")
    assert service.publish_if_new(c2).new

    Worker(c2).run_until_idle()  # the notify duty, then the outbox's real delivery duty

    told = policy_mail(mailbox)
    assert sorted(told) == sorted(f"{name}@example.org" for name in USERS)
    for body in told.values():
        assert NEW in body and "Section 12.1 added" in body
        assert "/privacy-policy" in body
        assert "Ada" not in body  # the notice names nobody
    with browser_for(c2) as browser:
        assert log_in(browser, "ada").status_code == 303
        step = browser.get("/app", follow_redirects=False)
        assert (step.status_code, step.headers["location"]) == (303, "/privacy-policy/acknowledge")
        page = browser.get("/privacy-policy/acknowledge")
        assert "Section 12.1 added: notice by email." in page.text
        headers = api_headers(browser, "ada")
        flag = browser.get("/api/v1/privacy/policy", headers=headers).json()["acknowledgement"]
        assert flag == {"required": True, "acknowledged_at": None}

        done = browser.post(
            "/privacy-policy/acknowledge",
            data={"csrf": form_token(browser, "/privacy-policy/acknowledge"), "version": NEW},
            follow_redirects=False,
        )

        assert (done.status_code, done.headers["location"]) == (303, "/app")
        assert browser.get("/app", follow_redirects=False).status_code == 200
        flag = browser.get("/api/v1/privacy/policy", headers=headers).json()["acknowledgement"]
        assert flag["required"] is False and flag["acknowledged_at"] is not None
    # Grace has not signed in since: still asked.
    with browser_for(c2) as browser:
        assert log_in(browser, "grace").status_code == 303
        assert browser.get("/app", follow_redirects=False).status_code == 303


def test_the_api_acknowledgement_settles_it_for_the_pages_too(
    client: TestClient, published: Container, reissue: Reissue
) -> None:
    sign_up_everyone(client)
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    Worker(c2).run_until_idle()
    with browser_for(c2) as browser:
        headers = api_headers(browser, "alan")
        r = browser.post(
            "/api/v1/privacy/policy/acknowledgements", json={"version": NEW}, headers=headers
        )
        assert r.status_code == 201, r.text
        again = browser.post(
            "/api/v1/privacy/policy/acknowledgements", json={"version": NEW}, headers=headers
        )
        assert again.json()["acknowledged_at"] == r.json()["acknowledged_at"]  # the first stands
        assert log_in(browser, "alan").status_code == 303
        assert browser.get("/app", follow_redirects=False).status_code == 200


def test_the_privacy_centre_stays_open_while_an_acknowledgement_is_owed(
    client: TestClient, published: Container, reissue: Reissue
) -> None:
    sign_up_everyone(client)
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    Worker(c2).run_until_idle()
    with browser_for(c2) as browser:
        assert log_in(browser, "ada").status_code == 303
        # Art. 12(2): seeing, taking away or deleting one's data never waits on a new text.
        assert browser.get("/privacy", follow_redirects=False).status_code == 200
        assert browser.get("/privacy/delete", follow_redirects=False).status_code == 200
        token = form_token(browser, "/privacy")
        r = browser.post(
            "/privacy/requests", data={"csrf": token, "type": "access"}, follow_redirects=False
        )
        assert r.status_code == 303
        assert browser.get("/app", follow_redirects=False).status_code == 303


def test_a_minor_change_mails_nobody_and_asks_nothing(
    client: TestClient, published: Container, reissue: Reissue, mailbox: Mailbox
) -> None:
    sign_up_everyone(client)
    c2 = reissue(version=NEW, significant=False, changes="A typo in section 4 fixed.")
    assert service.publish_if_new(c2).new
    Worker(c2).run_until_idle()

    assert policy_mail(mailbox) == {}
    assert queued(c2) == 0
    with c2.uow(write=False) as uow:
        assert uow.session.scalar(select(func.count()).select_from(PolicyAcknowledgement)) == 0
    with browser_for(c2) as browser:
        assert log_in(browser, "ada").status_code == 303
        assert browser.get("/app", follow_redirects=False).status_code == 200
        state = browser.get("/api/v1/privacy/policy", headers=api_headers(browser, "ada")).json()
        assert state["acknowledgement"] == {"required": False, "acknowledged_at": None}
        assert state["version"] == NEW and state["significant"] is False


def test_users_who_sign_up_after_the_change_are_neither_mailed_nor_asked(
    client: TestClient,
    published: Container,
    reissue: Reissue,
    mailbox: Mailbox,
    clock: ManualClock,
) -> None:
    sign_up_everyone(client)
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    clock.advance(seconds=60)
    with browser_for(c2) as browser:
        assert sign_up(browser, username="edsger").status_code == 303
        Worker(c2).run_until_idle()
        assert "edsger@example.org" not in policy_mail(mailbox)
        assert log_in(browser, "edsger", PASSWORD).status_code == 303
        assert browser.get("/app", follow_redirects=False).status_code == 200


def test_an_erased_user_is_not_mailed(
    client: TestClient, published: Container, reissue: Reissue, mailbox: Mailbox
) -> None:
    sign_up_everyone(client)
    headers = api_headers(client, "grace")
    grace = client.get("/api/v1/me", headers=headers).json()["id"]
    intake.submit(published, user_id=grace, type="erasure")
    Worker(published).run_until_idle()
    c2 = reissue(version=NEW, significant=True, changes="Significant.", text_extra=NEW_CLAUSE)
    service.publish_if_new(c2)
    Worker(c2).run_until_idle()
    assert sorted(policy_mail(mailbox)) == ["ada@example.org", "alan@example.org"]
