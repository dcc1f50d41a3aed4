"""Password hashing: argon2id, parameters from settings (RFC 9106 low-memory profile default)."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from minimaker.settings import Settings


@functools.cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(settings: Settings) -> PasswordHasher:
    """The argon2id hasher the settings ask for (one per parameter set, made once)."""
    return _hasher(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


@functools.cache
def _dummy_hash(ph: PasswordHasher) -> str:
    return ph.hash(secrets.token_urlsafe(16))


def hash_password(settings: Settings, password: str) -> str:
    return hasher(settings).hash(password)


def password_ok(settings: Settings, stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; equally slow when there is no stored hash.

    Verifying against a dummy hash when the account does not exist keeps both paths equally
    slow, so response time does not reveal which usernames are registered.
    """
    ph = hasher(settings)
    try:
        return ph.verify(stored or _dummy_hash(ph), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, stored: str) -> bool:
    """True when `stored` was made with other parameters than the settings now ask for."""
    try:
        return hasher(settings).check_needs_rehash(stored)
    except InvalidHashError:
        return True
