"""Signed checkpoints of the audit chain, kept where a writer of the data database cannot reach.

A checkpoint says "the chain had `size` entries and its last hash was `head`, at `time`", in
the spirit of C2SP's signed checkpoints (tlog-checkpoint + signed-note): an origin line, the
tree size (here the seq of the last entry), the head hash in base64, then extension lines
(the checkpoint's own number, its time, why it was taken, and for a restore what it
replaced), a blank line and one signature line `— <key name> <base64(key id || HMAC)>`.

Threat: someone who can write the data database (a stolen database password, an injected
statement, a careless restore) rewrites the audit log and its head consistently; the hash
chain alone cannot tell. Every checkpoint is therefore written twice, outside that database:
into the key store (its own database) and into an append-only file under the data directory
(O_APPEND, 0600, fsynced). The key (HMAC-SHA256) is HKDF-derived from a service secret that
only the master key unwraps, so neither store's writer can forge one. See docs/decisions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from minimaker.adapters import audit_chain
from minimaker.adapters.db import WRITE_OPTION
from minimaker.adapters.keystore import AuditCheckpointRecord
from minimaker.adapters.private_files import fsync_dir
from minimaker.kernel.audit import CheckpointKind
from minimaker.kernel.errors import IntegrityError

ORIGIN = "minimaker.audit/v1"
KEY_NAME = "minimaker-audit"
SECRET_NAME = "audit_checkpoint"  # noqa: S105 - the name of a key-store secret, not a secret
_INFO = b"minimaker/audit-checkpoint/v1"
_KEY_ID_INFO = b"minimaker/audit-checkpoint/key-id/v1"
_DASH = "\u2014"  # C2SP signed notes start each signature line with an em dash
Kind = CheckpointKind  # why a checkpoint was taken: periodic, event, restore (kernel/audit.py)
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class CheckpointRefused(IntegrityError):
    """No checkpoint was taken: signing would vouch for a chain that lost anchored entries."""

    code = "audit_checkpoint_refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"audit checkpoint refused: {reason}")


class CheckpointForged(IntegrityError):
    """A stored checkpoint does not open under our key, or is not one we could have written."""

    code = "audit_checkpoint_forged"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"audit checkpoint invalid: {reason}")


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement about the chain; `restored`/`replaced` only on a restore."""

    n: int  # the checkpoint's own number, 1, 2, 3... without gaps
    size: int  # entries in the chain (the seq of the last one)
    head: str  # hex SHA-256 of entry `size` (GENESIS_HASH for an empty chain)
    time: str  # ISO 8601, UTC
    kind: Kind
    restored: int | None = None  # a restore: entries of the backup the chain was reset to
    replaced: int | None = None  # a restore: the size of the last checkpoint before it


def derive_key(secret: bytes) -> bytes:
    """The HMAC key of checkpoints: HKDF-SHA256 of the service secret, its own info label."""
    return HKDF(hashes.SHA256(), 32, None, _INFO).derive(secret)


def _key_id(key: bytes) -> bytes:
    return hmac.new(key, _KEY_ID_INFO, hashlib.sha256).digest()[:4]


def _body(cp: Checkpoint) -> str:
    head = base64.b64encode(bytes.fromhex(cp.head)).decode("ascii")
    lines = [ORIGIN, str(cp.size), head, f"checkpoint {cp.n}", f"time {cp.time}"]
    lines.append(f"kind {cp.kind.value}")
    if cp.kind is Kind.RESTORE:
        lines.append(f"restore {cp.restored} {cp.replaced}")
    return "\n".join(lines) + "\n"


def sign(key: bytes, cp: Checkpoint) -> str:
    """The signed note of `cp`: its body, a blank line, one signature line."""
    body = _body(cp)
    mac = hmac.new(key, body.encode("utf-8"), hashlib.sha256).digest()
    signature = base64.b64encode(_key_id(key) + mac).decode("ascii")
    return f"{body}\n{_DASH} {KEY_NAME} {signature}\n"


def open_note(key: bytes, note: str) -> Checkpoint:
    """The checkpoint a signed note states; CheckpointForged unless we signed exactly it."""
    body, sep, signature = note.partition("\n\n")
    parts = signature.rstrip("\n").split(" ")
    if not sep or len(parts) != 3 or parts[:2] != [_DASH, KEY_NAME]:
        raise CheckpointForged("not a signed checkpoint note")
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except binascii.Error:
        raise CheckpointForged("the signature is not base64") from None
    mac = hmac.new(key, (body + "\n").encode("utf-8"), hashlib.sha256).digest()
    if not hmac.compare_digest(raw, _key_id(key) + mac):
        raise CheckpointForged("the signature does not verify under the checkpoint key")
    return _parse(body)


def _parse(body: str) -> Checkpoint:
    lines = body.split("\n")
    try:
        origin, size, head, n, time, kind, *rest = lines
        restored = replaced = None
        if rest:
            _restore, low, high = rest[0].split(" ")
            restored, replaced = int(low), int(high)
        cp = Checkpoint(
            n=int(n.removeprefix("checkpoint ")),
            size=int(size),
            head=base64.b64decode(head, validate=True).hex(),
            time=time.removeprefix("time "),
            kind=Kind(kind.removeprefix("kind ")),
            restored=restored,
            replaced=replaced,
        )
    except (ValueError, binascii.Error):
        # Signed by us yet unreadable: only a newer format could be; say so, do not guess.
        raise CheckpointForged("a signed note this version cannot read") from None
    if origin != ORIGIN or _body(cp) != body + "\n":
        raise CheckpointForged("a signed note this version cannot read")
    return cp


@dataclass(frozen=True)
class FileNotes:
    """What the checkpoint file holds: each note's text, and whether its end is damaged."""

    notes: list[str]
    damaged: bool  # a partial note at the end: the file was cut, or a write was interrupted


class CheckpointLog:
    """Takes checkpoints of the data database's chain into the key store and the file."""

    def __init__(
        self,
        *,
        data: Engine,
        key_sessions: sessionmaker[Session],
        path: Path,
        secret: Callable[[], bytes],
    ) -> None:
        self._data = data
        self._key_sessions = key_sessions
        self.path = path
        self._secret = secret

    def key(self) -> bytes:
        return derive_key(self._secret())

    def take(self, kind: Kind, *, now: datetime, restored: int | None = None) -> Checkpoint | None:
        """Sign the chain's current head; None when nothing was appended since the last one.

        CheckpointRefused when the chain no longer holds the last checkpoint's entries (cut,
        reset or rewritten): that is what verify reports, and signing it would hide it.
        Only a restore may shrink the chain, and its checkpoint says so.
        """
        key = self.key()
        with self._locked() as session:
            last = self._last(session, key)
            size, head, at_last = audit_chain.head_now(
                self._data, at=None if last is None else last.size
            )
            if last is not None and kind is not Kind.RESTORE:
                if size < last.size:
                    raise CheckpointRefused("the chain is shorter than its last checkpoint")
                if at_last != last.head:
                    raise CheckpointRefused("the chain no longer matches its last checkpoint")
            if kind is not Kind.RESTORE and size == (0 if last is None else last.size):
                return None  # nothing new to vouch for
            cp = Checkpoint(
                n=1 if last is None else last.n + 1,
                size=size,
                head=head,
                time=now.astimezone(UTC).isoformat(timespec="microseconds"),
                kind=kind,
                restored=restored if kind is Kind.RESTORE else None,
                replaced=(0 if last is None else last.size) if kind is Kind.RESTORE else None,
            )
            note = sign(key, cp)
            # The file first: a crash between the two leaves it one note ahead of the key
            # store (verify says so), never a checkpoint the file lacks.
            self._append(note)
            session.add(AuditCheckpointRecord(n=cp.n, tree_size=cp.size, note=note))
            session.commit()
        return cp

    def stored(self) -> list[tuple[int, str]]:
        """Every checkpoint note in the key store, as (number, note), in order."""
        with self._key_sessions() as session:
            rows = session.execute(
                select(AuditCheckpointRecord.n, AuditCheckpointRecord.note).order_by(
                    AuditCheckpointRecord.n
                )
            )
            return [(int(n), str(note)) for n, note in rows]

    def filed(self) -> FileNotes:
        """Every note in the checkpoint file, in the order written."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                content = fh.read()
        except FileNotFoundError:
            return FileNotes([], damaged=False)
        chunks = content.split(f"\n{_DASH} ")
        notes: list[str] = []
        rest = chunks[0]
        for chunk in chunks[1:]:
            signature, newline, after = chunk.partition("\n")
            if not newline:
                return FileNotes(notes, damaged=True)
            notes.append(f"{rest}\n{_DASH} {signature}\n")
            rest = after
        return FileNotes(notes, damaged=bool(rest))

    def _last(self, session: Session, key: bytes) -> Checkpoint | None:
        row = session.execute(
            select(AuditCheckpointRecord.note).order_by(AuditCheckpointRecord.n.desc()).limit(1)
        ).scalar_one_or_none()
        return None if row is None else open_note(key, row)

    @contextmanager
    def _locked(self) -> Iterator[Session]:
        # One checkpoint at a time across every process: each reads the last and the head,
        # so two at once could sign out of order and the later one be refused as shrinking.
        with self._key_sessions() as session:
            session.connection(execution_options={WRITE_OPTION: True})  # SQLite: IMMEDIATE
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("LOCK TABLE audit_checkpoints IN SHARE ROW EXCLUSIVE MODE"))
            yield session

    def _append(self, note: str) -> None:
        fresh = not self.path.exists()
        fd = os.open(self.path, _APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, note.encode("utf-8"))  # one write: appends never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        if fresh:
            fsync_dir(self.path.parent)  # the new file's name survives a crash too
