"""Start-up as `serve` runs it before serving: both schemas at head, the ledger replayed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters import audit_chain as audit
from minimaker.adapters import migrate
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.bootstrap import build
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import startup
from minimaker.settings import Settings


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Container]:
    """A container on a data directory nobody has migrated yet (SQLite, as `make run`)."""
    settings = Settings(data_dir=tmp_path / "fresh", master_key=encode_key(generate_key()))
    c = build(settings)
    try:
        yield c
    finally:
        c.close()


def upgrades(c: Container) -> list[tuple[Any, ...]]:
    with c.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.actor, AuditEntry.object, AuditEntry.purpose).where(
                AuditEntry.action == "operations:schema:upgraded"
            )
        )
        return [tuple(r) for r in rows]


def test_start_up_migrates_a_fresh_database_audits_it_once_and_then_changes_nothing(
    fresh: Container,
) -> None:
    revisions = migrate.pending(fresh.engine)
    assert revisions

    first = startup.prepare(fresh)

    assert (first.migrations, first.replayed) == (len(revisions), 0)
    assert migrate.pending(fresh.engine) == []
    object_ = f"revision:{revisions[-1]}:applied:{len(revisions)}"
    assert upgrades(fresh) == [("system:cli", object_, "service")]
    assert startup.prepare(fresh) == startup.StartupReport(migrations=0, replayed=0)
    assert len(upgrades(fresh)) == 1
    audit.verify(fresh.engine)


def test_start_up_erases_again_a_subject_whose_rows_came_back(container: Container) -> None:
    c = container
    ada = accounts.signup(
        c, name="Ada Ledger", email="ada@example.org", username="ada", password="long enough pw"
    )
    # Rows of an erased subject, as a restored backup brings them back: the ledger knows.
    c.keys.destroy_subject_key(ada.id, now=c.clock.now())

    assert startup.prepare(c).replayed == 1

    assert startup.prepare(c).replayed == 0
    with c.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.subject == ada.id)))
    assert "subject:erasure:replayed" in actions


def test_start_up_sweeps_what_a_crash_left_once_it_is_older_than_the_grace_age(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada = accounts.signup(
        c, name="Ada Crash", email="ada@example.org", username="ada", password="long enough pw"
    )
    # What an upload killed between its rename and its commit leaves, and a killed writer's
    # temp file: the same start-up an hour later removes both.
    orphan = c.blobs.put_bytes(c.keys.subject_key(ada.id), b"a photo never committed")
    (c.settings.blob_dir / orphan.blob_id[:2] / ".tmp-0123456789abcdef").write_bytes(b"half")

    assert startup.prepare(c) == startup.StartupReport(migrations=0, replayed=0)
    clock.advance(seconds=c.settings.sweep_grace_s + 300)
    report = startup.prepare(c)

    assert (report.temps, report.orphans) == (1, 1)
    assert list(c.blobs.store.iter_ids()) == []
