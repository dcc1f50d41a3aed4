"""Backups: a logical dump of the data database plus the blob files, in one tar file.

The data keys are NOT in a backup: they live in the key store, a database of its own
(minimaker.adapters.keystore). That separation is what makes erasure stay erased (Art. 17): a
backup taken before an erasure holds the subject's rows and blobs only as ciphertext under a
key that no longer exists, and `restore_backup` ends by replaying the erasure ledger, which
deletes those rows and blobs again.

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
import secrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import sqlalchemy.exc
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, LargeBinary, Table, insert, select, text

from minimaker.adapters.db import WRITE_OPTION, Base, UTCDateTime
from minimaker.kernel.container import Container
from minimaker.kernel.errors import BadRequest, NotFound
from minimaker.rights import erasure

FORMAT, VERSION = "minimaker-backup", 1
MANIFEST = "manifest.json"
_BLOB_MEMBER = re.compile(r"blobs/([0-9a-f]{2})/(\1[0-9a-f]{30})")
_TABLE_MEMBER = re.compile(r"tables/([a-z_]+)\.jsonl")
_BATCH = 1000
_COPY_CHUNK = 1 << 20


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


# --- create -------------------------------------------------------------------------------


def create_backup(c: Container, path: Path) -> BackupReport:
    """Write a backup of the data database and blobs to `path` (mode 0600, atomically)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot write the backup file ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                report = _write_all(c, tar, scratch=path.parent)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return report


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
        result = conn.execute(query, execution_options={"yield_per": _BATCH})
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


def _decode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value, validate=True)
    if isinstance(column.type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value


# --- restore ------------------------------------------------------------------------------


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
        allowed = info.name in known or _BLOB_MEMBER.fullmatch(info.name)
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
    """In one transaction: empty every table (children first), then load the dump."""
    counts: dict[str, int] = {}
    with c.engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        try:
            with conn.begin():
                for table in reversed(tables()):
                    conn.execute(table.delete())
                for table in tables():
                    src = tar.extractfile(members[f"tables/{table.name}.jsonl"])
                    assert src is not None
                    counts[table.name] = _load_table(conn, table, src)
                    if counts[table.name] != manifest["tables"][table.name]:
                        raise BackupError(f"table {table.name} does not match its manifest")
                _reset_sequences(conn)
        except sqlalchemy.exc.StatementError as exc:
            # Rolled back: the database is as it was. Only the error's class is reported.
            raise BackupError(
                f"the rows could not be restored ({type(exc.orig).__name__})"
            ) from None
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
        if len(batch) >= _BATCH:
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
        match = _BLOB_MEMBER.fullmatch(name)
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
