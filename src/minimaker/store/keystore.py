"""Data keys in the database, wrapped by the master key: create, open, destroy, re-wrap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from minimaker.crypto.keys import MasterKey, generate_key
from minimaker.domain.errors import KeyUnavailable
from minimaker.store.models import KeyringSecret, SubjectKey

SECRET_NAMES = ("blind_index", "token_signing")


class KeyStore:
    """The subjects' data keys, as seen through one session and one master key."""

    def __init__(self, session: Session, master: MasterKey) -> None:
        self._session = session
        self._master = master

    def create_subject_key(self, subject_id: str, *, now: datetime) -> bytes:
        """Mint and store a fresh data key for a new subject; returns it unwrapped."""
        dek = generate_key()
        wrapped = self._master.wrap(dek, context=f"dek:{subject_id}")
        self._session.add(
            SubjectKey(
                subject_id=subject_id,
                wrapped_dek=wrapped,
                kek_id=self._master.kek_id,
                created_at=now,
            )
        )
        return dek

    def subject_key(self, subject_id: str) -> bytes:
        """The subject's data key; KeyUnavailable once it has been destroyed."""
        row = self._session.get(SubjectKey, subject_id)
        if row is None:
            raise KeyUnavailable("the subject's data key does not exist (erased or never made)")
        if row.kek_id != self._master.kek_id:
            raise KeyUnavailable("data key is wrapped by another master key")
        return self._master.unwrap(row.wrapped_dek, context=f"dek:{subject_id}")

    def destroy_subject_key(self, subject_id: str) -> bool:
        """Crypto-shred: delete the wrapped key, so every copy of the subject's data is noise."""
        result = self._session.execute(
            delete(SubjectKey).where(SubjectKey.subject_id == subject_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def secret(self, name: str) -> bytes:
        """A service-wide secret, created on first use and kept wrapped by the master key."""
        row = self._session.get(KeyringSecret, name)
        if row is None:
            value = generate_key()
            self._session.add(
                KeyringSecret(
                    name=name,
                    wrapped=self._master.wrap(value, context=f"secret:{name}"),
                    kek_id=self._master.kek_id,
                )
            )
            self._session.flush()
            return value
        if row.kek_id != self._master.kek_id:
            raise KeyUnavailable("service secrets are wrapped by another master key")
        return self._master.unwrap(row.wrapped, context=f"secret:{name}")


def rotate_master(
    session: Session,
    old: MasterKey,
    new: MasterKey,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-wrap every data key and secret from `old` to `new` in one transaction; blobs untouched."""
    keys = session.scalars(select(SubjectKey).where(SubjectKey.kek_id == old.kek_id)).all()
    total = len(keys)
    for done, row in enumerate(keys, start=1):
        ctx = f"dek:{row.subject_id}"
        row.wrapped_dek = new.wrap(old.unwrap(row.wrapped_dek, context=ctx), context=ctx)
        row.kek_id = new.kek_id
        if progress is not None:
            progress(done, total)
    for secret in session.scalars(select(KeyringSecret)).all():
        ctx = f"secret:{secret.name}"
        secret.wrapped = new.wrap(old.unwrap(secret.wrapped, context=ctx), context=ctx)
        secret.kek_id = new.kek_id
    leftover = session.scalars(
        select(SubjectKey.subject_id).where(SubjectKey.kek_id != new.kek_id)
    ).first()
    if leftover is not None:
        raise KeyUnavailable("some data keys are wrapped by neither the old nor the new master key")
    return total
