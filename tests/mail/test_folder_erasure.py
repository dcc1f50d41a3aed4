"""The outbox folder over HTTP: mail waits sealed, and the subject's files go with an erasure."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import erasure
from tests.rights.test_erasure_api import ada_and_grace, ask_for_erasure
from tests.scan import scan_files


def files_of(c: Container, subject_id: str) -> dict[str, str]:
    """The subject's messages that have a file in the folder: id -> kind."""
    with c.uow(write=False) as uow:
        rows = uow.session.execute(
            select(OutboxMessage.id, OutboxMessage.kind).where(
                OutboxMessage.subject_id == subject_id
            )
        ).all()
    folder = c.settings.outbox_dir
    return {r.id: r.kind for r in rows if (folder / f"{r.id}.mail").exists()}


def test_an_erasure_removes_the_subjects_waiting_mail_files_and_spares_everyone_elses(
    client: TestClient, worker: Worker, container: Container
) -> None:
    c = container
    ada, grace = ada_and_grace(client, worker)
    before = set((c.settings.outbox_dir).glob("*.mail"))
    adas = files_of(c, ada.id)
    assert adas, "her requests' notices wait in the folder"
    graces = files_of(c, grace.id)
    # At no time is an address, a name or a username readable in the folder.
    for person in (ada, grace):
        assert scan_files(c.settings.outbox_dir, person.needles(), set()) == {}

    ask_for_erasure(client, ada, "privacy request")
    worker.run_until_idle()

    folder = c.settings.outbox_dir
    assert not [m for m in adas if (folder / f"{m}.mail").exists()]
    # What is left of hers is the confirmation, delivered after her key went: sealed under
    # the folder key, for the operator to forward.
    assert set(files_of(c, ada.id).values()) == {erasure.CONFIRMATION}
    assert files_of(c, grace.id) == graces
    assert {p for p in before if p.exists()} == {folder / f"{m}.mail" for m in graces}
    assert scan_files(folder, ada.needles(), set()) == {}
    [confirmation] = files_of(c, ada.id)
    assert f"To: {ada.email}" in outbox.show_file(c, message_id=confirmation)
