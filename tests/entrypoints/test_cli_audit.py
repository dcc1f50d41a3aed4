"""`minimaker audit verify` as an operator runs it: a real process against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose

Verify = Callable[[], subprocess.CompletedProcess[str]]


@pytest.fixture
def run_verify(database_url: str, master_key: str, tmp_path: Path) -> Verify:
    def run() -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "MINIMAKER_DATABASE_URL": database_url,
            "MINIMAKER_DATA_DIR": str(tmp_path / "cli-data"),
            "MINIMAKER_MASTER_KEY": master_key,
            "COLUMNS": "200",  # one line per message, whatever the terminal
        }
        return subprocess.run(
            [sys.executable, "-m", "minimaker.entrypoints.cli", "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

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
