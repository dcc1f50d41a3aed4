"""`minimaker backup create|restore` as an operator runs them: real processes, real files.

The promise under test: a backup taken before an erasure, restored after it, does not bring
the erased subject back (Art. 17), because the keys are not in the backup and the restore
replays the erasure ledger.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.db import Base
from minimaker.entrypoints.worker import Worker
from minimaker.generation.tables import ModelFile, ModelPreview
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable
from minimaker.operations import restore_carry as carry
from minimaker.settings import Settings
from minimaker.uploads.tables import Upload
from tests.rights.test_erasure_api import (
    Person,
    ask_for_erasure,
    assert_intact,
    populate,
    records,
    rows_naming,
    scan_stores,
    sign_in,
)
from tests.scan import find_in_bytes, scan_database

Cli = Callable[..., subprocess.CompletedProcess[str]]
#: The audit chain: a restore keeps it and appends its own entry.
AUDIT_TABLES = set(carry.AUDIT_TABLES)
#: The records a restore keeps as they were (every row; `jobs` only in part).
CARRIED_WHOLE = {spec.table for spec in carry.CARRIED if spec.only is None}


@pytest.fixture
def cli(settings: Settings, master_key: str) -> Cli:
    """Run `minimaker ...` in a subprocess against the test's databases and data dir."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "MINIMAKER_DATABASE_URL": settings.resolved_database_url(),
            "MINIMAKER_KEYSTORE_URL": settings.resolved_keystore_url(),
            "MINIMAKER_DATA_DIR": str(settings.data_dir),
            "MINIMAKER_MASTER_KEY": master_key,
            "COLUMNS": "200",  # one line per message, whatever the terminal
        }
        return subprocess.run(
            [sys.executable, "-m", "minimaker.entrypoints.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, in primary key order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def split(
    rows: dict[str, list[tuple[Any, ...]]],
) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]]:
    """The state a restore rolls back, and the records it keeps (the audit chain among them)."""
    kept = AUDIT_TABLES | CARRIED_WHOLE
    state = {name: table for name, table in rows.items() if name not in kept | {"jobs"}}
    state["jobs"] = [job for job in rows["jobs"] if job[1] != "fulfil_request"]
    records = {name: table for name, table in rows.items() if name in kept}
    records["jobs"] = [job for job in rows["jobs"] if job[1] == "fulfil_request"]
    return state, records


def stored_blobs(c: Container) -> dict[str, bytes]:
    store = c.blobs.store
    out = {}
    for blob_id in store.iter_ids():
        with store.open_read(blob_id) as fh:
            out[blob_id] = fh.read()
    return out


def ada(seed: int = 1815) -> Person:
    return Person("Augusta Ada Byronova", "ada.byronova@example.org", "analyticalengine", seed)


def grace(seed: int = 1906) -> Person:
    return Person("Grace Brewster Hopperova", "grace.hopperova@example.org", "cobolmother", seed)


def test_a_backup_restored_after_an_erasure_does_not_bring_the_subject_back(
    client: TestClient, worker: Worker, container: Container, cli: Cli, tmp_path: Path
) -> None:
    c = container
    erased, kept = populate(client, worker, ada()), populate(client, worker, grace())
    erased_blobs = blobs_of(c, erased.id)
    assert erased_blobs
    backup = tmp_path / "backup.tar"

    made = cli("backup", "create", str(backup))
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_mode & 0o777 == 0o600
    # Personal data is in the backup only as ciphertext; the keys are not in it at all.
    raw = backup.read_bytes()
    assert find_in_bytes(raw, erased.needles(), erased.photo_windows()) == []
    with tarfile.open(backup) as tar:
        names = tar.getnames()
    assert not [n for n in names if "key" in n or "secret" in n or "ledger" in n]

    ask_for_erasure(client, erased, "privacy request")
    worker.run_until_idle()
    restored = cli("backup", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "re-erased 1 subject(s)" in restored.stderr

    assert rows_naming(c.engine, erased.id) <= records(c)
    for blob_id in erased_blobs:  # gone, or else unreadable: the key is destroyed for good
        assert not c.blobs.store.exists(blob_id)
    with pytest.raises(KeyUnavailable):
        c.keys.subject_key(erased.id)
    needles, photo = erased.needles(), erased.photo_windows()
    assert scan_database(c.engine, needles, photo) == {}
    assert scan_stores(c.settings.data_dir, needles, photo) == {}
    assert sign_in(client, erased) == 401
    assert_intact(client, kept)
    audit.verify(c.engine)


def blobs_of(c: Container, subject_id: str) -> set[str]:
    with c.sessions() as s:
        return {
            *s.scalars(select(Upload.blob_id).where(Upload.owner_id == subject_id)),
            *s.scalars(select(ModelFile.blob_id).where(ModelFile.owner_id == subject_id)),
            *s.scalars(select(ModelPreview.blob_id).where(ModelPreview.owner_id == subject_id)),
        }


def test_a_restore_brings_back_the_backups_state_and_keeps_the_records_since(
    client: TestClient, worker: Worker, container: Container, cli: Cli, tmp_path: Path
) -> None:
    c = container
    kept = populate(client, worker, grace())
    client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong password"})
    backed_up, before_blobs = split(snapshot(c.engine))[0], stored_blobs(c)
    assert cli("backup", "create", str(tmp_path / "b.tar")).returncode == 0
    # Changes after the backup: a photo deleted, another account added, a request made.
    first = next(iter(kept.photos))
    assert client.delete(f"/api/v1/uploads/{first}", headers=kept.headers).status_code == 204
    extra = populate(client, worker, ada())
    r = client.post("/api/v1/privacy/requests", json={"type": "access"}, headers=kept.headers)
    assert r.status_code == 202, r.text
    worker.run_until_idle()
    live_records = split(snapshot(c.engine))[1]
    archive_blobs = {b for b in stored_blobs(c) if b not in before_blobs}

    done = cli("backup", "restore", str(tmp_path / "b.tar"))
    assert done.returncode == 0, done.stderr

    state, now_records = split(snapshot(c.engine))
    assert state == backed_up
    # The records are as they were, and the chain goes on with the restore's own entry.
    chain = now_records.pop("audit_log")
    live_chain = live_records.pop("audit_log")
    now_records.pop("audit_head"), live_records.pop("audit_head")
    assert now_records == live_records
    assert chain[: len(live_chain)] == live_chain
    assert [entry[3] for entry in chain[len(live_chain) :]] == ["backup:data:restored"]
    # The blobs are the backup's, and the access archive made since stays with its request.
    blobs = stored_blobs(c)
    assert {b: blobs[b] for b in before_blobs} == before_blobs
    assert set(blobs) == set(before_blobs) | {b for b in archive_blobs if b in blobs}
    assert sign_in(client, extra) == 401
    assert_intact(client, kept)
    download = client.get(
        f"/api/v1/privacy/requests/{r.json()['id']}/download", headers=kept.headers
    )
    assert download.status_code == 200


def audited(c: Container, action: str) -> list[tuple[Any, ...]]:
    """(actor, subject, object, purpose) of each entry with `action`, oldest first."""
    with c.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.actor, AuditEntry.subject, AuditEntry.object, AuditEntry.purpose)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.seq)
        )
        return [tuple(r) for r in rows]


def test_backup_and_restore_are_audited_by_counts_and_the_restored_chain_verifies(
    client: TestClient, worker: Worker, container: Container, cli: Cli, tmp_path: Path
) -> None:
    c = container
    populate(client, worker, grace())
    rows = snapshot(c.engine)
    counts = f"rows:{sum(map(len, rows.values()))}:tables:{len(rows)}:blobs:{len(stored_blobs(c))}"
    assert cli("backup", "create", str(tmp_path / "b.tar")).returncode == 0
    assert audited(c, "backup:data:created") == [("system:cli", None, counts, "security")]
    populate(client, worker, ada())  # after the backup: undone by the restore

    assert cli("backup", "restore", str(tmp_path / "b.tar")).returncode == 0

    # The chain is kept, the backup's own entry in it, and goes on with the restore's:
    # counts only, no path, no name.
    assert audited(c, "backup:data:created") == [("system:cli", None, counts, "security")]
    [(actor, subject, obj, purpose)] = audited(c, "backup:data:restored")
    assert (actor, subject, purpose) == ("system:cli", None, "security")
    loaded = sum(len(t) for name, t in rows.items() if name not in AUDIT_TABLES)
    assert obj.startswith(f"rows:{loaded}:tables:{len(rows) - len(AUDIT_TABLES)}:blobs:")
    assert ":chain:kept:kept:" in obj
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout


def test_a_restore_into_an_emptied_database_gives_new_rows_fresh_ids(
    client: TestClient, worker: Worker, container: Container, cli: Cli, tmp_path: Path
) -> None:
    c = container
    kept = populate(client, worker, grace())
    for _ in range(3):  # rows with integer ids: login failures
        client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong!"})
    assert cli("backup", "create", str(tmp_path / "b.tar")).returncode == 0
    empty_the_data_database(c.engine)

    assert cli("backup", "restore", str(tmp_path / "b.tar")).returncode == 0

    # New rows in tables with integer ids must not collide with the restored ones.
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong!"})
    assert r.status_code == 401
    assert sign_in(client, kept) == 200
    r = client.post("/api/v1/privacy/requests", json={"type": "restriction"}, headers=kept.headers)
    assert r.status_code == 202, r.text
    assert_intact(client, kept)
    audit.verify(c.engine)


def empty_the_data_database(engine: Engine) -> None:
    """As a fresh database would be: no rows, and (PostgreSQL) sequences back at 1."""
    names = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                conn.execute(text(f'DELETE FROM "{name}"'))


def tar_with(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def broken_table(backup: Path, target: Path) -> Path:
    """A well-formed backup whose `users` table has a line that is not a row."""
    with tarfile.open(backup) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    members["tables/users.jsonl"] += b'{"id": "not a whole row"}\n'
    manifest = json.loads(members["manifest.json"])
    manifest["tables"]["users"] += 1
    members["manifest.json"] = json.dumps(manifest).encode()
    return tar_with(target, members)


def missing(good: Path, folder: Path) -> Path:
    return folder / "nothing-here.tar"


def random_bytes(good: Path, folder: Path) -> Path:
    (folder / "junk.tar").write_bytes(os.urandom(30_000))
    return folder / "junk.tar"


def truncated(good: Path, folder: Path) -> Path:
    (folder / "cut.tar").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return folder / "cut.tar"


def traversal(good: Path, folder: Path) -> Path:
    return tar_with(folder / "evil.tar", {"manifest.json": b"{}", "../x": b"owned"})


def not_a_row(good: Path, folder: Path) -> Path:
    return broken_table(good, folder / "broken.tar")


#: Bad input -> (what the operator is told, how to make it from a good backup).
BAD: dict[str, tuple[str, Callable[[Path, Path], Path]]] = {
    "a missing file": ("there is no backup file", missing),
    "a corrupt tar": ("not a readable tar archive", random_bytes),
    "a truncated tar": ("damaged or truncated", truncated),
    "a path-traversal member": ("unexpected member '../x'", traversal),
    "a table line that is not a row": ("table users: line", not_a_row),
}


@pytest.mark.parametrize("case", list(BAD))
def test_restoring_bad_input_exits_2_with_a_reason_and_changes_nothing(
    client: TestClient,
    worker: Worker,
    container: Container,
    cli: Cli,
    tmp_path: Path,
    case: str,
) -> None:
    c = container
    kept = populate(client, worker, grace())
    good = tmp_path / "good.tar"
    assert cli("backup", "create", str(good)).returncode == 0
    message, make = BAD[case]
    bad = make(good, tmp_path)
    # A change after the backup, so that a restore which went through would show.
    populate(client, worker, ada())
    rows, blobs = snapshot(c.engine), stored_blobs(c)

    done = cli("backup", "restore", str(bad))

    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert snapshot(c.engine) == rows
    assert stored_blobs(c) == blobs
    assert not (tmp_path / "x").exists()
    assert_intact(client, kept)


def test_backup_create_refuses_a_folder_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    done = cli("backup", "create", str(tmp_path / "no" / "such" / "dir" / "b.tar"))
    assert done.returncode == 2
    assert "cannot write the backup file" in done.stderr


def test_backup_help_warns_that_the_file_holds_personal_data(cli: Cli) -> None:
    done = cli("backup", "create", "--help")
    assert done.returncode == 0
    assert "personal data" in done.stdout
    assert "0600" in done.stdout
