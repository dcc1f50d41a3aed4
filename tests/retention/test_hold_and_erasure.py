"""A legal hold defers an erasure (Art. 17(3)(b)/(e)): the request waits, held, nothing is
erased and the key lives, the subject is told why by mail (real SMTP on loopback), the
request is never reported overdue; releasing the last hold resumes it and it completes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker import bootstrap
from minimaker.adapters import job_queue as queue
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, ValidationFailed
from minimaker.retention import holds
from minimaker.retention import service as retention
from minimaker.retention.rules import PLAIN_REASON, HoldReason
from minimaker.rights import deadlines, decisions, erasure, restriction
from minimaker.rights.rules import CLOCK_RUNNING, OPEN, InvalidTransition, Status, transition
from minimaker.rights.tables import RightsRequest
from minimaker.settings import Settings
from minimaker.staff.service import StaffIdentity
from tests.mailserver import Mailbox, Received, delivering_to
from tests.retention.world import signup
from tests.rights.test_erasure_api import (
    Person,
    ask_for_erasure,
    assert_intact,
    assert_nothing_readable_left,
    populate,
    rows_naming,
)

HELD_SUBJECT = "We must keep your data for now"
REFERENCE = "CASE-2026/17"
OFFICER = StaffIdentity(id="0" * 32, role="dpo")


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings)


def ada(client: TestClient, worker: Worker) -> Person:
    return populate(
        client, worker, Person("Ada Held Example", "ada.held@example.org", "adaheld", seed=17)
    )


def grace(client: TestClient, worker: Worker) -> Person:
    return populate(
        client, worker, Person("Grace Other Example", "grace.o@example.org", "graceo", seed=19)
    )


def hold(c: Container, subject_id: str, rule: str = "usage_events", **kw: str) -> str:
    found = holds.set_hold(
        c,
        subject_id=subject_id,
        rule=rule,
        reason=kw.get("reason", "litigation"),
        reference=kw.get("reference", REFERENCE),
        actor=SYSTEM_CLI,
    )
    return found.id


def request_of(c: Container, request_id: str) -> RightsRequest:
    with c.uow(write=False) as uow:
        row = uow.session.get(RightsRequest, request_id)
        assert row is not None
        uow.session.expunge(row)
        return row


def mail_to(mailbox: Mailbox, address: str, subject: str) -> list[Received]:
    return [
        m for m in mailbox.received if address in m.rcpt_tos and m.message["Subject"] == subject
    ]


def erasure_audits(c: Container, subject_id: str) -> list[str]:
    with c.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.subject == subject_id, AuditEntry.action.like("subject:erasure:%")
                )
                .order_by(AuditEntry.seq)  # ties of ts, on a manual clock, come in any order
            )
        )


def test_a_held_subjects_erasure_waits_with_everything_kept_and_the_subject_told_why(
    client: TestClient,
    worker: Worker,
    container: Container,
    clock: ManualClock,
    mailbox: Mailbox,
) -> None:
    c, person = container, ada(client, worker)
    had = rows_naming(c.engine, person.id)
    # A hold of ONE rule defers the WHOLE erasure: the key is every datum's (decision 0026).
    hold_id = hold(c, person.id, rule="usage_events")
    request = ask_for_erasure(client, person, "privacy request")
    worker.run_until_idle()

    row = request_of(c, str(request["id"]))
    assert (row.status, row.paused_at is not None) == ("held", True)
    seen = client.get(f"/api/v1/privacy/requests/{row.id}", headers=person.headers).json()
    assert seen["status"] == "held"
    assert c.keys.has_subject_key(person.id)
    assert had | {"legal_holds"} <= rows_naming(c.engine, person.id)  # nothing of theirs went
    assert erasure_audits(c, person.id) == []
    assert_intact(client, person)
    # Art. 18(1): kept for the hold alone, so processing is restricted to storage meanwhile.
    assert restriction.is_restricted(c, user_id=person.id)
    # Told in plain words, the reason's text and never the case reference (Art. 12(4)).
    (told,) = mail_to(mailbox, person.email, HELD_SUBJECT)
    body = " ".join(told.body.split())
    assert PLAIN_REASON[HoldReason.LITIGATION] in body
    assert REFERENCE not in body and "CASE" not in body
    assert "erase everything" in body and "Art. 77" in body
    assert mail_to(mailbox, person.email, "Your MiniMaker data has been erased") == []

    # Months pass: the request is past its due date, yet never reported overdue while held.
    clock.advance(days=62)
    assert row.due_at < clock.now()
    assert deadlines.alert_overdue(c) == 0
    assert decisions.queue(c, OFFICER, overdue=True) == []
    (listed,) = decisions.queue(c, OFFICER)
    assert (listed.id, listed.status, listed.overdue) == (row.id, "held", False)
    worker.run_until_idle()
    assert request_of(c, row.id).status == "held"  # nothing woke it

    holds.release_hold(c, hold_id=hold_id, actor=SYSTEM_CLI)
    resumed = request_of(c, row.id)
    assert resumed.status == "verified" and resumed.paused_at is None
    assert resumed.due_at == row.due_at + timedelta(days=62)  # the time held is not counted
    worker.run_until_idle()
    assert request_of(c, row.id).status == "completed"
    assert_nothing_readable_left(c, person)
    assert erasure_audits(c, person.id) == ["subject:erasure:started", "subject:erasure:completed"]
    assert len(mail_to(mailbox, person.email, "Your MiniMaker data has been erased")) == 1


def test_only_the_release_of_the_last_hold_resumes_the_erasure(
    client: TestClient, worker: Worker, container: Container
) -> None:
    c, person = container, ada(client, worker)
    first = hold(c, person.id, rule="*", reason="regulator", reference="DPA/2026/4")
    second = hold(c, person.id, rule="photos", reason="statutory", reference="TAX-9")
    request = ask_for_erasure(client, person, "delete the account")
    worker.run_until_idle()
    holds.release_hold(c, hold_id=first, actor=SYSTEM_CLI)
    assert request_of(c, str(request["id"])).status == "held"  # not queued again at all
    worker.run_until_idle()
    assert request_of(c, str(request["id"])).status == "held"
    assert c.keys.has_subject_key(person.id)
    assert_intact(client, person)
    holds.release_hold(c, hold_id=second, actor=SYSTEM_CLI)
    worker.run_until_idle()
    assert request_of(c, str(request["id"])).status == "completed"
    assert_nothing_readable_left(c, person)


def test_a_hold_on_another_subject_changes_nothing_for_this_one(
    client: TestClient, worker: Worker, container: Container, mailbox: Mailbox
) -> None:
    c = container
    held_one, asker = grace(client, worker), ada(client, worker)
    hold(c, held_one.id, rule="*")
    request = ask_for_erasure(client, asker, "privacy request")
    worker.run_until_idle()
    assert request_of(c, str(request["id"])).status == "completed"
    assert_nothing_readable_left(c, asker)
    assert mail_to(mailbox, asker.email, HELD_SUBJECT) == []
    assert_intact(client, held_one)
    assert not restriction.is_restricted(c, user_id=held_one.id)


def test_a_second_erasure_request_of_a_held_subject_joins_the_waiting_one(
    client: TestClient, worker: Worker, container: Container
) -> None:
    c, person = container, ada(client, worker)
    hold(c, person.id)
    first = ask_for_erasure(client, person, "privacy request")
    worker.run_until_idle()
    again = client.request(
        "DELETE", "/api/v1/me", json={"password": person.password}, headers=person.headers
    )
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["status"]) == (first["id"], "held")
    worker.run_until_idle()
    with c.sessions() as s:
        kinds = s.scalars(select(RightsRequest.status).where(RightsRequest.type == "erasure"))
        assert list(kinds) == ["held"]
    assert c.keys.has_subject_key(person.id)


_RULES = frozenset({"warn_inactive", "erase_inactive"})


def _sweep(c: Container) -> dict[str, int]:
    return dict(retention.counts(retention.run(c, bootstrap.expiries(), rules=_RULES)))


def _inactive_and_warned(c: Container, clock: ManualClock) -> None:
    clock.advance(days=365 * 2 - 25)
    assert _sweep(c)["warn_inactive"] == 1
    clock.advance(days=31)


def test_a_hold_of_every_rule_keeps_an_unused_account_from_being_filed_for_erasure(
    container: Container, clock: ManualClock, worker: Worker
) -> None:
    c = container
    subject = signup(c, "ada")
    hold(c, subject, rule="*")
    clock.advance(days=365 * 2 + 40)
    # The sweep skips a subject held on "*": neither warned nor filed for erasure.
    assert _sweep(c) == {"warn_inactive": 0, "erase_inactive": 0}
    worker.run_until_idle()
    with c.sessions() as s:
        assert (
            s.scalars(select(RightsRequest).where(RightsRequest.subject_id == subject)).all() == []
        )
    assert c.keys.has_subject_key(subject)


def test_an_unused_accounts_erasure_waits_under_a_hold_of_another_rule_then_completes(
    container: Container, clock: ManualClock, worker: Worker, mailbox: Mailbox
) -> None:
    c = container
    subject = signup(c, "ada")
    hold_id = hold(c, subject, rule="usage_events", reason="law_enforcement")
    _inactive_and_warned(c, clock)
    assert _sweep(c)["erase_inactive"] == 1  # filed: the hold is not of this rule...
    worker.run_until_idle()
    with c.sessions() as s:
        row = s.scalars(select(RightsRequest).where(RightsRequest.subject_id == subject)).one()
        assert (row.channel, row.status) == ("retention", "held")  # ...but it defers erasure
    assert c.keys.has_subject_key(subject)
    (told,) = mail_to(mailbox, "ada@example.org", HELD_SUBJECT)
    body = " ".join(told.body.split())
    assert "not been used" in body and PLAIN_REASON[HoldReason.LAW_ENFORCEMENT] in body
    assert _sweep(c)["erase_inactive"] == 0  # filed once, not again while it waits
    holds.release_hold(c, hold_id=hold_id, actor=SYSTEM_CLI)
    worker.run_until_idle()
    assert not c.keys.has_subject_key(subject)
    with c.sessions() as s:
        assert s.scalar(select(RightsRequest.status).where(RightsRequest.id == row.id)) == (
            "completed"
        )
    assert erasure.replay_ledger(c) == 0


def test_a_held_request_leaves_its_state_only_by_release_or_refusal() -> None:
    assert transition(Status.IN_PROGRESS, Status.HELD) is Status.HELD
    assert transition(Status.HELD, Status.VERIFIED) is Status.VERIFIED  # the last hold released
    assert transition(Status.HELD, Status.REJECTED) is Status.REJECTED  # refused outright
    for target in (Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED, Status.RECEIVED):
        with pytest.raises(InvalidTransition):
            transition(Status.HELD, target)  # no completing, nor erasing, past the hold
    assert Status.HELD in OPEN and Status.HELD not in CLOCK_RUNNING


def test_the_officers_resume_or_pause_cannot_wake_a_held_erasure(
    client: TestClient, worker: Worker, container: Container
) -> None:
    c, person = container, ada(client, worker)
    hold(c, person.id)
    request = ask_for_erasure(client, person, "privacy request")
    worker.run_until_idle()
    with pytest.raises(ValidationFailed):
        decisions.resume(c, OFFICER, request_id=str(request["id"]))
    with pytest.raises(Conflict):
        decisions.pause(c, OFFICER, request_id=str(request["id"]), note="Which address?")
    worker.run_until_idle()
    assert request_of(c, str(request["id"])).status == "held"
    assert c.keys.has_subject_key(person.id)


def test_a_stale_fulfilment_job_of_a_held_request_does_nothing(
    client: TestClient, worker: Worker, container: Container
) -> None:
    c, person = container, ada(client, worker)
    hold(c, person.id)
    request = ask_for_erasure(client, person, "privacy request")
    worker.run_until_idle()
    with c.uow() as uow:  # a job queued before the hold, claimed only now
        queue.enqueue(
            uow.session,
            kind="fulfil_request",
            payload={"request_id": str(request["id"])},
            subject_id=person.id,
            now=c.clock.now(),
            max_attempts=1,
        )
        uow.commit()
    worker.run_until_idle()
    assert request_of(c, str(request["id"])).status == "held"
    with c.sessions() as s:
        jobs = s.scalars(select(Job.status).where(Job.kind == "fulfil_request")).all()
    assert set(jobs) == {"done"} and c.keys.has_subject_key(person.id)
