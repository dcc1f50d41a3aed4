"""`minimaker audit verify` as an operator runs it: a real process against a real database."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from sqlalchemy import text

from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.settings import Settings
from tests.processes import minimaker, process_env

Verify = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_verify(settings: Settings, master_key: str) -> Verify:
    def run(command: str = "verify") -> subprocess.CompletedProcess[str]:
        # The same databases and data directory as the test's container: the checkpoints
        # are in its key store and its checkpoint file.
        return minimaker("audit", command, env=process_env(settings))

    return run


MADE = AuditTag("test", "entry", "made", Purpose.SERVICE)


def audit_some(container: Container, count: int) -> None:
    for i in range(count):
        with container.uow() as uow:
            uow.audit(MADE, actor=SYSTEM_CLI, subject=f"{i:032x}")
            uow.commit()


def test_verify_exits_0_and_says_intact_on_an_empty_log(run_verify: Verify) -> None:
    done = run_verify()
    assert done.returncode == 0, done.stderr
    assert "audit chain intact: 0 entries" in done.stdout


def test_verify_exits_0_and_says_intact_on_a_sound_chain(
    container: Container, run_verify: Verify
) -> None:
    audit_some(container, 5)
    done = run_verify()
    assert done.returncode == 0, done.stderr
    assert "audit chain intact: 5 entries" in done.stdout


def test_verify_exits_1_and_names_the_tampered_entry(
    container: Container, run_verify: Verify
) -> None:
    audit_some(container, 5)
    with container.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET purpose = 'marketing' WHERE seq = 3"))
    done = run_verify()
    assert done.returncode == 1
    assert "audit chain broken at entry 3" in done.stderr
    assert "intact" not in done.stdout


def test_verify_exits_1_when_the_newest_entry_was_deleted(
    container: Container,
    run_verify: Verify,
) -> None:
    audit_some(container, 5)
    with container.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    done = run_verify()
    assert done.returncode == 1
    assert "audit chain broken at entry 5" in done.stderr


def test_verify_in_a_real_process_reports_a_cut_chain_that_the_hash_chain_alone_let_through(
    container: Container, run_verify: Verify
) -> None:
    audit_some(container, 5)
    assert run_verify().returncode == 0  # verify signs the sound chain it found
    with container.engine.begin() as conn:
        last = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
        conn.execute(text("DELETE FROM audit_log WHERE seq > 2"))
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": last})
    done = run_verify()
    assert done.returncode == 1
    assert "FAILED (truncated): the chain has 2 entries; checkpoint 1 signed 6" in done.stderr


def test_audit_checkpoint_signs_a_grown_chain_and_refuses_a_cut_one_with_exit_2(
    container: Container, run_verify: Verify
) -> None:
    audit_some(container, 3)
    assert "checkpoint taken" in run_verify("checkpoint").stdout
    assert "nothing new" in run_verify("checkpoint").stdout
    with container.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        conn.execute(text("UPDATE audit_head SET seq = 2"))
    done = run_verify("checkpoint")
    assert done.returncode == 2
    assert "audit checkpoint refused: the chain is shorter than its last checkpoint" in done.stderr
