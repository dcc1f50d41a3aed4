"""Restore: the backup's rows and blobs put back, the records since kept, the ledger replayed.

The archive is checked whole before anything changes (a strict whitelist of member names, the
manifest, the schema revision, every member read through once); the rows are replaced in one
unit of work that also records the restore in the audit chain; the blobs follow. What happened
after the backup is not rolled back (operations/restore_carry.py, docs/decisions/0013): the
rights requests with their deadlines and steps, the links sent, the archives, the disclosure
log, the outbox (nothing sent is sent again) and the audit chain, which goes on with the
restore's own entry. Whoever was erased after the backup was taken is erased again at once
(Art. 17): their keys are not in the backup, and the ledger in the key store names them.
The report says what was rolled back and what was kept, in counts.
"""

from __future__ import annotations

import base64
import json
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy.exc
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, LargeBinary, Table, insert, text

from minimaker.adapters.db import UTCDateTime
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.operations import events
from minimaker.operations import restore_carry as carry
from minimaker.operations.backup import (
    BATCH,
    BLOB_MEMBER,
    FORMAT,
    MANIFEST,
    VERSION,
    BackupError,
    tables,
)
from minimaker.operations.restore_carry import ChainMode, RolledBack
from minimaker.rights import erasure

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did, in counts only: for the operator and the audit entry."""

    tables: dict[str, int] = field(default_factory=dict)  # rows loaded from the backup
    blobs: int = 0  # blobs of the backup written back
    replayed: int = 0  # subjects the erasure ledger named, erased again
    backup_created_at: str = ""
    chain: str = ChainMode.KEEP.value  # the audit chain: kept, taken or replaced
    audit_entries: int = 0  # entries in the chain before the restore's own
    kept: dict[str, int] = field(default_factory=dict)  # records kept from before, per table
    mail_kept_sent: int = 0  # messages kept as sent: never sent again
    rolled_back: dict[str, RolledBack] = field(default_factory=dict)  # per table
    blobs_removed: int = 0  # blobs made since the backup, deleted
    mail_withdrawn: int = 0  # unsent mail of the backup to erased subjects, dropped
    audit_replaced: int = 0  # entries of a diverged chain replaced by --replace-audit-chain

    def summary(self) -> list[str]:
        """What a restore tells the operator: counts per table, never an id or a name."""
        rows = sum(self.tables.values())
        lines = [
            f"restored {rows} row(s) and {self.blobs} blob(s) from the backup of "
            f"{self.backup_created_at or 'an unknown time'}",
            f"audit chain {self.chain}: {self.audit_entries} entries, then the restore's own",
        ]
        if self.audit_replaced:
            lines.append(f"replaced a diverged audit chain of {self.audit_replaced} entries")
        rolled = [
            f"{name} {r.removed} removed, {r.returned} brought back"
            for name, r in sorted(self.rolled_back.items())
        ]
        lines.append("rolled back: " + ("; ".join(rolled) or "nothing"))
        lines.append(f"blobs made since the backup, removed: {self.blobs_removed}")
        kept = [f"{name} {n}" for name, n in self.kept.items()]
        lines.append("kept as they were: " + (", ".join(kept) or "nothing (the backup is newer)"))
        lines.append(f"mail kept as sent (not sent again): {self.mail_kept_sent}")
        if self.mail_withdrawn:
            lines.append(f"unsent mail to erased subjects withdrawn: {self.mail_withdrawn}")
        return lines


def restore_backup(c: Container, path: Path, *, replace_chain: bool = False) -> RestoreReport:
    """Put back the backup's rows and blobs, keep the records since, re-erase whom the ledger
    names. `replace_chain`: restore even when the audit chain does not continue the backup's
    (its entries after the divergence are lost, and the report says how many)."""
    with _open(Path(path)) as tar:
        members = _members(tar)
        manifest = _manifest(tar, members)
        _check_schema(c, manifest)
        _check_readable(tar, members)
        report, before, keep_blobs = _restore_rows(c, tar, members, manifest, replace_chain)
        blobs, removed = _restore_blobs(c, tar, members, keep=keep_blobs)
    # Art. 17: whoever was erased after the backup was taken is erased again, at once.
    replayed = erasure.replay_ledger(c)
    with c.uow(write=False) as uow:  # what the restore took back, once the replay is done
        rolled = carry.rolled_back(before, carry.survey(uow.session.connection()))
    done = {"blobs": blobs, "blobs_removed": removed, "replayed": replayed, "rolled_back": rolled}
    return RestoreReport(**{**report.__dict__, **done})


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
    replace_chain: bool,
) -> tuple[RestoreReport, dict[str, set[Any]], set[str]]:
    """In one unit of work: read the records to keep, replace the rows, put the records back,
    audit it all. Returns the report, the keys of the rows before, the blobs records name."""
    try:
        with c.uow() as uow:
            before = carry.survey(uow.session.connection())
            report, records = _replace_in(uow, tar, members, manifest, replace_chain)
            # The commit signs a restore checkpoint; verify tells this recorded restore from
            # a silent cut when the chain was taken from the backup (shorter than before).
            uow.audit(events.BACKUP_RESTORED, actor=SYSTEM_CLI, object=audit_object(report))
            uow.record_restore(report.audit_entries)
            uow.commit()
    except sqlalchemy.exc.StatementError as exc:
        # Rolled back: the database is as it was. Only the error's class is reported.
        raise BackupError(f"the rows could not be restored ({type(exc.orig).__name__})") from None
    return report, before, records.blob_ids()


def _replace_in(
    uow: UnitOfWork,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    manifest: dict[str, Any],
    replace_chain: bool,
) -> tuple[RestoreReport, carry.Records]:
    conn = uow.session.connection()
    mode, seq, digest = carry.chain_mode(conn, _backup_head(tar, members))
    records = carry.read(conn) if mode is ChainMode.KEEP else carry.Records()
    counts = _replace_rows(conn, tar, members, manifest, keep_chain=mode is ChainMode.KEEP)
    if mode is ChainMode.TAKE and not carry.continues_backup(conn, seq, digest):
        mode = ChainMode.DIVERGED
    if mode is ChainMode.DIVERGED and not replace_chain:
        raise BackupError(
            "the audit chain of this database does not continue the backup's (a backup of "
            "another installation, or a damaged chain): nothing was changed; run `minimaker "
            "audit verify`, and restore with --replace-audit-chain only if you mean to"
        )
    kept = carry.put_back(conn, records) if mode is ChainMode.KEEP else {}
    withdrawn = 0
    if mode is not ChainMode.KEEP:
        # Nothing tells which of the backup's unsent mail went out since; to an erased
        # subject none of it goes (the ledger names them).
        withdrawn = outbox.withdraw_unsent(uow, subject_ids=uow.c.keys.erased_subjects())
    _reset_sequences(conn)
    entries = _chain_length(conn)
    report = RestoreReport(
        tables=counts,
        blobs=sum(1 for name in members if BLOB_MEMBER.fullmatch(name)),
        backup_created_at=str(manifest.get("created_at", "")),
        chain=mode.value,
        audit_entries=entries,
        kept=kept,
        mail_kept_sent=records.count("outbox", status=outbox.SENT),
        mail_withdrawn=withdrawn,
        # The entries of a chain replaced knowingly: gone, and said so.
        audit_replaced=seq if mode is ChainMode.DIVERGED else 0,
    )
    return report, records


def audit_object(report: RestoreReport) -> str:
    """The restore's audit entry: counts only (no path, no id, no name)."""
    rows = sum(report.tables.values())
    return (
        f"rows:{rows}:tables:{len(report.tables)}:blobs:{report.blobs}:chain:{report.chain}:"
        f"kept:{sum(report.kept.values())}:mail_sent:{report.mail_kept_sent}"
    )


def _backup_head(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> tuple[int, str]:
    """The backup's audit head (seq, hash); (0, "") for a backup of an empty chain."""
    lines = _read(tar, members["tables/audit_head.jsonl"]).splitlines()
    try:
        heads = [json.loads(line) for line in lines if line.strip()]
        if not heads:
            return 0, ""
        if len(heads) != 1:
            raise ValueError("one head")
        return int(heads[0]["seq"]), str(heads[0]["hash"])
    except (ValueError, TypeError, KeyError):
        raise BackupError("table audit_head: not a valid chain head") from None


def _chain_length(conn: Connection) -> int:
    """How many audit entries the chain holds before the restore's own (its head's seq)."""
    seq = conn.execute(text("SELECT seq FROM audit_head")).scalar_one_or_none()
    return int(seq or 0)


def _replace_rows(
    conn: Connection,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    manifest: dict[str, Any],
    *,
    keep_chain: bool,
) -> dict[str, int]:
    """Every table emptied and loaded from the backup; the audit chain left as it is when
    `keep_chain` (it continues the backup's, which it holds whole). Rows loaded, per table."""
    counts: dict[str, int] = {}
    replaced = [t for t in tables() if not (keep_chain and t.name in carry.AUDIT_TABLES)]
    for table in reversed(replaced):
        conn.execute(table.delete())
    for table in replaced:
        src = tar.extractfile(members[f"tables/{table.name}.jsonl"])
        assert src is not None
        counts[table.name] = _load_table(conn, table, src)
        if counts[table.name] != manifest["tables"][table.name]:
            raise BackupError(f"table {table.name} does not match its manifest")
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


def _restore_blobs(
    c: Container, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], *, keep: set[str]
) -> tuple[int, int]:
    """Write every blob of the backup byte for byte; remove every blob it does not have but
    those the kept records name. Returns (written, removed)."""
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
    removed = 0
    for blob_id in list(store.iter_ids()):
        if blob_id not in wanted and blob_id not in keep:
            store.delete(blob_id)
            removed += 1
    return len(wanted), removed


def _decode(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value, validate=True)
    if isinstance(column.type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value
