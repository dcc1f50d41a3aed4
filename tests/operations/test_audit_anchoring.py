"""Key rotation, backup and restore each sign a checkpoint; a restore is recorded, never silent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from minimaker.adapters.checkpoints import Kind
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.bootstrap import container_for
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.operations import backup, key_rotation, restore
from minimaker.operations.audit_check import verify_audit
from minimaker.settings import Settings
from tests.adapters.audit_helpers import rewrite_actors

MADE = AuditTag("test", "entry", "made", Purpose.SERVICE)


def audit_some(c: Container, count: int) -> None:
    for i in range(count):
        with c.uow() as uow:
            uow.audit(MADE, actor=SYSTEM_CLI, subject=f"{i:032x}")
            uow.commit()


def newest(c: Container) -> tuple[int, int]:
    """(number, tree size) of the newest checkpoint in the key store."""
    n, note = c.checkpoints.stored()[-1]
    lines = note.split("\n")
    return n, int(lines[1])


def test_a_master_key_rotation_signs_a_checkpoint_and_the_old_ones_still_hold(
    container: Container, settings: Settings
) -> None:
    audit_some(container, 3)
    container.checkpoint(Kind.PERIODIC)
    new_key = generate_key()
    key_rotation.rotate_master_key(container, new_key=new_key)
    assert newest(container) == (2, 4)  # the rotation's own entry, anchored at once
    # A process started under the new key opens checkpoint 1, signed before the rotation.
    with container_for(settings.model_copy(update={"master_key": encode_key(new_key)})) as c:
        verdict = verify_audit(c)
    assert verdict.ok, verdict.findings
    assert verdict.anchored == 4


def test_a_backup_signs_a_checkpoint_covering_its_own_entry(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 3)
    backup.create_backup(container, tmp_path / "b.tar")
    assert newest(container) == (1, 4)


# A restore's checkpoint, kept chain or replaced: tests/operations/test_restore_checkpoints.py.


def test_the_same_cut_without_a_recorded_restore_is_still_reported(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 3)
    backup.create_backup(container, tmp_path / "b.tar")
    audit_some(container, 5)
    container.checkpoint(Kind.PERIODIC)
    with container.engine.begin() as conn:  # the backup's rows put back by hand, unsigned
        last = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 4")).scalar_one()
        conn.execute(text("DELETE FROM audit_log WHERE seq > 4"))
        conn.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": last})
    verdict = verify_audit(container)
    assert [f.kind for f in verdict.findings] == ["truncated"]
    assert verdict.restores == []


def test_checkpoints_within_what_a_restore_kept_are_still_held_against_the_chain(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 3)
    container.checkpoint(Kind.PERIODIC)  # checkpoint 1 at 3: inside the backup
    backup.create_backup(container, tmp_path / "b.tar")
    audit_some(container, 2)
    restore.restore_backup(container, tmp_path / "b.tar")
    assert verify_audit(container).ok
    rewrite_actors(container.engine)  # consistent: the hash chain alone would pass it
    findings = verify_audit(container).findings
    assert any("checkpoint 1 signed" in f.message for f in findings), findings
