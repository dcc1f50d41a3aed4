"""Restore: every row and blob replaced with a backup's, then the erasure ledger replayed.

The archive is checked whole before anything changes (a strict whitelist of member names, the
manifest, the schema revision, every member read through once); the rows are replaced in one
unit of work that also records the restore in the audit chain; the blobs follow. Whoever was
erased after the backup was taken is erased again at once (Art. 17): their keys are not in the
backup, and the ledger in the key store names them.
"""

from __future__ import annotations

import base64
import json
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy.exc
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, LargeBinary, Table, insert, text

from minimaker.adapters.db import UTCDateTime
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.operations import events
from minimaker.operations.backup import (
    BATCH,
    BLOB_MEMBER,
    FORMAT,
    MANIFEST,
    VERSION,
    BackupError,
    BackupReport,
    audit_object,
    tables,
)
from minimaker.rights import erasure

_COPY_CHUNK = 1 << 20


def restore_backup(c: Container, path: Path) -> BackupReport:
    """Replace every row and blob with the backup's, then erase again whom the ledger names."""
    with _open(Path(path)) as tar:
        members = _members(tar)
        manifest = _manifest(tar, members)
        _check_schema(c, manifest)
        _check_readable(tar, members)
        counts = _restore_rows(c, tar, members, manifest)
        blobs = _restore_blobs(c, tar, members)
    # Art. 17: whoever was erased after the backup was taken is erased again, at once.
    replayed = erasure.replay_ledger(c)
    return BackupReport(tables=counts, blobs=blobs, replayed=replayed)


@contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    if not path.is_file():
        raise BackupError("there is no backup file at that path")
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError("the file is not a readable tar archive") from None
    with tar:
        yield tar


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Every member by name, each one we could have written; anything else is refused."""
    try:
        found = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError("the tar archive is damaged or truncated") from None
    known = {f"tables/{t.name}.jsonl" for t in tables()} | {MANIFEST}
    members: dict[str, tarfile.TarInfo] = {}
    for info in found:
        # A strict whitelist: no "../x", no absolute paths, links or devices ever get near
        # the disk (nothing is extracted by its member name anyway).
        allowed = info.name in known or BLOB_MEMBER.fullmatch(info.name)
        if not allowed or not info.isreg():
            raise BackupError(f"unexpected member {info.name[:80]!r} in the archive")
        if info.name in members:
            raise BackupError(f"member {info.name[:80]!r} appears twice")
        members[info.name] = info
    return members


def _manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> dict[str, Any]:
    if MANIFEST not in members:
        raise BackupError("the archive has no manifest: not a MiniMaker backup")
    try:
        manifest = json.loads(_read(tar, members[MANIFEST]))
    except (ValueError, tarfile.TarError, OSError):
        raise BackupError("the manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("the manifest does not describe a MiniMaker backup")
    if manifest.get("version") != VERSION:
        raise BackupError(f"backup format version {manifest.get('version')!r} is not supported")
    names = {t.name for t in tables()}
    listed = manifest.get("tables")
    if not isinstance(listed, dict) or set(listed) != names:
        raise BackupError("the manifest does not list exactly this database's tables")
    missing = [n for n in sorted(names) if f"tables/{n}.jsonl" not in members]
    if missing:
        raise BackupError(f"the archive lacks table {missing[0]}")
    return manifest


def _check_schema(c: Container, manifest: dict[str, Any]) -> None:
    with c.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if manifest.get("schema_revision") != current:
        raise BackupError(
            f"the backup is of schema revision {manifest.get('schema_revision')!r} but the "
            f"database is at {current!r}: restore into a database at the same revision"
        )


def _check_readable(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> None:
    """Read every member through once, so a truncated archive fails before any change."""
    try:
        for info in members.values():
            src = tar.extractfile(info)
            assert src is not None  # regular files only, checked in _members
            while src.read(_COPY_CHUNK):
                pass
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError("the tar archive is damaged or truncated") from None


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    src = tar.extractfile(info)
    assert src is not None
    return src.read()


def _restore_rows(
    c: Container,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    manifest: dict[str, Any],
) -> dict[str, int]:
    """In one unit of work: empty every table (children first), load the dump, audit it."""
    blobs = sum(1 for name in members if BLOB_MEMBER.fullmatch(name))
    try:
        with c.uow() as uow:
            conn = uow.session.connection()
            counts = _replace_rows(conn, tar, members, manifest)
            # After the rows: the restored chain is the one that records its restoring, so
            # `audit verify` walks it from the backup's entries on to this one. The commit
            # signs a restore checkpoint: the chain is shorter than the checkpoints before it,
            # and verify must tell this recorded restore from a silent cut.
            report = BackupReport(tables=counts, blobs=blobs)
            uow.audit(events.BACKUP_RESTORED, actor=SYSTEM_CLI, object=audit_object(report))
            uow.record_restore(_chain_length(conn))
            uow.commit()
    except sqlalchemy.exc.StatementError as exc:
        # Rolled back: the database is as it was. Only the error's class is reported.
        raise BackupError(f"the rows could not be restored ({type(exc.orig).__name__})") from None
    return counts


def _chain_length(conn: Connection) -> int:
    """How many audit entries the backup brought back (its head's seq; 0 if none)."""
    seq = conn.execute(text("SELECT seq FROM audit_head")).scalar_one_or_none()
    return int(seq or 0)


def _replace_rows(
    conn: Connection,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    manifest: dict[str, Any],
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in reversed(tables()):
        conn.execute(table.delete())
    for table in tables():
        src = tar.extractfile(members[f"tables/{table.name}.jsonl"])
        assert src is not None
        counts[table.name] = _load_table(conn, table, src)
        if counts[table.name] != manifest["tables"][table.name]:
            raise BackupError(f"table {table.name} does not match its manifest")
    _reset_sequences(conn)
    return counts


def _load_table(conn: Connection, table: Table, src: IO[bytes]) -> int:
    columns = {col.name: col for col in table.columns}
    batch: list[dict[str, Any]] = []
    count = 0
    for number, line in enumerate(src, start=1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or set(record) != set(columns):
                raise ValueError("columns differ")
            batch.append({k: _decode(columns[k], v) for k, v in record.items()})
        except (ValueError, TypeError):
            raise BackupError(f"table {table.name}: line {number} is not a valid row") from None
        if len(batch) >= BATCH:
            count += _flush(conn, table, batch)
    return count + _flush(conn, table, batch)


def _flush(conn: Connection, table: Table, batch: list[dict[str, Any]]) -> int:
    if not batch:
        return 0
    conn.execute(insert(table), batch)
    done = len(batch)
    batch.clear()
    return done


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: move each SERIAL past the ids just inserted, so new rows do not collide."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's INTEGER PRIMARY KEY takes max(rowid) + 1 by itself
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), "  # noqa: S608 - our table names
                f'COALESCE((SELECT MAX("{pk[0].name}") FROM "{table.name}"), 0) + 1, false)'
            ),
            {"t": table.name, "c": pk[0].name},
        )


def _restore_blobs(c: Container, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> int:
    """Write every blob of the backup byte for byte; remove every blob it does not have."""
    store, wanted = c.blobs.store, set()
    for name, info in members.items():
        match = BLOB_MEMBER.fullmatch(name)
        if match is None:
            continue
        blob_id = match.group(2)
        src = tar.extractfile(info)
        assert src is not None
        with store.open_write(blob_id) as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        wanted.add(blob_id)
    for blob_id in list(store.iter_ids()):
        if blob_id not in wanted:
            store.delete(blob_id)
    return len(wanted)


def _decode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value, validate=True)
    if isinstance(column.type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value
