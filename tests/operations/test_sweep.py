"""The sweep of what killed writers left: temp files and orphan blobs past the grace age go,
everything a row names stays, and the audit carries counts only."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.private_files import TEMP_PREFIX
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import sweep
from minimaker.rights import intake
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes


def _subject_with_everything(c: Container) -> str:
    """A subject with a photo, a model (three files, a preview) and an access archive: every
    blob kind."""
    ada = accounts.signup(
        c, name="Ada Example", email="ada@example.org", username="ada", password="long enough pw"
    ).id
    up = uploads.create_upload(c, user_id=ada, data=photo_bytes())
    generation.request_model(c, user_id=ada, upload_id=up.id)
    intake.submit(c, user_id=ada, type="access")  # fulfilled as an encrypted archive
    Worker(c).run_until_idle()
    return ada


def _strays(c: Container, subject_id: str) -> tuple[str, Path]:
    """What a killed upload leaves: a blob no row names, and a temp file in its shard."""
    orphan = c.blobs.put_bytes(c.keys.subject_key(subject_id), b"a photo never committed")
    temp = c.settings.blob_dir / orphan.blob_id[:2] / f"{TEMP_PREFIX}0123456789abcdef"
    temp.write_bytes(b"half a ciphertext")
    return orphan.blob_id, temp


def _swept_entries(c: Container) -> list[tuple[str, str | None, str | None]]:
    with c.sessions() as s:
        rows = s.execute(
            select(AuditEntry.actor, AuditEntry.subject, AuditEntry.object).where(
                AuditEntry.action == "operations:strays:swept"
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_strays_past_the_grace_age_go_and_every_blob_a_row_names_stays(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada = _subject_with_everything(c)
    named = set(c.blobs.store.iter_ids())
    assert len(named) == 6  # photo, STL/GLB/OBJ, the model's preview, archive
    orphan, temp = _strays(c, ada)

    # The test clock started before the files were written: the margin covers the set-up.
    clock.advance(seconds=c.settings.sweep_grace_s + 300)
    assert sweep.sweep_strays(c) == sweep.SweepReport(temps=1, orphans=1)

    assert set(c.blobs.store.iter_ids()) == named
    assert not temp.exists() and orphan not in set(c.blobs.store.iter_ids())
    # Counts only: no blob id, no file name, no subject in the audit.
    assert _swept_entries(c) == [("system:retention", None, "temps:1:orphans:1")]
    assert sweep.sweep_strays(c) == sweep.SweepReport()
    assert len(_swept_entries(c)) == 1  # nothing swept, nothing audited


def test_strays_younger_than_the_grace_age_are_left_to_the_write_that_may_own_them(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada = _subject_with_everything(c)
    orphan, temp = _strays(c, ada)
    clock.advance(seconds=c.settings.sweep_grace_s - 60)  # a slow upload could still commit

    assert sweep.sweep_strays(c) == sweep.SweepReport()

    assert temp.exists() and orphan in set(c.blobs.store.iter_ids())
    assert _swept_entries(c) == []


def test_a_file_untouched_since_the_grace_age_is_old_whatever_it_was_created(
    container: Container,
) -> None:
    c = container
    ada = _subject_with_everything(c)
    orphan, temp = _strays(c, ada)
    # The clock stands still; the files are aged instead, as a real restart an hour on sees them.
    old = c.clock.now().timestamp() - c.settings.sweep_grace_s - 1
    for path in (temp, c.settings.blob_dir / orphan[:2] / orphan):
        os.utime(path, (old, old))

    assert sweep.sweep_strays(c) == sweep.SweepReport(temps=1, orphans=1)


def test_the_sweep_duty_runs_at_once_then_keeps_to_its_interval(
    settings: Settings, container: Container, clock: ManualClock
) -> None:
    c = container
    ada = _subject_with_everything(c)
    duty = sweep.ScheduledSweep()
    _strays(c, ada)
    clock.advance(seconds=c.settings.sweep_grace_s + 300)
    assert duty(c) == 2
    _strays(c, ada)
    clock.advance(seconds=c.settings.sweep_grace_s + 300)
    assert duty(c) == 0  # within settings.sweep_interval_s of the last sweep: not yet
    assert "sweep_strays" in c.registries.duties
    assert isinstance(c.registries.duties["sweep_strays"], sweep.ScheduledSweep)
