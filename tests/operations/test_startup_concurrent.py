"""Several processes starting at once on one fresh database: the first migrates it, the
others wait for it and find it at head (a fleet's API and worker processes start together)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from minimaker.adapters import audit_chain as audit
from minimaker.adapters import migrate
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.adapters.db import make_engine
from tests.conftest import BACKENDS, PG_URL
from tests.pg import fresh_pg_database
from tests.processes import ROOT

PROCESSES = 3


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database no one has migrated: SQLite in a new directory, or PostgreSQL."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir(mode=0o700)
        yield f"sqlite:///{tmp_path / 'db' / 'minimaker.db'}"
        return
    assert PG_URL
    with fresh_pg_database(PG_URL, tag="race", migrated=False) as url:
        yield url


def _upgrade(url: str, data_dir: Path, master_key: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    keys = url.replace("minimaker.db", "keys.db") if url.startswith("sqlite") else url
    env.update(
        MINIMAKER_DATA_DIR=str(data_dir),
        MINIMAKER_DATABASE_URL=url,
        MINIMAKER_KEYSTORE_URL=keys,
        MINIMAKER_MASTER_KEY=master_key,
        COLUMNS="200",
    )
    command = [sys.executable, "-m", "minimaker.entrypoints.cli", "db", "upgrade"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_processes_starting_together_migrate_a_fresh_database_once(
    empty_database: str, tmp_path: Path
) -> None:
    master_key = encode_key(generate_key())
    running = [_upgrade(empty_database, tmp_path / f"p{i}", master_key) for i in range(PROCESSES)]
    outputs = [p.communicate(timeout=120)[0] for p in running]

    assert [p.returncode for p in running] == [0] * PROCESSES, outputs
    applied = sorted(int(re.findall(r"applied (\d+) migration", out)[0]) for out in outputs)
    engine = make_engine(empty_database)
    try:
        assert migrate.pending(engine) == []
        every_revision = migrate.pending(make_engine("sqlite://"))  # an empty database's
        assert applied == [0] * (PROCESSES - 1) + [len(every_revision)]
        with engine.connect() as conn:
            upgraded = conn.scalar(
                select(func.count()).where(AuditEntry.action == "operations:schema:upgraded")
            )
        assert upgraded == 1
        audit.verify(engine)
    finally:
        engine.dispose()
