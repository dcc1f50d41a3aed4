"""Telling users of a significant version: bounded batches, each user once however many
workers run the duty, nothing personal in the audit."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.publication import notify, service
from minimaker.publication.tables import PolicyAcknowledgement, PolicyVersion
from tests.publication.conftest import Reissue

NEW = "2026-03-01"
NAMES = ("ada", "grace", "alan", "edsger", "barbara")


def sign_up(c: Container, names: tuple[str, ...] = NAMES) -> list[str]:
    return [
        accounts.signup(
            c,
            name=f"{n.title()} Example",
            email=f"{n}@example.org",
            username=n,
            password="long enough pw",
        ).id
        for n in names
    ]


def outbox_to(c: Container) -> list[str | None]:
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(OutboxMessage.subject_id).where(OutboxMessage.kind == notify.KIND)
        )
        return sorted(rows, key=str)


def asked(c: Container) -> list[str]:
    with c.uow(write=False) as uow:
        return sorted(uow.session.scalars(select(PolicyAcknowledgement.subject_id)))


def test_the_duty_is_one_of_every_workers_duties(container: Container) -> None:
    assert container.registries.duties["notify_policy_change"] is notify.notify_users


def test_users_are_told_in_bounded_batches_each_once_and_the_walk_ends(
    published: Container, reissue: Reissue
) -> None:
    ids = sign_up(published)
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)

    told = [notify.notify_users(c2, batch=2, batches=1) for _ in range(4)]

    assert told == [2, 2, 1, 0]
    assert outbox_to(c2) == sorted(ids)
    assert asked(c2) == sorted(ids)
    with c2.uow(write=False) as uow:
        row = uow.session.get(PolicyVersion, NEW)
        assert row is not None and row.notified_at is not None
        assert row.notified_through is None  # no account id kept past the walk
        entries = list(
            uow.session.scalars(
                select(AuditEntry.object).where(AuditEntry.action == "policy:users:notified")
            )
        )
    assert entries == [f"version:{NEW}:users:{n}" for n in (2, 2, 1)]
    with c2.uow(write=False) as uow:
        audit_text = " ".join(
            str(v)
            for row in uow.session.execute(select(AuditEntry.subject, AuditEntry.object))
            for v in row
        )
    assert "example.org" not in audit_text


def test_two_workers_running_the_duty_at_once_tell_each_user_once(
    published: Container, reissue: Reissue
) -> None:
    ids = sign_up(published)
    first = reissue(version=NEW, significant=True, changes="Significant.")
    second = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(first)
    errors: list[BaseException] = []

    def run(c: Container) -> None:
        try:
            while notify.notify_users(c, batch=1, batches=1):
                pass
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert outbox_to(first) == sorted(ids)
    assert asked(first) == sorted(ids)


def test_an_account_erased_before_its_batch_is_skipped(
    published: Container, reissue: Reissue
) -> None:
    ids = sign_up(published, ("ada", "grace"))
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    # The key goes first in an erasure: an account whose key is gone cannot be written to.
    c2.keys.destroy_subject_key(ids[1], now=c2.clock.now())
    assert notify.notify_users(c2) == 1
    assert outbox_to(c2) == [ids[0]]
    with c2.uow(write=False) as uow:
        query = select(func.count()).select_from(PolicyAcknowledgement)
        assert uow.session.scalar(query) == 1
