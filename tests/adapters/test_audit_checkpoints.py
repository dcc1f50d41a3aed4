"""Signed checkpoints anchor the audit chain outside the data database (issue 7, item 4).

Each of the five consistent rewrites that the hash chain alone let through is found by
`verify`, through the function and through the real CLI, on SQLite and PostgreSQL; so are a
forged signature, a checkpoint file cut or edited, and a checkpoint deleted from one store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from minimaker.adapters.checkpoints import (
    Checkpoint,
    CheckpointForged,
    CheckpointRefused,
    Kind,
    open_note,
    sign,
)
from minimaker.entrypoints.cli import app
from minimaker.kernel.actors import SYSTEM_CLI, Actor
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.operations.audit_check import AuditVerdict, verify_audit
from minimaker.settings import Settings
from tests.adapters.audit_helpers import (
    cut_tail,
    delete_everything,
    remove_subject,
    restart_from_genesis,
    rewrite_actors,
)

MADE = AuditTag("test", "entry", "made", Purpose.SERVICE)
ANCHORED, AFTER = 6, 2  # entries covered by the checkpoint, and appended after it
VICTIM = "a" * 32


def audit_some(c: Container, count: int, *, first: int = 0) -> None:
    for i in range(first, first + count):
        with c.uow() as uow:
            uow.audit(MADE, actor=SYSTEM_CLI, subject=VICTIM if i == 1 else f"{i:032x}")
            uow.commit()


@pytest.fixture
def anchored(container: Container) -> Container:
    """ANCHORED entries under a periodic checkpoint, then AFTER entries not yet anchored."""
    audit_some(container, ANCHORED)
    cp = container.checkpoint(Kind.PERIODIC)
    assert cp is not None and (cp.n, cp.size) == (1, ANCHORED)
    audit_some(container, AFTER, first=ANCHORED)
    return container


def kinds(verdict: AuditVerdict) -> set[str]:
    return {f.kind for f in verdict.findings}


REWRITES: dict[str, tuple[Callable[[Container], None], str]] = {
    "tail_cut_head_moved": (lambda c: cut_tail(c.engine, 3), "truncated"),
    "everything_deleted": (lambda c: delete_everything(c.engine), "truncated"),
    "restarted_from_genesis": (
        lambda c: restart_from_genesis(c.engine, c.sessions, 9),
        "reset",
    ),
    "one_subject_removed_rehashed": (lambda c: remove_subject(c.engine, VICTIM), "rewritten"),
    "every_actor_rewritten_rehashed": (lambda c: rewrite_actors(c.engine), "rewritten"),
}


def test_a_sound_chain_holds_its_checkpoints_and_counts_the_unanchored_entries(
    anchored: Container,
) -> None:
    verdict = verify_audit(anchored, batch=3)
    assert verdict.ok, verdict.findings
    assert (verdict.entries, verdict.anchored, verdict.unanchored) == (8, ANCHORED, AFTER)
    # verify audits itself and signs the chain it found sound, its own entry included
    assert verdict.checkpoint is not None and verdict.checkpoint.size == 9
    assert verify_audit(anchored).unanchored == 0


@pytest.mark.parametrize("name", list(REWRITES))
def test_each_consistent_rewrite_of_the_data_database_is_found(
    anchored: Container, name: str
) -> None:
    rewrite, kind = REWRITES[name]
    rewrite(anchored)
    verdict = verify_audit(anchored, batch=3)
    assert kind in kinds(verdict), verdict.findings
    assert verdict.checkpoint is None  # a rewritten chain is never signed
    with pytest.raises(CheckpointRefused):
        anchored.checkpoint(Kind.PERIODIC)


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "MINIMAKER_DATABASE_URL": settings.resolved_database_url(),
        "MINIMAKER_KEYSTORE_URL": settings.resolved_keystore_url(),
        "MINIMAKER_DATA_DIR": str(settings.data_dir),
        "MINIMAKER_MASTER_KEY": settings.master_key or "",
        "COLUMNS": "200",
    }


@pytest.mark.parametrize("name", list(REWRITES))
def test_each_consistent_rewrite_makes_the_cli_exit_1_and_say_what_without_personal_data(
    anchored: Container, settings: Settings, name: str
) -> None:
    rewrite, kind = REWRITES[name]
    rewrite(anchored)
    done = CliRunner().invoke(app, ["audit", "verify"], env=cli_env(settings))
    assert done.exit_code == 1, done.output
    assert f"FAILED ({kind})" in done.stderr
    assert "intact" not in done.stdout
    assert VICTIM not in done.output


def test_the_cli_says_intact_with_the_unanchored_count(
    anchored: Container, settings: Settings
) -> None:
    done = CliRunner().invoke(app, ["audit", "verify"], env=cli_env(settings))
    assert done.exit_code == 0, done.output
    assert "audit chain intact: 8 entries" in done.stdout
    assert f"{AFTER} entries unanchored" in done.stdout


def edit_stored_note(c: Container, n: int, edit: Callable[[str], str]) -> None:
    with c.key_engine.begin() as conn:
        note = conn.execute(text("SELECT note FROM audit_checkpoints WHERE n = :n"), {"n": n})
        conn.execute(
            text("UPDATE audit_checkpoints SET note = :note WHERE n = :n"),
            {"n": n, "note": edit(note.scalar_one())},
        )


def test_a_forged_checkpoint_signature_is_reported_as_tampering(anchored: Container) -> None:
    # Someone with the key store but not the master key moves the anchor to a shorter chain.
    edit_stored_note(anchored, 1, lambda note: note.replace("\n6\n", "\n3\n", 1))
    verdict = verify_audit(anchored)
    assert "forged" in kinds(verdict)
    assert any("signature does not verify" in f.message for f in verdict.findings)


def test_a_checkpoint_signed_under_another_key_is_refused(anchored: Container) -> None:
    stolen = sign(os.urandom(32), Checkpoint(2, 8, "0" * 64, "2030-01-01T00:00:00", Kind.EVENT))
    with pytest.raises(CheckpointForged):
        open_note(anchored.checkpoints.key(), stolen)
    with anchored.key_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_checkpoints (n, tree_size, note) VALUES (2, 8, :note)"),
            {"note": stolen},
        )
    assert "forged" in kinds(verify_audit(anchored))


@pytest.mark.parametrize("where", ["in_the_signature", "before_the_signature"])
def test_a_cut_checkpoint_file_is_detected(anchored: Container, where: str) -> None:
    path = anchored.checkpoints.path
    content = path.read_bytes()
    cut = len(content) - 20 if where == "in_the_signature" else content.rindex(b"\n\n")
    path.write_bytes(content[:cut])
    verdict = verify_audit(anchored)
    assert any("partial note" in f.message for f in verdict.findings)
    assert any("missing from the checkpoint file" in f.message for f in verdict.findings)


def test_an_edited_checkpoint_file_is_detected(anchored: Container) -> None:
    path = anchored.checkpoints.path
    path.write_text(path.read_text().replace("checkpoint 1\n", "checkpoint 7\n"))
    assert "forged" in kinds(verify_audit(anchored))


def test_a_checkpoint_deleted_from_the_key_store_is_detected_by_the_file(
    anchored: Container,
) -> None:
    audit_some(anchored, 1, first=20)
    assert anchored.checkpoint(Kind.PERIODIC) is not None  # checkpoint 2
    audit_some(anchored, 1, first=21)
    assert anchored.checkpoint(Kind.PERIODIC) is not None  # checkpoint 3
    with anchored.key_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints WHERE n = 2"))
    verdict = verify_audit(anchored)
    assert any("checkpoint 2 is missing from the key store" in f.message for f in verdict.findings)


def test_a_checkpoint_only_in_the_file_at_its_end_is_a_note_not_a_finding(
    anchored: Container,
) -> None:
    # The file is written first: a crash before the key store's commit leaves exactly this.
    audit_some(anchored, 1, first=20)
    anchored.checkpoint(Kind.PERIODIC)
    with anchored.key_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints WHERE n = 2"))
    verdict = verify_audit(anchored)
    assert verdict.ok, verdict.findings
    assert verdict.notes == ["checkpoint 2 is in the file only (interrupted while taken?)"]


def test_checkpoints_only_grow_and_nothing_new_signs_nothing(anchored: Container) -> None:
    assert anchored.checkpoint(Kind.PERIODIC) is not None
    assert anchored.checkpoint(Kind.PERIODIC) is None
    cut_tail(anchored.engine, 7)
    with pytest.raises(CheckpointRefused, match="shorter than its last checkpoint"):
        anchored.checkpoint(Kind.PERIODIC)
    assert [n for n, _ in anchored.checkpoints.stored()] == [1, 2]


def test_the_periodic_duty_signs_the_chain_when_it_grew(container: Container) -> None:
    # The anchoring duty alone: others (the self-check) write audit entries of their own.
    anchor = container.registries.duties["anchor_audit"]
    assert anchor(container) == 0  # empty chain
    audit_some(container, 3)
    assert anchor(container) == 1
    assert anchor(container) == 0
    verdict = verify_audit(container)
    assert [cp.size for cp in verdict.checkpoints] == [3]
    assert verdict.checkpoint is not None and verdict.checkpoint.size == 4  # verify's own


def test_the_duty_refuses_and_says_so_when_the_chain_was_cut(anchored: Container) -> None:
    cut_tail(anchored.engine, 2)
    assert anchored.registries.run_duties(anchored)["anchor_audit"] == -1


def test_staff_actions_and_sensitive_operations_are_signed_at_commit(
    container: Container,
) -> None:
    audit_some(container, 2)
    assert container.checkpoints.stored() == []  # ordinary actions wait for the schedule
    with container.uow() as uow:
        uow.audit(MADE, actor=Actor.staff("s" * 32), subject=VICTIM)
        uow.commit()
    assert uow.checkpoint is not None and uow.checkpoint.size == 3
    erased = next(a for a in container.anchored_actions if a == "subject:erasure:completed")
    source, obj, verb = erased.split(":")
    with container.uow() as uow:
        uow.audit(AuditTag(source, obj, verb, Purpose.SERVICE), actor=SYSTEM_CLI)
        uow.commit()
    assert uow.checkpoint is not None and uow.checkpoint.size == 4


def test_the_checkpoint_file_is_0600_and_a_planted_link_is_not_followed(
    container: Container, tmp_path: Path
) -> None:
    audit_some(container, 1)
    container.checkpoint(Kind.PERIODIC)
    path = container.checkpoints.path
    assert path.stat().st_mode & 0o777 == 0o600
    victim = tmp_path / "elsewhere"
    victim.write_text("")
    path.unlink()
    path.symlink_to(victim)
    audit_some(container, 1)
    with pytest.raises(OSError):
        container.checkpoint(Kind.PERIODIC)
    assert victim.read_text() == ""
    assert [n for n, _ in container.checkpoints.stored()] == [1]  # nothing half-recorded


def test_checkpoints_taken_by_many_writers_at_once_come_out_in_order(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    def staff_at_work(worker: int) -> None:
        for _ in range(5):
            with container.uow() as uow:
                uow.audit(MADE, actor=Actor.staff(f"{worker:032x}"))
                uow.commit()

    with caplog.at_level(logging.ERROR), ThreadPoolExecutor(4) as pool:
        list(pool.map(staff_at_work, range(4)))
    assert "checkpoint not taken" not in caplog.text  # none refused as shrinking
    stored = container.checkpoints.stored()
    sizes = [int(note.split("\n")[1]) for _, note in stored]
    assert [n for n, _ in stored] == list(range(1, len(stored) + 1))
    assert sizes == sorted(set(sizes)) and sizes[-1] == 20
    assert container.checkpoints.filed().notes == [note for _, note in stored]
    assert verify_audit(container).ok


def test_a_staff_action_commits_and_the_lost_checkpoint_is_logged_when_the_file_is_unwritable(
    container: Container, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container.checkpoints.path.symlink_to(tmp_path / "elsewhere")  # refused: never followed
    with caplog.at_level(logging.ERROR), container.uow() as uow:
        uow.audit(MADE, actor=Actor.staff("s" * 32))
        uow.commit()
    assert uow.checkpoint is None
    assert "audit checkpoint not taken: checkpoint file" in caplog.text
    assert verify_audit(container).entries == 1  # the work and its entry are in
