"""Scoping a backup file: whose rows it holds, read from its tables without restoring it.

A backup (operations/backup.py) is a tar of `tables/<table>.jsonl` and the blob ciphertexts
with a manifest; it holds the data database and blobs but not the key store. The subjects are
the owners of its rows, found through the same registry declarations as in the live database;
a child's owner through its parent's rows in the same backup.
"""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from minimaker.breach.scope_rows import Found
from minimaker.kernel.personal_data import PersonalTable, Registry, ViaParent
from minimaker.operations.backup import FORMAT, MANIFEST, VERSION, BackupError


@dataclass(frozen=True)
class BackupScope:
    """What a backup holds of whom, and when it was made."""

    found: Found
    created_at: datetime
    blobs: int


def scope_backup(path: Path, registry: Registry) -> BackupScope:
    """The subjects and records in the backup at `path`; BackupError if it is not one."""
    with _open(path) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isreg()}
        manifest = _manifest(tar, members)
        reader = _Reader(tar, members)
        found = Found()
        for d in registry.personal:
            _count(reader, d, found)
        wanted = {s for per in found.records.values() for s in per}
        found.subjects |= wanted
    return BackupScope(found, _created_at(manifest), _blob_count(manifest))


@contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    if not path.is_file():
        raise BackupError("there is no backup file at that path")
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError("the file is not a readable tar archive") from None
    try:
        with tar:
            yield tar
    except (tarfile.TarError, OSError, EOFError):
        raise BackupError("the tar archive is damaged or truncated") from None


def _manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> dict[str, object]:
    if MANIFEST not in members:
        raise BackupError("the archive has no manifest: not a MiniMaker backup")
    src = tar.extractfile(members[MANIFEST])
    try:
        manifest = json.loads(src.read()) if src is not None else None
    except ValueError:
        raise BackupError("the manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("the manifest does not describe a MiniMaker backup")
    if manifest.get("version") != VERSION:
        raise BackupError("backup format version is not supported")
    return manifest


def _created_at(manifest: dict[str, object]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(manifest.get("created_at")))
    except ValueError:
        raise BackupError("the manifest has no valid creation time") from None
    if moment.tzinfo is None:
        raise BackupError("the manifest has no valid creation time")
    return moment


def _blob_count(manifest: dict[str, object]) -> int:
    blobs = manifest.get("blobs")
    return blobs if isinstance(blobs, int) else 0


class _Reader:
    """The rows of a backup's tables, one JSON object a line, and the owners of parent rows."""

    def __init__(self, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> None:
        self._tar, self._members = tar, members
        self._parents: dict[tuple[str, str, str], dict[object, object]] = {}

    def has(self, table: str) -> bool:
        return f"tables/{table}.jsonl" in self._members

    def rows(self, table: str) -> Iterator[dict[str, object]]:
        src = self._tar.extractfile(self._members[f"tables/{table}.jsonl"])
        if src is None:
            return
        for number, line in enumerate(src, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                raise BackupError(f"table {table}: line {number} is not a valid row") from None
            if not isinstance(row, dict):
                raise BackupError(f"table {table}: line {number} is not a valid row")
            yield row

    def owners_of(self, via: ViaParent) -> dict[object, object]:
        """The parent table's key -> owner, read once."""
        name = str(via.parent.__tablename__)
        cache = (name, via.key, via.owner)
        if cache not in self._parents:
            rows = self.rows(name) if self.has(name) else iter(())
            self._parents[cache] = {r.get(via.key): r.get(via.owner) for r in rows}
        return self._parents[cache]


def _count(reader: _Reader, d: PersonalTable, found: Found) -> None:
    if d.owner is None:
        if reader.has(d.name):
            found.notes.append(
                f"the backup's rows of {d.name} ({d.category}) are pseudonymous under keys kept "
                "in the key store, not in the backup: attributed to no one"
            )
        return
    if not reader.has(d.name):
        found.notes.append(f"the backup has no table {d.name} (an older schema): not counted")
        return
    per: Counter[str] = Counter()
    if isinstance(d.owner, ViaParent):
        owners, link = reader.owners_of(d.owner), d.owner.link
        per.update(str(o) for r in reader.rows(d.name) if (o := owners.get(r.get(link))))
    else:
        column = d.owner
        per.update(str(o) for r in reader.rows(d.name) if (o := r.get(column)))
    for subject_id, n in per.items():
        found.add(d.category, subject_id, n)
