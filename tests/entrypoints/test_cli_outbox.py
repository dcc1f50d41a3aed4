"""`minimaker outbox list` as an operator runs it: a real process against a real database."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.settings import Settings
from tests.processes import minimaker, process_env
from tests.scan import needles_for, scan_files

Run = Callable[..., subprocess.CompletedProcess[str]]
TO = "grace.hopper@example.org"
BODY = "Dear Grace Hopper, your access request is done."


@pytest.fixture
def run_cli(settings: Settings, container: Container) -> Run:
    """Run `minimaker outbox ...` with the test's database, key store, data dir and key."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return minimaker("outbox", *args, env=process_env(settings))

    return run


def queue(c: Container, kind: str) -> str:
    with c.uow() as uow:
        message_id = outbox.queue_message(
            uow, subject_id=uuid.uuid4().hex, to=TO, kind=kind, subject="Done", body=BODY
        )
        uow.commit()
    return message_id


def test_list_shows_each_message_and_the_waiting_files_but_no_content(
    container: Container, run_cli: Run
) -> None:
    delivered = queue(container, "request_completed")
    outbox.deliver_pending(container)  # no SMTP set: into the outbox folder
    waiting = queue(container, "request_extended")
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    [sent_line] = [line for line in lines if delivered in line and "request_completed" in line]
    assert "sent" in sent_line
    [pending_line] = [line for line in lines if waiting in line]
    assert "request_extended" in pending_line and "pending" in pending_line
    assert "1 message file(s)" in done.stdout
    assert f"{delivered}.mail" in done.stdout
    assert TO not in done.stdout + done.stderr
    assert "Grace" not in done.stdout + done.stderr


def test_list_of_an_empty_outbox_says_so(run_cli: Run) -> None:
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    assert "0 message(s)" in done.stdout
    assert "0 message file(s)" in done.stdout


def read_audits(c: Container) -> list[str | None]:
    with c.uow(write=False) as uow:
        return list(
            uow.session.scalars(
                select(AuditEntry.object).where(AuditEntry.action == "mail:outbox_file:read")
            )
        )


def test_show_prints_one_message_file_audits_the_reading_and_removes_the_file(
    container: Container, run_cli: Run
) -> None:
    message_id = queue(container, "request_completed")
    outbox.deliver_pending(container)
    path = container.settings.outbox_dir / f"{message_id}.mail"
    # Sealed while it waits: nothing of the address or the text on the disk.
    assert scan_files(container.settings.outbox_dir, needles_for(TO, "Grace Hopper"), set()) == {}
    done = run_cli("list", "--show", message_id)
    assert done.returncode == 0, done.stderr
    assert f"To: {TO}" in done.stdout
    assert BODY in done.stdout
    assert read_audits(container) == [f"message:{message_id}:request_completed"]
    # Read is delivered: the operator forwards it, and the file is gone.
    assert not path.exists()
    assert f"removed the message file {message_id}.mail" in done.stderr
    again = run_cli("list", "--show", message_id)
    assert again.returncode == 2
    assert "message file not found" in again.stderr


def test_show_with_keep_leaves_the_sealed_file_in_the_folder(
    container: Container, run_cli: Run
) -> None:
    message_id = queue(container, "request_completed")
    outbox.deliver_pending(container)
    done = run_cli("list", "--show", message_id, "--keep")
    assert done.returncode == 0, done.stderr
    assert BODY in done.stdout
    assert (container.settings.outbox_dir / f"{message_id}.mail").is_file()


@pytest.mark.parametrize(
    "name", ["../minimaker.db", "cddb325bbaa9443e8c9e64d3692c957c"]
)  # fixed ids
def test_show_of_a_file_that_is_not_there_exits_2(run_cli: Run, name: str) -> None:
    done = run_cli("list", "--show", name)
    assert done.returncode == 2
    assert "message file not found" in done.stderr
