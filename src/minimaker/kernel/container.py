"""The container: the real adapters of one process, and the registries built for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimaker.adapters.blobs import EncryptedBlobs
from minimaker.adapters.checkpoints import SECRET_NAME, Checkpoint, CheckpointLog, Kind
from minimaker.adapters.crypto.keys import MasterKey
from minimaker.adapters.db import make_sessionmaker
from minimaker.adapters.keystore import KeyStore
from minimaker.kernel.clock import Clock, SystemClock
from minimaker.kernel.personal_data import Registry as PersonalData
from minimaker.kernel.registry import Registries
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import LoadedPolicy, Policy, load
from minimaker.settings import Settings


@dataclass
class Container:
    """The real adapters of one process, built once from settings by `bootstrap.build`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    master: MasterKey
    key_engine: Engine
    keys: KeyStore
    blobs: EncryptedBlobs
    clock: Clock = field(default_factory=SystemClock)
    registries: Registries = field(default_factory=Registries)
    #: Every table holding a subject's data: erasure, archives and counts derive from it.
    personal_data: PersonalData = field(default_factory=PersonalData)
    #: Audit actions whose commit takes a signed checkpoint (bootstrap.anchored_actions()).
    anchored_actions: frozenset[str] = frozenset()
    #: The policy in force (MINIMAKER_POLICY_FILE, else the shipped one), with its text.
    policy_doc: LoadedPolicy = field(default_factory=load)
    checkpoints: CheckpointLog = field(init=False, repr=False)
    _secrets: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # The anchors of the audit chain live outside the data database: in the key store and
        # an append-only file, signed under a key only the master key releases.
        self.checkpoints = CheckpointLog(
            data=self.engine,
            key_sessions=make_sessionmaker(self.key_engine),
            path=self.settings.resolved_checkpoint_file(),
            secret=lambda: self.secret(SECRET_NAME),
        )

    @property
    def policy(self) -> Policy:
        """The policy the code obeys: purposes, categories, processors, regions."""
        return self.policy_doc.policy

    def secret(self, name: str) -> bytes:
        """A service-wide secret (blind index key, token key), unwrapped once per process."""
        if name not in self._secrets:
            self._secrets[name] = self.keys.secret(name)
        return self._secrets[name]

    def checkpoint(
        self, kind: Kind, *, now: datetime | None = None, restored: int | None = None
    ) -> Checkpoint | None:
        """Sign the audit chain's head now (None if nothing new since the last checkpoint)."""
        return self.checkpoints.take(kind, now=now or self.clock.now(), restored=restored)

    def uow(self, *, write: bool = True) -> UnitOfWork:
        """A unit of work; `write=False` for reads, which never block writers."""
        return UnitOfWork(self, write=write)

    def close(self) -> None:
        self.engine.dispose()
        self.key_engine.dispose()
