"""Restore checkpoints: a kept chain and a chain taken from the backup both verify (issue 8)."""

from __future__ import annotations

from pathlib import Path

from minimaker.adapters.checkpoints import Kind
from minimaker.kernel.container import Container
from minimaker.operations import backup, restore
from minimaker.operations.audit_check import verify_audit
from tests.operations.test_audit_anchoring import audit_some, newest
from tests.operations.test_backup import empty_the_data_database


def test_a_restore_of_an_older_backup_keeps_the_chain_and_is_a_recorded_restore(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 3)
    backup.create_backup(container, tmp_path / "b.tar")  # checkpoint 1 at 4
    audit_some(container, 5)
    container.checkpoint(Kind.PERIODIC)  # checkpoint 2 at 9: beyond what the backup holds
    restore.restore_backup(container, tmp_path / "b.tar")
    # The chain continues the backup's, so it is kept whole; the restore's entry is 10.
    assert newest(container) == (3, 10)
    verdict = verify_audit(container)
    assert verdict.ok, verdict.findings
    [recorded] = verdict.restores
    assert (recorded.restored, recorded.replaced) == (9, 9)
    assert verdict.superseded == 0
    assert verdict.anchored == 10


def test_a_restore_into_an_emptied_database_is_reported_as_a_recorded_restore(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 3)
    backup.create_backup(container, tmp_path / "b.tar")  # checkpoint 1 at 4
    audit_some(container, 5)
    container.checkpoint(Kind.PERIODIC)  # checkpoint 2 at 9: beyond what the backup holds
    empty_the_data_database(container.engine)  # lost: only the backup is left
    restore.restore_backup(container, tmp_path / "b.tar")
    # The dump is taken before the backup's own entry: it holds 3 entries, the restore's is 4.
    assert newest(container) == (3, 4)
    verdict = verify_audit(container)
    assert verdict.ok, verdict.findings
    [recorded] = verdict.restores
    assert (recorded.restored, recorded.replaced) == (3, 9)
    assert verdict.superseded == 2  # both vouched for the history the restore replaced
    assert verdict.anchored == 4
