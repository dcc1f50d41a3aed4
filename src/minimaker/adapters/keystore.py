"""The key store: wrapped data keys, service secrets, the erasure ledger, audit checkpoints.

It lives in a database of its own (by default `<data_dir>/keys.db`), apart from the data it
protects, so that restoring a data backup cannot bring a destroyed key back: an erased subject
stays erased (Art. 17), and the ledger says whom to erase again after a restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Date,
    Engine,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from minimaker.adapters.crypto.keys import MasterKey, generate_key
from minimaker.adapters.db import WRITE_OPTION, UTCDateTime, exclusive_transaction
from minimaker.adapters.driver_read import DriverRead
from minimaker.kernel.errors import KeyUnavailable

SECRET_NAMES = ("blind_index", "token_signing", "audit_checkpoint")
#: The advisory lock of the key store's migrations (the data database has its own).
KEYSTORE_MIGRATION_LOCK = 0x6D6D_0002


class KeyBase(DeclarativeBase):
    """Tables of the key store database (not of the data database)."""


class SubjectKey(KeyBase):
    """A subject's data key (DEK), wrapped by the master key. Deleting it shreds the subject."""

    __tablename__ = "subject_keys"
    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KeyringSecret(KeyBase):
    """Service-wide secrets (blind index key, token key), wrapped by the master key."""

    __tablename__ = "keyring_secrets"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))


class ErasureRecord(KeyBase):
    """A subject whose key was destroyed: pseudonymous id and time, nothing else."""

    __tablename__ = "erasure_ledger"
    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditCheckpointRecord(KeyBase):
    """A signed checkpoint of the audit chain (adapters/checkpoints.py): kept here, apart from
    the data database, so whoever can rewrite the audit log cannot rewrite its anchors too."""

    __tablename__ = "audit_checkpoints"
    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)


class DayKey(KeyBase):
    """The key of one UTC day's usage pseudonyms, wrapped by the master key (generation/usage.py).
    Deleting it when the day's raw events expire leaves them anonymous (policy 4.2, 7.3)."""

    __tablename__ = "day_keys"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))


_KEY_OF = DriverRead(
    select(SubjectKey.wrapped_dek, SubjectKey.kek_id).where(
        SubjectKey.subject_id == bindparam("subject_id")
    )
)


class KeyStore:
    """Data keys and secrets, each operation its own short transaction in the key database."""

    def __init__(self, sessions: sessionmaker[Session], master: MasterKey) -> None:
        self._sessions = sessions
        self._master = master

    def _write(self) -> Session:
        session = self._sessions()
        session.connection(execution_options={WRITE_OPTION: True})
        return session

    def create_subject_key(self, subject_id: str, *, now: datetime) -> bytes:
        """Mint, wrap and store a fresh data key for a new subject; returns it unwrapped."""
        dek = generate_key()
        wrapped = self._master.wrap(dek, context=f"dek:{subject_id}")
        with self._write() as session:
            session.add(
                SubjectKey(
                    subject_id=subject_id,
                    wrapped_dek=wrapped,
                    kek_id=self._master.kek_id,
                    created_at=now,
                )
            )
            session.commit()
        return dek

    def subject_key(self, subject_id: str) -> bytes:
        """The subject's data key; KeyUnavailable once it has been destroyed."""
        # Read on every request that opens personal data: one statement on the driver.
        row = _KEY_OF.one_or_none(self._sessions.kw["bind"], {"subject_id": subject_id})
        if row is None:
            raise KeyUnavailable("the subject's data key does not exist (erased or never made)")
        if row.kek_id != self._master.kek_id:
            raise KeyUnavailable("data key is wrapped by another master key")
        return self._master.unwrap(row.wrapped_dek, context=f"dek:{subject_id}")

    def has_subject_key(self, subject_id: str) -> bool:
        with self._sessions() as session:
            return session.get(SubjectKey, subject_id) is not None

    def destroy_subject_key(self, subject_id: str, *, now: datetime) -> bool:
        """Crypto-shred a subject and record it in the erasure ledger, in one transaction."""
        with self._write() as session:
            gone = session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
            if session.get(ErasureRecord, subject_id) is None:
                session.add(ErasureRecord(subject_id=subject_id, erased_at=now))
            session.commit()
            return bool(gone.rowcount)  # type: ignore[attr-defined]

    def discard_subject_key(self, subject_id: str) -> None:
        """Drop a key minted for a sign-up that did not commit (no ledger: nobody existed)."""
        with self._write() as session:
            session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
            session.commit()

    def subjects_keyed_before(self, cutoff: datetime) -> Iterator[str]:
        """The subjects whose data key was made before `cutoff`, in id order (the self-check
        holds them against the data: a key nobody's rows name is a key kept for no one)."""
        with self._sessions() as session:
            yield from session.scalars(
                select(SubjectKey.subject_id)
                .where(SubjectKey.created_at < cutoff)
                .order_by(SubjectKey.subject_id)
                .execution_options(yield_per=1000)
            )

    def erased_subjects(self) -> list[str]:
        """Every subject the ledger says was erased, oldest first."""
        with self._sessions() as session:
            return list(
                session.scalars(select(ErasureRecord.subject_id).order_by(ErasureRecord.erased_at))
            )

    def secret(self, name: str) -> bytes:
        """A service-wide secret, created on first use and kept wrapped by the master key."""
        for attempt in range(2):
            with self._write() as session:
                row = session.get(KeyringSecret, name)
                if row is not None:
                    if row.kek_id != self._master.kek_id:
                        raise KeyUnavailable("service secrets are wrapped by another master key")
                    return self._master.unwrap(row.wrapped, context=f"secret:{name}")
                value = generate_key()
                session.add(
                    KeyringSecret(
                        name=name,
                        wrapped=self._master.wrap(value, context=f"secret:{name}"),
                        kek_id=self._master.kek_id,
                    )
                )
                try:
                    session.commit()
                    return value
                except IntegrityError:
                    # Another process minted it at the same moment: read theirs.
                    session.rollback()
                    if attempt:
                        raise
        raise KeyUnavailable(f"secret {name} could not be created")

    def day_key(self, day: date) -> bytes:
        """The key of `day`'s usage pseudonyms, created on first use."""
        for attempt in range(2):
            with self._write() as session:
                row = session.get(DayKey, day)
                if row is not None:
                    return self._unwrap_day(row)
                value = generate_key()
                ctx = f"day:{day.isoformat()}"
                session.add(
                    DayKey(
                        day=day,
                        wrapped=self._master.wrap(value, context=ctx),
                        kek_id=self._master.kek_id,
                    )
                )
                try:
                    session.commit()
                    return value
                except IntegrityError:
                    session.rollback()  # another process minted it at the same moment
                    if attempt:
                        raise
        raise KeyUnavailable("a day key could not be created")

    def day_keys(self) -> dict[date, bytes]:
        """Every day key still alive, by day."""
        with self._sessions() as session:
            return {row.day: self._unwrap_day(row) for row in session.scalars(select(DayKey))}

    def destroy_day_keys(self, days: Iterable[date]) -> int:
        """Destroy the keys of `days`: their pseudonyms then link to no one."""
        wanted = set(days)
        if not wanted:
            return 0
        with self._write() as session:
            gone = session.execute(delete(DayKey).where(DayKey.day.in_(wanted)))
            session.commit()
            return int(gone.rowcount)  # type: ignore[attr-defined]

    def _unwrap_day(self, row: DayKey) -> bytes:
        if row.kek_id != self._master.kek_id:
            raise KeyUnavailable("day keys are wrapped by another master key")
        return self._master.unwrap(row.wrapped, context=f"day:{row.day.isoformat()}")

    def rotate_master(
        self, new: MasterKey, *, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Re-wrap every data key and secret under `new` in one transaction; blobs untouched."""
        old = self._master
        with self._write() as session:
            keys = session.scalars(select(SubjectKey)).all()
            for done, row in enumerate(keys, start=1):
                ctx = f"dek:{row.subject_id}"
                if row.kek_id != old.kek_id:
                    raise KeyUnavailable("some data keys are wrapped by another master key")
                row.wrapped_dek = new.wrap(old.unwrap(row.wrapped_dek, context=ctx), context=ctx)
                row.kek_id = new.kek_id
                if progress is not None:
                    progress(done, len(keys))
            for secret in session.scalars(select(KeyringSecret)).all():
                ctx = f"secret:{secret.name}"
                secret.wrapped = new.wrap(old.unwrap(secret.wrapped, context=ctx), context=ctx)
                secret.kek_id = new.kek_id
            for day_row in session.scalars(select(DayKey)).all():
                ctx = f"day:{day_row.day.isoformat()}"
                day_row.wrapped = new.wrap(old.unwrap(day_row.wrapped, context=ctx), context=ctx)
                day_row.kek_id = new.kek_id
            session.commit()
        self._master = new
        return len(keys)


def upgrade(engine: Engine) -> None:
    """Apply the key store's own migrations (version table `keystore_version`)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("keystore_migrations")))
    # Under a lock of its own: processes starting at once on a fresh key store take turns.
    with exclusive_transaction(engine, KEYSTORE_MIGRATION_LOCK) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
