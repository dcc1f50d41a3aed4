"""The one place that reads settings and builds the real adapters."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimaker.clock import Clock, SystemClock
from minimaker.crypto.keys import MasterKey, decode_key, encode_key, generate_key
from minimaker.domain.audit import AuditEvent
from minimaker.domain.errors import ConfigurationError
from minimaker.settings import Settings
from minimaker.store import audit as audit_store
from minimaker.store.blobs import EncryptedBlobs, LocalBlobStore
from minimaker.store.db import WRITE_OPTION, make_engine, make_sessionmaker
from minimaker.store.keystore import KeyStore

log = logging.getLogger("minimaker")


def load_master_key(settings: Settings) -> MasterKey:
    """The master key from the environment, else the local key file (created 0600)."""
    if settings.master_key:
        return MasterKey(decode_key(settings.master_key))
    path = settings.resolved_master_key_file()
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigurationError(f"key file {path} is readable by others (mode {mode:o})")
        return MasterKey(decode_key(path.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(encode_key(generate_key()) + "\n")
    log.warning(
        "!!! No MINIMAKER_MASTER_KEY set: created a local master key file at %s (mode 0600). "
        "Fine for development; in production keep the master key outside the data directory "
        "and back it up apart from the data: lose it and every user's data is unreadable. !!!",
        path,
    )
    return MasterKey(decode_key(path.read_text()))


@dataclass
class Container:
    """The real adapters of one process, built once from settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    master: MasterKey
    key_engine: Engine
    keys: KeyStore
    blobs: EncryptedBlobs
    clock: Clock = field(default_factory=SystemClock)
    _secrets: dict[str, bytes] = field(default_factory=dict, repr=False)

    def secret(self, name: str) -> bytes:
        """A service-wide secret (blind index key, token key), unwrapped once per process."""
        if name not in self._secrets:
            self._secrets[name] = self.keys.secret(name)
        return self._secrets[name]

    def uow(self, *, write: bool = True) -> UnitOfWork:
        """A unit of work; `write=False` for reads, which never block writers."""
        return UnitOfWork(self, write=write)

    def close(self) -> None:
        self.engine.dispose()
        self.key_engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Build the container for `settings`; no I/O happens before this is called."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.resolved_database_url())
    key_engine = make_engine(settings.resolved_keystore_url())
    master = load_master_key(settings)
    store = LocalBlobStore(settings.blob_dir, region=settings.blob_region)
    return Container(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        master=master,
        key_engine=key_engine,
        keys=KeyStore(make_sessionmaker(key_engine), master),
        blobs=EncryptedBlobs(store),
        clock=clock or SystemClock(),
    )


class UnitOfWork:
    """One transaction: rows, audit events and blob writes succeed or vanish together."""

    def __init__(self, container: Container, *, write: bool = True) -> None:
        self.c = container
        self._write = write
        self._events: list[AuditEvent] = []
        self._new_blobs: list[str] = []
        self._new_keys: list[str] = []
        self._doomed_blobs: list[str] = []
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session: Session = self.c.sessions()
        if self._write:
            self.session.connection(execution_options={WRITE_OPTION: True})
        self.keys = self.c.keys
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if not self._committed:
                self.session.rollback()
                # Blobs written for work that did not commit must not outlive it.
                for blob_id in self._new_blobs:
                    self.c.blobs.delete(blob_id)
                for subject_id in self._new_keys:
                    self.c.keys.discard_subject_key(subject_id)
        finally:
            self.session.close()

    def audit(
        self,
        action: str,
        *,
        actor: str,
        subject: str | None = None,
        object: str | None = None,
        purpose: str | None = None,
    ) -> None:
        """Record an audit event; it is chained in the same transaction, at commit."""
        self._events.append(AuditEvent(actor, action, subject, object, purpose))

    def new_subject_key(self, subject_id: str) -> bytes:
        """Mint a data key for a new subject; it is discarded if this unit does not commit."""
        self._new_keys.append(subject_id)
        return self.c.keys.create_subject_key(subject_id, now=self.c.clock.now())

    def wrote_blob(self, blob_id: str) -> None:
        """Register a blob written in this unit; it is removed if the unit does not commit."""
        self._new_blobs.append(blob_id)

    def delete_blob_after_commit(self, blob_id: str) -> None:
        """Delete a blob once the rows that point at it are gone for good."""
        self._doomed_blobs.append(blob_id)

    def commit(self) -> None:
        if not self._write:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._events:
            audit_store.append(self.session, self._events, now=self.c.clock.now())
        self.session.commit()
        self._committed = True
        for blob_id in self._doomed_blobs:
            self.c.blobs.delete(blob_id)


@contextmanager
def container_for(settings: Settings) -> Iterator[Container]:
    """Build a container and dispose of it afterwards (CLI commands, tests)."""
    c = build(settings)
    try:
        yield c
    finally:
        c.close()
