"""The SMTP relay is a processor: mail handed to it is a disclosure, and start-up refuses a
relay the policy does not name under a valid DPA in the EU (or with a safeguard)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from minimaker.bootstrap import build
from minimaker.entrypoints.cli import app as cli_app
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.mail import outbox
from minimaker.policy.model import Dpa
from minimaker.rights import restriction
from minimaker.settings import Settings
from minimaker.sharing import relay
from tests.mailserver import Mailbox, delivering_to
from tests.sharing.archive import archive_recipients, disclosures, subject
from tests.sharing.processors import US_BARE, policy_with, processor


@pytest.fixture
def smtp_c(settings: Settings, clock: ManualClock, mailbox: Mailbox) -> Iterator[Container]:
    c = build(delivering_to(mailbox, settings), clock=clock)
    try:
        yield c
    finally:
        c.close()


def _mail(c: Container, subject_id: str) -> None:
    with c.uow() as uow:
        outbox.queue_to_subject(uow, subject_id=subject_id, kind="note", subject="Hi", body="B")
        uow.commit()


def test_mail_through_the_relay_is_a_disclosure_in_the_subjects_archive(
    smtp_c: Container, mailbox: Mailbox, clock: ManualClock
) -> None:
    ada = subject(smtp_c)
    _mail(smtp_c, ada)
    assert outbox.deliver_pending(smtp_c) == 1 and len(mailbox.received) == 1
    assert disclosures(smtp_c) == [(ada, "smtp-relay", "account,message", "service")]
    told = archive_recipients(smtp_c, Worker(smtp_c), ada)
    assert told["smtp-relay"]["categories"] == ["account", "message"]


def test_mail_to_a_restricted_subject_about_their_request_still_goes(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    ada = subject(smtp_c)
    restriction.set_restriction(smtp_c, user_id=ada, restricted=True)
    _mail(smtp_c, ada)
    assert outbox.deliver_pending(smtp_c) >= 1 and mailbox.received
    assert (ada, "smtp-relay", "account,message", "service") in disclosures(smtp_c)


def test_a_relay_whose_dpa_expired_sends_nothing_and_the_mail_waits(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    ada = subject(smtp_c)
    _mail(smtp_c, ada)
    old = Dpa(reference="OLD", signed="2024-01-01", expires="2025-01-01")
    expired = processor(categories=("account", "message"), dpa=old, keeps_copies=False)
    with policy_with(smtp_c, {"smtp-relay": expired}):
        assert outbox.deliver_pending(smtp_c) == 0
    assert mailbox.received == [] and disclosures(smtp_c) == []
    (row,) = outbox.list_messages(smtp_c)
    assert row.status == "pending" and row.last_error == "sharing refused: share_refused"


def test_mail_for_no_account_is_delivered_and_audited_but_logs_no_row(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    with smtp_c.uow() as uow:
        outbox.queue_message(
            uow, subject_id="f" * 32, to="gone@example.org", kind="n", subject="s", body="b"
        )
        uow.commit()
    assert outbox.deliver_pending(smtp_c) == 1
    assert disclosures(smtp_c) == []  # an erased subject gets no row back (Art. 17)


def test_the_relay_keeps_no_copy_so_it_is_listed_but_sent_no_art19_notice(
    container: Container,
) -> None:
    assert container.policy.processors["smtp-relay"].keeps_copies is False


@pytest.mark.parametrize("case", ["missing", "expired", "outside_eu"])
def test_start_up_refuses_smtp_without_a_lawful_relay_entry(smtp_c: Container, case: str) -> None:
    entries, regions = {}, {}
    if case == "missing":
        smtp_c.settings = smtp_c.settings.model_copy(update={"smtp_processor": "no-relay"})
    elif case == "expired":
        old = Dpa(reference="OLD", signed="2024-01-01", expires="2025-01-01")
        entries = {"smtp-relay": processor(categories=("account", "message"), dpa=old)}
    else:
        entries = {"smtp-relay": processor(categories=("account", "message"), region="us")}
        regions = {"us": US_BARE}
    with policy_with(smtp_c, entries, regions), pytest.raises(ConfigurationError):
        relay.check_relay(smtp_c)


def test_without_smtp_there_is_no_relay_to_check(container: Container) -> None:
    container.settings = container.settings.model_copy(update={"smtp_processor": "no-relay"})
    assert relay.relay_problem(container) is None


def test_a_standalone_worker_refuses_to_start_without_a_lawful_relay_entry(
    smtp_c: Container, mailbox: Mailbox, master_key: str
) -> None:
    s = smtp_c.settings
    env = {
        "MINIMAKER_DATA_DIR": str(s.data_dir),
        "MINIMAKER_DATABASE_URL": s.resolved_database_url(),
        "MINIMAKER_KEYSTORE_URL": s.resolved_keystore_url(),
        "MINIMAKER_MASTER_KEY": master_key,
        "MINIMAKER_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "MINIMAKER_SMTP_PROCESSOR": "no-relay",
    }
    subject_id = subject(smtp_c)
    _mail(smtp_c, subject_id)
    done = CliRunner().invoke(cli_app, ["worker", "--once"], env=env)
    assert isinstance(done.exception, ConfigurationError), done.output
    assert "no-relay" in str(done.exception)
    assert mailbox.received == []  # nothing was handed to the relay
    assert disclosures(smtp_c) == []
