"""Backups: a logical dump of the data database plus the blob files, in one tar file.

The data keys are NOT in a backup: they live in the key store, a database of its own
(minimaker.adapters.keystore). That separation is what makes erasure stay erased (Art. 17): a
backup taken before an erasure holds the subject's rows and blobs only as ciphertext under a
key that no longer exists, and a restore (minimaker.operations.restore) ends by replaying the
erasure ledger, which deletes those rows and blobs again.

A backup still is personal data (ciphertext, pseudonymous ids, keyed hashes): it is written
with mode 0600 and must be kept like the database itself.

Layout: `tables/<table>.jsonl` (one JSON object per row; bytes base64, datetimes ISO 8601),
`blobs/<shard>/<blob id>` (the stored ciphertext, byte for byte), `manifest.json` (format,
schema revision, row counts). Tables are in dependency order, parents first.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, LargeBinary, Table, select

from minimaker.adapters.db import Base, UTCDateTime
from minimaker.adapters.private_files import PrivateFileWriter
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import BadRequest, NotFound
from minimaker.operations import events

FORMAT, VERSION = "minimaker-backup", 1
MANIFEST = "manifest.json"
BLOB_MEMBER = re.compile(r"blobs/([0-9a-f]{2})/(\1[0-9a-f]{30})")
BATCH = 1000


class BackupError(BadRequest):
    """A backup cannot be written or read; the database and blobs were left as they were."""

    code = "backup_error"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"backup: {reason}")


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds or a restore brought back (counts only)."""

    tables: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    replayed: int = 0


def tables() -> list[Table]:
    """Every table of the data database, parents before children (key store excluded)."""
    return list(Base.metadata.sorted_tables)


def create_backup(c: Container, path: Path) -> BackupReport:
    """Write a backup of the data database and blobs to `path` (mode 0600, atomically)."""
    try:
        out = PrivateFileWriter(path)
    except OSError as exc:
        raise BackupError(f"cannot write the backup file ({exc.strerror})") from None
    with out as fh:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
            report = _write_all(c, tar, scratch=Path(path).parent)
        # Audited before the file takes its name: no backup exists that was not accounted for.
        with c.uow() as uow:
            uow.audit(events.BACKUP_CREATED, actor=SYSTEM_CLI, object=audit_object(report))
            uow.commit()
    return report


def audit_object(report: BackupReport) -> str:
    """The audit entry's object for a backup or restore: counts only."""
    rows = sum(report.tables.values())
    return f"rows:{rows}:tables:{len(report.tables)}:blobs:{report.blobs}"


def _write_all(c: Container, tar: tarfile.TarFile, *, scratch: Path) -> BackupReport:
    counts: dict[str, int] = {}
    with _snapshot(c) as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        for table in tables():
            counts[table.name] = _write_table(conn, table, tar, scratch=scratch)
        # Inside the snapshot: blobs deleted after it may be missing, never the reverse
        # (a blob written later is an unreferenced stray, harmless to restore).
        blobs = _write_blobs(c, tar)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": c.clock.now().isoformat(),
        "schema_revision": revision,
        "tables": counts,
        "blobs": blobs,
    }
    _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
    return BackupReport(tables=counts, blobs=blobs)


@contextmanager
def _snapshot(c: Container) -> Iterator[Connection]:
    """One read transaction over every table, so the dump is consistent."""
    with c.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _write_table(conn: Connection, table: Table, tar: tarfile.TarFile, *, scratch: Path) -> int:
    """Dump one table as JSON lines into the tar; returns its row count."""
    columns = list(table.columns)
    query = select(table).order_by(*table.primary_key.columns)
    count = 0
    # The spill file lives beside the backup (same protection), never in a shared /tmp.
    with tempfile.TemporaryFile(dir=scratch) as spill:
        result = conn.execute(query, execution_options={"yield_per": BATCH})
        for partition in result.partitions():
            for row in partition:
                record = {
                    col.name: _encode(col, value) for col, value in zip(columns, row, strict=True)
                }
                spill.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                count += 1
        _add_file(tar, f"tables/{table.name}.jsonl", spill)
    return count


def _write_blobs(c: Container, tar: tarfile.TarFile) -> int:
    store, count = c.blobs.store, 0
    for blob_id in list(store.iter_ids()):
        try:
            src = store.open_read(blob_id)
        except NotFound:
            continue  # deleted since it was listed: not part of this backup
        with src:
            _add_file(tar, f"blobs/{blob_id[:2]}/{blob_id}", src)
        count += 1
    return count


def _add_file(tar: tarfile.TarFile, name: str, src: IO[bytes] | BinaryIO) -> None:
    src.seek(0, os.SEEK_END)
    info = _info(name, src.tell())
    src.seek(0)
    tar.addfile(info, src)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    with tempfile.SpooledTemporaryFile() as buf:
        buf.write(data)
        _add_file(tar, name, buf)


def _info(name: str, size: int) -> tarfile.TarInfo:
    # No owner names, no source paths: only our own member names and 0600.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def _encode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(value).decode("ascii")
    if isinstance(column.type, UTCDateTime):
        return value.isoformat()
    return value
