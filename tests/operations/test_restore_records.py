"""A restore loses no request and contacts no erased person (issue 8, item 3).

The scenario of the issue, over real HTTP, the real `minimaker` CLI in processes of its own and
a real SMTP server on loopback: a backup is taken, then one person is erased and another asks
for access, then the backup is restored.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.operations import restore
from minimaker.operations import restore_carry as carry
from minimaker.rights.tables import RightsRequest
from minimaker.settings import Settings
from tests.mailserver import Mailbox, delivering_to
from tests.operations.test_backup import ada, empty_the_data_database, grace
from tests.processes import minimaker, process_env
from tests.rights.test_erasure_api import (
    Person,
    ask_for_erasure,
    assert_intact,
    populate,
    records,
    rows_naming,
    sign_in,
)
from tests.scan import find_in_bytes

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings)


@pytest.fixture
def cli(settings: Settings, container: Container) -> Cli:
    """`minimaker ...` in a process of its own, on this test's databases, data and mail."""
    env = process_env(settings, MINIMAKER_SMTP_URL=settings.smtp_url or "")
    return lambda *args: minimaker(*args, env=env)


def to(mailbox: Mailbox, person: Person) -> list[str]:
    """The subject line of every message the SMTP server received for the person."""
    return [str(m.message["Subject"]) for m in mailbox.received if m.rcpt_tos == [person.email]]


def chain(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditEntry).order_by(AuditEntry.seq))]


def request_row(c: Container, request_id: str) -> tuple[Any, ...] | None:
    with c.engine.connect() as conn:
        row = conn.execute(
            select(RightsRequest.type, RightsRequest.status, RightsRequest.due_at).where(
                RightsRequest.id == request_id
            )
        ).one_or_none()
    return None if row is None else tuple(row)


def ask_access_and_complete_unsent(client: TestClient, worker: Worker, person: Person) -> str:
    """An access request fulfilled by the worker, its "done" mail queued but not yet sent."""
    r = client.post("/api/v1/privacy/requests", json={"type": "access"}, headers=person.headers)
    assert r.status_code == 202, r.text
    while worker.run_once():  # jobs only: no duty runs, so the mail stays in the outbox
        pass
    return str(r.json()["id"])


def test_a_restore_keeps_the_erasure_the_new_request_the_audit_and_sends_the_erased_nothing(
    client: TestClient,
    worker: Worker,
    container: Container,
    cli: Cli,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    c = container
    erased, asking = populate(client, worker, ada()), populate(client, worker, grace())
    ask_access_and_complete_unsent(client, worker, erased)
    backup = tmp_path / "backup.tar"
    assert cli("backup", "create", str(backup)).returncode == 0  # her "done" mail is unsent in it
    worker.run_until_idle()
    assert to(mailbox, erased) == ["Your privacy request is done"]

    # After the backup: she is erased; the other asks for access; a photo is uploaded.
    erasure = ask_for_erasure(client, erased, "privacy request")
    worker.run_until_idle()
    asked = client.post("/api/v1/privacy/requests", json={"type": "access"}, headers=asking.headers)
    assert asked.status_code == 202, asked.text
    access = asked.json()
    populate(client, worker, Person("Mary Somervillova", "mary.s@example.org", "somerville", 3))
    told_erased = to(mailbox, erased)
    assert told_erased[-1] == "Your MiniMaker data has been erased"
    chain_before = chain(c.engine)
    assert request_row(c, access["id"]) is not None

    done = cli("backup", "restore", str(backup))
    assert done.returncode == 0, done.stderr
    worker.run_until_idle()  # whatever the restore left to send goes out now

    # The erasure stands: her rows are gone again, her erasure request is recorded as done.
    assert sign_in(client, erased) == 401
    assert rows_naming(c.engine, erased.id) <= records(c)
    assert request_row(c, str(erasure["id"]))[:2] == ("erasure", "completed")  # type: ignore[index]
    # She is sent nothing more: not her old "done" mail again, not anything else.
    assert to(mailbox, erased) == told_erased
    # The access request received after the backup is there with its deadline, and answered.
    got = client.get(f"/api/v1/privacy/requests/{access['id']}", headers=asking.headers)
    assert got.status_code == 200, got.text
    assert got.json()["due_at"] == access["due_at"]
    assert got.json()["status"] == "completed"
    assert to(mailbox, asking) == ["Your privacy request is done"]
    assert_intact(client, asking)
    # Every audit entry stays; the restore is one more, and the chain verifies.
    after = chain(c.engine)
    assert after[: len(chain_before)] == chain_before
    assert "backup:data:restored" in [entry[3] for entry in after[len(chain_before) :]]
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout
    # The operator is told what was rolled back and what was kept, in counts only.
    said = " ".join(done.stderr.split())
    assert "audit chain kept" in said
    assert "users 1 removed, 0 brought back" in said  # the account made after the backup
    assert "uploads 2 removed, 0 brought back" in said
    assert "rights_requests 3" in said  # her access and erasure, the other's access
    assert "mail kept as sent (not sent again): 2" in said
    assert "re-erased 1 subject(s)" in said
    for person in (erased, asking):
        assert find_in_bytes(done.stderr.encode(), person.needles(), set()) == []


def test_the_restore_service_reports_what_it_rolled_back_and_kept(
    client: TestClient, worker: Worker, container: Container, tmp_path: Path
) -> None:
    c = container
    person = populate(client, worker, grace())
    assert cli_free_backup(c, tmp_path / "b.tar")
    ask_access_and_complete_unsent(client, worker, person)
    worker.run_until_idle()
    populate(client, worker, ada())

    report = restore.restore_backup(c, tmp_path / "b.tar")

    assert report.chain == "kept"
    assert report.kept["rights_requests"] == 1
    assert report.kept["outbox"] == 1
    assert report.mail_kept_sent == 1
    assert report.kept["archives"] == 1
    assert report.rolled_back["users"] == restore.RolledBack(removed=1, returned=0)
    assert report.rolled_back["models"] == restore.RolledBack(removed=1, returned=0)
    assert report.rolled_back["model_previews"] == restore.RolledBack(removed=1, returned=0)
    # her two photos, her model's three files and its preview; not the archive
    assert report.blobs_removed == 6
    assert report.replayed == 0
    with c.uow(write=False) as uow:
        status = uow.session.scalars(select(OutboxMessage.status)).all()
    assert status == ["sent"]


def cli_free_backup(c: Container, path: Path) -> bool:
    from minimaker.operations import backup

    return bool(backup.create_backup(c, path).tables)


def test_a_restore_into_an_emptied_database_takes_the_backup_and_withdraws_mail_to_the_erased(
    client: TestClient, worker: Worker, container: Container, mailbox: Mailbox, tmp_path: Path
) -> None:
    c = container
    erased = populate(client, worker, ada())
    ask_access_and_complete_unsent(client, worker, erased)
    assert cli_free_backup(c, tmp_path / "b.tar")
    ask_for_erasure(client, erased, "privacy request")
    worker.run_until_idle()
    told = to(mailbox, erased)
    empty_the_data_database(c.engine)  # the database is lost; only the backup is left

    report = restore.restore_backup(c, tmp_path / "b.tar")
    worker.run_until_idle()

    assert to(mailbox, erased) == told
    assert sign_in(client, erased) == 401
    assert report.chain == "taken"
    assert report.kept == {}
    assert report.mail_withdrawn == 1  # her "done" mail: nobody can tell it went out
    assert report.replayed == 1


def test_a_backup_whose_chain_this_database_does_not_continue_is_refused_unless_replaced(
    client: TestClient, worker: Worker, container: Container, cli: Cli, tmp_path: Path
) -> None:
    c = container
    kept = populate(client, worker, grace())
    assert cli("backup", "create", str(tmp_path / "b.tar")).returncode == 0
    populate(client, worker, ada())
    with c.engine.begin() as conn:  # this chain's entry at the backup's head is another one
        head = conn.execute(
            text("SELECT seq - 1 FROM audit_log WHERE action = 'backup:data:created'")
        ).scalar_one()
        conn.execute(
            text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": "0" * 64, "s": head}
        )
    before = chain(c.engine)

    refused = cli("backup", "restore", str(tmp_path / "b.tar"))
    assert refused.returncode == 2
    assert "does not continue the backup's" in " ".join(refused.stderr.split())
    assert chain(c.engine) == before

    forced = cli("backup", "restore", str(tmp_path / "b.tar"), "--replace-audit-chain")
    assert forced.returncode == 0, forced.stderr
    assert "replaced a diverged audit chain" in forced.stderr
    assert_intact(client, kept)
    assert cli("audit", "verify").returncode == 0


def test_every_table_of_requests_archives_and_mail_is_kept_across_a_restore(
    container: Container,
) -> None:
    carried = {spec.table: spec for spec in carry.CARRIED}
    # A new table of request records (or of mail) declared in the registry is kept too, or
    # this fails: a restore must not roll back the record of a request.
    records_of = {"rights_request", "rights_archive", "message"}
    declared = {d.name for d in container.personal_data.personal if d.category in records_of}
    assert declared <= set(carried)
    for name, spec in carried.items():
        table = carry.table(name)
        assert set(spec.blobs) <= set(table.columns.keys())
