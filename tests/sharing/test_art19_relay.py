"""Art. 19 and the relay: a correction or erasure of a subject whose mail went through the SMTP
relay tells every processor that keeps a copy of their data, and not the relay, which keeps
none (policy.yaml: `keeps_copies: false`). The policy is a file of the test's own, naming a
processor that keeps copies, as an operator's policy would."""

from __future__ import annotations

from pathlib import Path

import pytest

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.mail import outbox
from minimaker.rights import events, intake, rectification
from minimaker.settings import Settings
from minimaker.sharing import service as sharing
from tests.mailserver import Mailbox, delivering_to
from tests.policy.files import policy_file
from tests.sharing.archive import audit, disclosures, subject

KEEPER = "print-partner"
KEEPER_CONTACT = "privacy@print-partner.example.org"
#: A processor that keeps what it is sent, added to the shipped policy before the analytics one.
_KEEPER_ENTRY = f"""  {KEEPER}:
    description: Prints the models it is sent, and keeps the files of its orders.
    contact: {KEEPER_CONTACT}
    dpa: {{reference: TEST-PRINT-DPA, signed: "2025-01-01"}}
    purposes: [service]
    categories: [generated_model]
    region: eu-de
    treatment: personal
    keeps_copies: true
"""
_ANCHOR = "  analytics-provider:\n"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox, tmp_path: Path) -> Settings:
    """Mail through the loopback SMTP relay, under a policy naming a processor that keeps copies."""
    path = policy_file(tmp_path / "policy", replace=((_ANCHOR, _KEEPER_ENTRY + _ANCHOR),))
    return delivering_to(mailbox, settings, policy_file=path)


def _mailed_through_the_relay(c: Container, subject_id: str) -> None:
    with c.uow() as uow:
        outbox.queue_to_subject(uow, subject_id=subject_id, kind="note", subject="Hi", body="B")
        uow.commit()
    assert outbox.deliver_pending(c) == 1


def _shared_with_the_keeper(c: Container, subject_id: str) -> None:
    share = sharing.Share(
        KEEPER, Purpose.SERVICE, ("generated_model",), {"model": "m-1"}, subject_id
    )
    sharing.share(c, share, actor=SYSTEM_CLI, send=lambda payload: None)


def _rectify(c: Container, worker: Worker, subject_id: str) -> None:
    rectification.correct(c, user_id=subject_id, name="Ada King")
    worker.run_until_idle()


def _erase(c: Container, worker: Worker, subject_id: str) -> None:
    intake.submit(c, user_id=subject_id, type="erasure")
    worker.run_until_idle()


@pytest.mark.parametrize("what", ["rectification", "erasure"])
def test_the_relay_keeps_no_copy_and_is_not_told_while_a_processor_keeping_one_is(
    container: Container, worker: Worker, mailbox: Mailbox, what: str
) -> None:
    relay_contact = container.policy.processors[container.settings.smtp_processor].contact
    assert container.policy.processors[KEEPER].keeps_copies is True  # the test's own policy
    ada = subject(container)
    _mailed_through_the_relay(container, ada)
    _shared_with_the_keeper(container, ada)
    assert {(d[0], d[1]) for d in disclosures(container)} == {
        (ada, "smtp-relay"),
        (ada, KEEPER),
    }
    mailbox.received.clear()

    {"rectification": _rectify, "erasure": _erase}[what](container, worker, ada)

    notices = [
        m for m in mailbox.received if m.message["Subject"] == f"Data subject request: {what}"
    ]
    assert [m.rcpt_tos for m in notices] == [[KEEPER_CONTACT]]
    assert ada in notices[0].body
    # The relay carried the notice (it is the transport) but was never its addressee.
    assert not any(relay_contact in m.rcpt_tos for m in mailbox.received)
    assert audit(container, str(events.RECIPIENT_NOTIFIED)) == [
        (ada, f"recipient:{KEEPER}:{what}", "service")
    ]
