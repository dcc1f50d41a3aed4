"""Outbox delivery through a real SMTP server on loopback, and into the outbox folder."""

from __future__ import annotations

import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from minimaker.adapters import mailers as mail
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.bootstrap import build
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError, KeyUnavailable, NotFound
from minimaker.mail import outbox
from minimaker.mail.folder import FolderSealer, folder_mailer
from minimaker.mail.tables import OutboxMessage
from minimaker.settings import Settings
from tests.mailserver import Mailbox, free_port, smtp_server
from tests.scan import find_in_bytes, needles_for, scan_database, scan_files

TO = "bob.recipient@example.org"
BODY = "Dear Bob Recipient, your request 4711 is done."
SUBJECT_ID = uuid.uuid4().hex


@contextmanager
def with_smtp(settings: Settings, clock: ManualClock, url: str) -> Iterator[Container]:
    """A container of its own whose mail goes to `url`."""
    c = build(settings.model_copy(update={"smtp_url": url}), clock=clock)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def smtp_c(settings: Settings, clock: ManualClock, mailbox: Mailbox) -> Iterator[Container]:
    """A container whose mail goes to the loopback SMTP server."""
    with with_smtp(settings, clock, f"smtp://127.0.0.1:{mailbox.port}") as c:
        yield c


def queue(c: Container, *, to: str = TO, body: str = BODY, kind: str = "test_note") -> str:
    with c.uow() as uow:
        message_id = outbox.queue_message(
            uow, subject_id=SUBJECT_ID, to=to, kind=kind, subject="Your request", body=body
        )
        uow.commit()
    return message_id


def row_of(c: Container, message_id: str) -> OutboxMessage:
    with c.uow(write=False) as uow:
        row = uow.session.get(OutboxMessage, message_id)
        assert row is not None
        uow.session.expunge(row)  # keeps its loaded values past the unit's rollback
        return row


def audit_of(c: Container, action: str) -> list[AuditEntry]:
    with c.uow(write=False) as uow:
        entries = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        uow.session.expunge_all()
        return entries


# --- delivery by SMTP ---------------------------------------------------------------------


def test_delivers_a_message_with_its_recipient_sender_subject_and_body(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    message_id = queue(smtp_c)
    assert outbox.deliver_pending(smtp_c) == 1
    [got] = mailbox.received
    assert got.rcpt_tos == [TO]
    assert got.mail_from == smtp_c.settings.mail_from
    assert got.message["To"] == TO
    assert got.message["From"] == smtp_c.settings.mail_from
    assert got.message["Subject"] == "Your request"
    assert got.message["Message-ID"] == f"<{message_id}@minimaker.ai>"
    assert got.body.strip() == BODY


def test_a_sent_message_keeps_only_its_id_kind_subject_and_times(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    message_id = queue(smtp_c)
    outbox.deliver_pending(smtp_c)
    row = row_of(smtp_c, message_id)
    assert (row.status, row.sealed, row.wrapped_key, row.last_error) == ("sent", None, None, None)
    assert row.sent_at == smtp_c.clock.now()
    assert (row.kind, row.subject_id, row.attempts) == ("test_note", SUBJECT_ID, 1)
    [entry] = audit_of(smtp_c, "mail:message:sent")
    assert (entry.actor, entry.subject, entry.purpose) == ("system:mail", SUBJECT_ID, "service")
    assert entry.object == f"message:{message_id}:test_note"


def test_a_sent_message_is_not_sent_again(smtp_c: Container, mailbox: Mailbox) -> None:
    queue(smtp_c)
    assert outbox.deliver_pending(smtp_c) == 1
    smtp_c.clock.advance(days=1)  # type: ignore[attr-defined]
    assert outbox.deliver_pending(smtp_c) == 0
    assert len(mailbox.received) == 1


def test_the_database_holds_no_plaintext_of_a_message_before_or_after_delivery(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    needles = needles_for(TO, "Bob Recipient", "request 4711")
    queue(smtp_c)
    assert scan_database(smtp_c.engine, needles, set()) == {}
    outbox.deliver_pending(smtp_c)
    assert mailbox.received
    assert scan_database(smtp_c.engine, needles, set()) == {}


def test_every_worker_tick_delivers_through_the_registered_duty(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    queue(smtp_c)
    assert smtp_c.registries.duties["deliver_outbox"] is outbox.deliver_pending
    assert smtp_c.registries.run_duties(smtp_c)["deliver_outbox"] == 1
    assert len(mailbox.received) == 1


def test_many_workers_deliver_each_message_exactly_once(
    settings: Settings, clock: ManualClock, mailbox: Mailbox
) -> None:
    url = f"smtp://127.0.0.1:{mailbox.port}"
    workers = [build(settings.model_copy(update={"smtp_url": url}), clock=clock) for _ in range(3)]
    try:
        ids = {queue(workers[0]) for _ in range(12)}
        counts: list[int] = []
        threads = [
            threading.Thread(target=lambda w=w: counts.append(outbox.deliver_pending(w)))
            for w in workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for w in workers:
            w.close()
    assert sum(counts) == 12
    got = sorted(r.message["Message-ID"] for r in mailbox.received)
    assert got == sorted(f"<{i}@minimaker.ai>" for i in ids)


def test_a_message_whose_worker_died_mid_send_goes_out_after_its_lease(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    message_id = queue(smtp_c)
    now = smtp_c.clock.now()
    with smtp_c.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status="sending", attempts=1, next_attempt_at=now + outbox.SEND_LEASE)
        )
    assert outbox.deliver_pending(smtp_c) == 0
    smtp_c.clock.advance(seconds=outbox.SEND_LEASE.total_seconds() + 1)  # type: ignore[attr-defined]
    assert outbox.deliver_pending(smtp_c) == 1
    assert row_of(smtp_c, message_id).attempts == 2
    assert len(mailbox.received) == 1


def test_messages_go_out_oldest_first(smtp_c: Container, mailbox: Mailbox) -> None:
    ids = []
    for _ in range(3):
        ids.append(queue(smtp_c))
        smtp_c.clock.advance(seconds=1)  # type: ignore[attr-defined]
    for _ in ids:
        assert outbox.deliver_pending(smtp_c, limit=1) == 1
    assert [r.message["Message-ID"] for r in mailbox.received] == [
        f"<{i}@minimaker.ai>" for i in ids
    ]


# --- failures -----------------------------------------------------------------------------


def deliver_until_final(c: Container, message_id: str) -> list[OutboxMessage]:
    """Deliver, wait out each backoff, until the message leaves pending; the rows seen."""
    seen = []
    for _ in range(outbox.MAX_ATTEMPTS + 1):
        outbox.deliver_pending(c)
        row = row_of(c, message_id)
        seen.append(row)
        if row.status != "pending":
            break
        assert outbox.deliver_pending(c) == 0, "retried before its backoff ran out"
        assert row_of(c, message_id).attempts == row.attempts
        c.clock.advance(seconds=outbox.retry_delay(row.attempts).total_seconds())  # type: ignore[attr-defined]
    return seen


def test_a_refusing_server_is_retried_with_backoff_then_failed_without_the_address(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    mailbox.refuse_rcpt = f"451 4.3.0 Mailbox {TO} busy, try again later"
    message_id = queue(smtp_c)
    seen = deliver_until_final(smtp_c, message_id)
    assert [r.status for r in seen] == ["pending"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]
    final = seen[-1]
    assert final.attempts == outbox.MAX_ATTEMPTS
    assert final.last_error == "SMTPRecipientsRefused 451"
    assert (final.sealed, final.wrapped_key) == (None, None)
    [entry] = audit_of(smtp_c, "mail:message:failed")
    assert entry.object == f"message:{message_id}:test_note"
    assert mailbox.received == []


def test_a_message_refused_for_good_is_failed_at_once(smtp_c: Container, mailbox: Mailbox) -> None:
    mailbox.refuse_data = f"554 5.7.1 Message for {TO} refused"
    message_id = queue(smtp_c)
    outbox.deliver_pending(smtp_c)
    row = row_of(smtp_c, message_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "SMTPDataError 554")


def test_a_closed_port_is_retried_then_failed(
    settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with with_smtp(settings, clock, f"smtp://127.0.0.1:{free_port()}") as c:
        message_id = queue(c)
        seen = deliver_until_final(c, message_id)
        assert [r.last_error for r in seen] == ["ConnectionRefusedError"] * outbox.MAX_ATTEMPTS
        assert seen[-1].status == "failed"
    assert TO not in caplog.text
    assert "ConnectionRefusedError" in caplog.text


def test_a_message_that_no_longer_opens_is_failed_at_once(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    message_id = queue(smtp_c)
    with smtp_c.engine.begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(wrapped_key=b"\x01" + bytes(60))
        )
    assert outbox.deliver_pending(smtp_c) == 0
    row = row_of(smtp_c, message_id)
    assert (row.status, row.last_error, row.sealed) == ("failed", "KeyUnavailable", None)


def test_smtp_login_uses_the_user_and_password_from_the_url(
    settings: Settings, clock: ManualClock
) -> None:
    with smtp_server(offer_login=True) as box:
        url = f"smtp://mailer:s%40cret%3A1@127.0.0.1:{box.port}"
        with with_smtp(settings, clock, url) as c:
            queue(c)
            assert outbox.deliver_pending(c) == 1
    assert box.logins == [("mailer", "s@cret:1")]
    assert len(box.received) == 1


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.org", ("relay.example.org", 25, "plain", None, None)),
        ("smtp://u:p@relay.example.org:2525", ("relay.example.org", 2525, "plain", "u", "p")),
        ("smtp://relay.example.org:587?starttls=1", ("relay.example.org", 587, "starttls")),
        ("smtps://relay.example.org", ("relay.example.org", 465, "tls")),
    ],
)
def test_smtp_urls_name_host_port_security_and_login(url: str, expected: tuple) -> None:  # type: ignore[type-arg]
    server = mail.SmtpServer.from_url(url)
    got = (server.host, server.port, server.security, server.username, server.password)
    assert got[: len(expected)] == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://u:hunter2@relay.example.org",
        "smtp://u:hunter2@",
        "smtps://u:hunter2@relay.example.org?starttls=1",
        "smtp://u:hunter2@relay.example.org?verify=0",
        "smtp://u:hunter2@relay.example.org:notaport",
    ],
)
def test_a_bad_smtp_url_is_a_configuration_error_that_does_not_show_the_password(
    url: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        mail.SmtpServer.from_url(url)
    assert "hunter2" not in str(caught.value)


def test_mail_goes_by_smtp_when_a_url_is_set_and_into_the_folder_otherwise(
    settings: Settings, container: Container
) -> None:
    sealer = FolderSealer(container)
    assert isinstance(mail.mailer_for(settings, sealer=sealer), mail.OutboxDirMailer)
    smtp = settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:25"})
    assert isinstance(mail.mailer_for(smtp, sealer=sealer), mail.SmtpMailer)


# --- the outbox folder --------------------------------------------------------------------


def test_without_smtp_each_message_becomes_a_sealed_0600_file_named_by_its_id(
    container: Container,
) -> None:
    message_id = queue(container)
    assert outbox.deliver_pending(container) == 1
    folder = container.settings.outbox_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [path] = list(folder.iterdir())
    assert path.name == f"{message_id}.mail"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Policy 5.1: no plaintext at rest, in any form the address or text could be stored in.
    assert find_in_bytes(path.read_bytes(), needles_for(TO, "Bob Recipient", BODY), set()) == []
    text = folder_mailer(container).read(message_id)
    assert f"To: {TO}" in text
    assert BODY in text
    row = row_of(container, message_id)
    assert (row.status, row.sealed) == ("sent", None)


def subject_with_key(c: Container) -> str:
    subject_id = uuid.uuid4().hex
    c.keys.create_subject_key(subject_id, now=c.clock.now())
    return subject_id


def test_a_subjects_file_is_sealed_under_their_key_and_no_longer_opens_once_it_is_destroyed(
    container: Container,
) -> None:
    c = container
    subject_id = subject_with_key(c)
    with c.uow() as uow:
        message_id = outbox.queue_message(
            uow, subject_id=subject_id, to=TO, kind="test_note", subject="s", body=BODY
        )
        uow.commit()
    outbox.deliver_pending(c)
    path = c.settings.outbox_dir / f"{message_id}.mail"
    assert path.read_bytes().startswith(b"minimaker-sealed-mail/1 subject\n")
    assert BODY in folder_mailer(c).read(message_id)
    c.keys.destroy_subject_key(subject_id, now=c.clock.now())
    with pytest.raises(KeyUnavailable):
        folder_mailer(c).read(message_id)


def test_a_file_without_a_subject_key_is_sealed_under_the_folder_key(
    container: Container,
) -> None:
    message_id = queue(container)  # its subject has no key (as after an erasure)
    outbox.deliver_pending(container)
    path = container.settings.outbox_dir / f"{message_id}.mail"
    assert path.read_bytes().startswith(b"minimaker-sealed-mail/1 folder\n")
    assert BODY in folder_mailer(container).read(message_id)


def test_a_file_moved_to_another_messages_name_or_edited_does_not_open(
    container: Container,
) -> None:
    first, second = queue(container), queue(container)
    outbox.deliver_pending(container)
    folder = container.settings.outbox_dir
    (folder / f"{second}.mail").write_bytes((folder / f"{first}.mail").read_bytes())
    with pytest.raises(KeyUnavailable):
        folder_mailer(container).read(second)
    raw = bytearray((folder / f"{first}.mail").read_bytes())
    raw[-1] ^= 1
    (folder / f"{first}.mail").write_bytes(bytes(raw))
    with pytest.raises(KeyUnavailable):
        folder_mailer(container).read(first)
    (folder / f"{first}.mail").write_bytes(b"To: someone\n\nnot sealed")
    with pytest.raises(KeyUnavailable):
        folder_mailer(container).read(first)


def test_the_folder_mailer_lists_and_reads_its_files_and_refuses_other_names(
    container: Container,
) -> None:
    ids = [queue(container), queue(container)]
    outbox.deliver_pending(container)
    folder = folder_mailer(container)
    assert sorted(f.message_id for f in folder.waiting()) == sorted(ids)
    assert BODY in folder.read(ids[0])
    for name in ("../minimaker.db", "x" * 32, ids[0] + "\n", uuid.uuid4().hex):
        with pytest.raises(NotFound):
            folder.read(name)


def test_plaintext_files_of_an_earlier_version_are_sealed_when_the_folder_is_listed(
    container: Container,
) -> None:
    folder = container.settings.outbox_dir
    folder.mkdir(mode=0o700)
    legacy = uuid.uuid4().hex
    (folder / f"{legacy}.eml").write_text(f"To: {TO}\n\n{BODY}\n")
    seen = outbox.overview(container)
    assert seen.sealed_legacy == 1
    assert [f.message_id for f in seen.files] == [legacy]
    assert [p.name for p in folder.iterdir()] == [f"{legacy}.mail"]
    assert scan_files(folder, needles_for(TO, BODY), set()) == {}
    assert BODY in folder_mailer(container).read(legacy)


def test_listing_shows_status_and_attempts_but_never_content(
    smtp_c: Container, mailbox: Mailbox
) -> None:
    sent = queue(smtp_c)
    outbox.deliver_pending(smtp_c)
    mailbox.refuse_rcpt = "451 4.3.0 later"
    waiting = queue(smtp_c)
    outbox.deliver_pending(smtp_c)
    listed = {m.id: m for m in outbox.list_messages(smtp_c)}
    assert listed[sent].status == "sent" and listed[sent].sent_at is not None
    assert listed[waiting].status == "pending" and listed[waiting].attempts == 1
    assert listed[waiting].next_attempt_at == smtp_c.clock.now() + outbox.retry_delay(1)
    assert listed[waiting].last_error == "SMTPRecipientsRefused 451"
    assert TO not in repr(listed) and BODY not in repr(listed)
