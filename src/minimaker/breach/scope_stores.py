"""Scoping what was taken from a store: blobs, the database, the blob store, a backup, a key.

Copies of stored data (blobs, the database, a backup) hold the subjects' photos, models and
sealed columns as ciphertext under their data keys; those keys live in the key store, wrapped
by a master key held in neither. A key exposure is the opposite case: what it unwraps is
readable to whoever also has the ciphertext, so it never counts as protected.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from minimaker.breach import scope_keys
from minimaker.breach.exposure import Exposure
from minimaker.breach.scope_backup import scope_backup
from minimaker.breach.scope_rows import (
    ExposureInvalid,
    Finding,
    Found,
    chunks,
    count_rows,
    every_owner,
    owner_query,
)
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork

BACKUP_PREFIX = "backup:"
SUBJECT_PREFIX, MASTER_PREFIX = "subject:", "master:"
LOCATIONS = ("database", "blobs", "backup:<file>")

COPY_WHY = (
    "The exposed copy holds photos, models and sealed columns (names, emails, usernames, "
    "request details, mail) as AES-256-GCM ciphertext under each subject's data key; the data "
    "keys are in the key store, wrapped by a master key that is in neither the data database "
    "nor a backup, and no key was exposed."
)
IN_CLEAR = (
    "Not encrypted in a copy of the data: pseudonymous ids, times, sizes, kinds and states "
    "(media types, model parameters, request types and statuses, objections and consents by "
    "purpose, disclosure recipients, staff-written notes on requests and legal holds), "
    "password hashes (argon2, salted) and keyed blind indexes whose key is in the key store; "
    "none names or contacts a person by itself."
)


def check_ref(kind: str, ref: str) -> None:
    """LocationInvalid / KeyRefInvalid for a reference that cannot name a location or key."""
    if kind == "location":
        if ref not in ("database", "blobs") and not (
            ref.startswith(BACKUP_PREFIX) and len(ref) > len(BACKUP_PREFIX)
        ):
            raise ExposureInvalid("ref", f"a location is one of {', '.join(LOCATIONS)}")
    elif kind == "key":
        if ref.startswith(SUBJECT_PREFIX) and is_id(ref.removeprefix(SUBJECT_PREFIX)):
            return
        if ref.startswith(MASTER_PREFIX) and scope_keys.KEK_ID.fullmatch(
            ref.removeprefix(MASTER_PREFIX)
        ):
            return
        raise ExposureInvalid("ref", "a key is subject:<subject id> or master:<16-hex key id>")


def blobs(c: Container, uow: UnitOfWork, e: Exposure, now: datetime) -> Finding:
    """The owners of the blobs, through the registry's blob columns; others counted apart."""
    wanted, named, found = set(e.blob_ids), set[str](), Found()
    for d in c.personal_data.with_blobs():
        per: Counter[str] = Counter()
        for column in d.blobs:
            blob = getattr(d.table, column)
            query, _ = owner_query(d, blob)
            for chunk in chunks(wanted):
                for owner, blob_id in uow.session.execute(query.where(blob.in_(chunk))):
                    named.add(str(blob_id))
                    per[str(owner)] += 1
        for owner, n in per.items():
            found.subjects.add(owner)
            found.add(d.category, owner, n)
    rest = wanted - named
    corpus = _non_personal_blobs(c, uow, rest)
    if corpus:
        found.notes.append(f"{corpus} blob(s) belong to non-personal tables: no one's data")
    if len(rest) - corpus:
        found.notes.append(f"{len(rest) - corpus} blob id(s) are named by no row (unknown)")
    return Finding(found, encrypted=True, why=COPY_WHY)


def _non_personal_blobs(c: Container, uow: UnitOfWork, ids: set[str]) -> int:
    hits: set[str] = set()
    for d in c.personal_data.not_personal:
        for column in d.blobs:
            blob = getattr(d.table, column)
            for chunk in chunks(ids):
                hits.update(
                    str(b) for b in uow.session.scalars(select(blob).where(blob.in_(chunk)))
                )
    return len(hits)


def location(c: Container, uow: UnitOfWork, e: Exposure, now: datetime) -> Finding:
    """Everyone with data in the database, the blob store or a backup file."""
    if e.ref == "database":
        found = count_rows(uow, c.personal_data, every_owner(uow, c.personal_data))
    elif e.ref == "blobs":
        found = _blob_store(c, uow)
    else:
        return _backup(c, uow, backup_file(c, e.ref))
    found.notes.append(IN_CLEAR)
    return Finding(found, encrypted=True, why=COPY_WHY)


def backup_file(c: Container, ref: str) -> Path:
    """The file a `backup:<file>` reference names: a file inside the backup directory
    (MINIMAKER_BACKUP_DIR), relative to it or absolute; anything else is refused before any
    file is looked at, so a reference cannot probe the server's other files."""
    folder = c.settings.backup_dir.resolve()
    path = (folder / ref.removeprefix(BACKUP_PREFIX)).resolve()
    if path == folder or not path.is_relative_to(folder):
        raise ExposureInvalid(
            "ref", "a backup is a file in the backup directory (MINIMAKER_BACKUP_DIR)"
        )
    return path


def _blob_store(c: Container, uow: UnitOfWork) -> Found:
    stored = set(c.blobs.store.iter_ids())
    found = Found()
    for d in c.personal_data.with_blobs():
        per: Counter[str] = Counter()
        for column in d.blobs:
            query, _ = owner_query(d, getattr(d.table, column))
            per.update(
                str(owner) for owner, blob_id in uow.session.execute(query) if blob_id in stored
            )
        for owner, n in per.items():
            found.subjects.add(owner)
            found.add(d.category, owner, n)
    return found


def _backup(c: Container, uow: UnitOfWork, path: Path) -> Finding:
    held = scope_backup(path, c.personal_data)
    found = held.found
    found.notes.append(IN_CLEAR)
    erased = found.subjects & set(c.keys.erased_subjects())
    if erased:
        found.notes.append(
            f"{len(erased)} subject(s) in the backup were erased since: their data keys are "
            "destroyed, so their data in it is unreadable to anyone"
        )
    why = COPY_WHY + " A backup holds the data database and blobs, never the key store."
    later = scope_keys.rotated_since(uow, held.created_at)
    if later:
        why += (
            f" The master key was rotated {len(later)} time(s) since the backup was made: even "
            "the master key of its time opens no key of the key store now."
        )
    return Finding(found, encrypted=True, why=why)


def key(c: Container, uow: UnitOfWork, e: Exposure, now: datetime) -> Finding:
    """Whose data the key opens: one subject's, or every subject's a master key wraps."""
    if e.ref.startswith(SUBJECT_PREFIX):
        subject_id = e.ref.removeprefix(SUBJECT_PREFIX)
        found = count_rows(uow, c.personal_data, {subject_id})
        if not found.records and not c.keys.has_subject_key(subject_id):
            raise NotFound("subject")
        why = (
            "The subject's data key was exposed: it decrypts their photos, models and sealed data."
        )
        return Finding(found, encrypted=False, why=why)
    reach = scope_keys.master_reach(c, uow, e.ref.removeprefix(MASTER_PREFIX))
    found = count_rows(uow, c.personal_data, reach.subject_ids)
    found.notes.append(f"The master key exposed is {reach.note}.")
    why = (
        "A master key was exposed: it unwraps the data keys it wraps, and they decrypt those "
        "subjects' photos, models and sealed data."
    )
    return Finding(found, encrypted=False, why=why)
