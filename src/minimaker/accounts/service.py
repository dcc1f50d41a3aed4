"""Accounts: sign up (limited per address), sign in (throttled), sessions, profile read and
correction.

Use cases take the container and own their unit of work. The few functions that take a
`uow` (throttle counters, correction, the restriction mark, lookups) work inside their
caller's unit and never commit it: the caller decides what is kept. Signing in lives in
`authentication.py`; its use cases are re-exported here, the one door of this feature.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from minimaker.accounts import events, passwords, rules, throttle
from minimaker.accounts.authentication import IssuedToken as IssuedToken
from minimaker.accounts.authentication import authenticate as authenticate
from minimaker.accounts.authentication import confirm_password as confirm_password
from minimaker.accounts.authentication import live_claims
from minimaker.accounts.authentication import login as login
from minimaker.accounts.authentication import logout as logout
from minimaker.accounts.authentication import start_session as start_session
from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters.crypto.fields import blind_index, open_field, seal_field
from minimaker.adapters.driver_read import DriverRead
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    AlreadyTaken,
    KeyUnavailable,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.processing import ensure_allowed


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    email: str
    username: str
    created_at: datetime


def signup(
    c: Container,
    *,
    name: str,
    email: str,
    username: str,
    password: str,
    client_ip: str | None = None,
) -> Profile:
    """Create an account holding exactly name, email, username and a password hash.

    From the network (`client_ip` given) at most `signup_max_per_address` per window: each
    costs a memory-hard hash, so the count is taken, and a refusal made, before hashing.
    """
    name, email, username = (
        rules.clean_name(name),
        rules.clean_email(email),
        rules.clean_username(username),
    )
    rules.check_password(password)
    # Secrets first: minting one writes in its own transaction, which must not nest in ours.
    index_key = c.secret("blind_index")
    if client_ip is not None:
        _count_signup(c, index_key, client_ip)
    pw_hash = passwords.hash_password(c.settings, password)
    profile = Profile(uuid.uuid4().hex, name, email, username, c.clock.now())
    with c.uow() as uow:
        email_bidx = blind_index(index_key, field="email", value=rules.email_key(email))
        user_bidx = blind_index(index_key, field="username", value=rules.username_key(username))
        _ensure_free(uow, email_bidx=email_bidx, username_bidx=user_bidx)
        uow.session.add(_sealed_user(uow, profile, email_bidx, user_bidx, pw_hash))
        uow.audit(events.SUBJECT_CREATED, actor=Actor.subject(profile.id), subject=profile.id)
        uow.commit()
    return profile


def _sealed_user(
    uow: UnitOfWork, profile: Profile, email_bidx: str, username_bidx: str, pw_hash: str
) -> User:
    """The account row: its names sealed under a data key made for it now."""
    user_id, now = profile.id, profile.created_at
    dek = uow.new_subject_key(user_id)
    return User(
        id=user_id,
        username_bidx=username_bidx,
        email_bidx=email_bidx,
        username_enc=seal_field(dek, subject_id=user_id, field="username", value=profile.username),
        email_enc=seal_field(dek, subject_id=user_id, field="email", value=profile.email),
        name_enc=seal_field(dek, subject_id=user_id, field="name", value=profile.name),
        password_hash=pw_hash,
        created_at=now,
        updated_at=now,
    )


def _count_signup(c: Container, index_key: bytes, client_ip: str) -> None:
    """Count a sign-up from this address, or refuse it (429) with nothing counted."""
    now = c.clock.now()
    key = throttle.address_key(index_key, client_ip, field=throttle.SIGNUP)
    with c.uow() as uow:
        throttle.prune(c, uow, now)
        wait = throttle.signup_wait(c, uow, key, now)
        if wait is None:
            # Counted before the hash, in its own unit: a failing sign-up still cost one.
            throttle.record(uow, [key], now)
        uow.commit()
    if wait is not None:
        raise TooManyAttempts(wait)


def lock_account(uow: UnitOfWork, user_id: str) -> bool:
    """Lock the account's row until the caller's unit ends (whether it still exists).

    Serialises decisions about one subject taken by concurrent requests, such as whether an
    erasure request is already open; SQLite's single writer does the same by itself.
    """
    found = uow.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    return found.first() is not None


def throttle_wait(c: Container, uow: UnitOfWork, keys: list[str], now: datetime) -> int | None:
    """Seconds to wait if any keyed counter reached `login_max_failures` in the window.

    A plain fixed window, for counters without accounts and devices (staff sign-in, requests
    by email). Expired counters are pruned in the caller's unit, which is not committed
    here: a caller that refuses commits first if it wants the pruning kept.
    """
    throttle.prune(c, uow, now)
    limit, window_s = c.settings.login_max_failures, c.settings.login_window_s
    for key in keys:
        wait = throttle.window_wait(uow, key, now=now, limit=limit, window_s=window_s)
        if wait is not None:
            return wait
    return None


def record_failures(uow: UnitOfWork, keys: list[str], now: datetime) -> None:
    """Count one failed attempt on each keyed counter, in the caller's unit."""
    throttle.record(uow, keys, now)


def forget_failures(uow: UnitOfWork, key: str) -> None:
    """Reset one keyed counter (after a success), in the caller's unit."""
    throttle.forget(uow, key)


def _ensure_free(
    uow: UnitOfWork, *, email_bidx: str, username_bidx: str, except_id: str | None = None
) -> None:
    for field, column, value in (
        ("email", User.email_bidx, email_bidx),
        ("username", User.username_bidx, username_bidx),
    ):
        owner = uow.session.scalar(select(User.id).where(column == value))
        if owner is not None and owner != except_id:
            raise AlreadyTaken(field)


#: What reading or correcting the profile touches: name, email, username (contract).
_PROFILE = ("account",)


def get_profile(c: Container, *, user_id: str) -> Profile:
    """The subject's own profile, decrypted with their key."""
    with c.uow(write=False) as uow:
        user = _user(uow, user_id)
        ensure_allowed(uow, user.id, Purpose.SERVICE, _PROFILE)
        return _opened(uow.keys.subject_key(user.id), user)


#: A live session's account, as one statement: GET /me checks the token and reads the
#: profile in one round trip, not a session check and then a second read.
_PROFILE_OF_SESSION = DriverRead(
    select(User.id, User.name_enc, User.email_enc, User.username_enc, User.created_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id == bindparam("sid"), AuthSession.expires_at > bindparam("now"))
)


def own_profile(c: Container, *, token: str) -> Profile:
    """The profile of the account whose live session `token` names, decrypted with its key."""
    claims, now = live_claims(c, token)
    with c.uow(write=False) as uow:  # no read: the policy alone decides service (in memory)
        ensure_allowed(uow, str(claims["sub"]), Purpose.SERVICE, _PROFILE)
    row = _PROFILE_OF_SESSION.one_or_none(c.engine, {"sid": claims["sid"], "now": now})
    if row is None or row.id != claims["sub"]:
        raise NotAuthenticated("the session has ended; sign in again")
    return _opened(c.keys.subject_key(row.id), row)


def _user(uow: UnitOfWork, user_id: str) -> User:
    user = uow.session.get(User, user_id)
    if user is None:
        raise NotAuthenticated("the account no longer exists")
    return user


class _Sealed(Protocol):
    """A user row or a selected row of its columns: what a profile is opened from."""

    id: str
    name_enc: bytes
    email_enc: bytes
    username_enc: bytes
    created_at: datetime


def _opened(dek: bytes, user: _Sealed) -> Profile:
    return Profile(
        id=user.id,
        name=open_field(dek, subject_id=user.id, field="name", sealed=user.name_enc),
        email=open_field(dek, subject_id=user.id, field="email", sealed=user.email_enc),
        username=open_field(dek, subject_id=user.id, field="username", sealed=user.username_enc),
        created_at=user.created_at,
    )


@dataclass(frozen=True)
class Correction:
    """Cleaned new values of profile fields, and the blind indexes of a new email or username."""

    values: dict[str, str]
    email_bidx: str | None
    username_bidx: str | None


def prepare_correction(
    c: Container,
    *,
    name: str | None = None,
    email: str | None = None,
    username: str | None = None,
) -> Correction:
    """Validate the new values and index them; called before the unit that applies them."""
    given = (
        ("name", name, rules.clean_name),
        ("email", email, rules.clean_email),
        ("username", username, rules.clean_username),
    )
    values = {field: clean(value) for field, value, clean in given if value is not None}
    # The key is read before any unit opens: minting it writes in its own transaction.
    index_key = c.secret("blind_index")
    email_bidx = username_bidx = None
    if "email" in values:
        email_bidx = blind_index(index_key, field="email", value=rules.email_key(values["email"]))
    if "username" in values:
        key = rules.username_key(values["username"])
        username_bidx = blind_index(index_key, field="username", value=key)
    return Correction(values, email_bidx, username_bidx)


@dataclass(frozen=True)
class Corrected:
    """The profile after a correction, and the fields whose value really changed."""

    profile: Profile
    fields: tuple[str, ...]


def apply_correction(uow: UnitOfWork, *, user_id: str, correction: Correction) -> Corrected:
    """Art. 16: re-seal the fields whose value changes, in the caller's unit; audited with
    field names only. The one use case over it is `rights/rectification.py:correct`."""
    user = _user(uow, user_id)
    ensure_allowed(uow, user.id, Purpose.SERVICE, _PROFILE)
    dek = uow.keys.subject_key(user.id)
    current = _opened(dek, user)
    # A value typed again as it was is no correction: nothing to re-seal, nobody to tell.
    changed = {k: v for k, v in correction.values.items() if getattr(current, k) != v}
    if not changed:
        return Corrected(current, ())
    email_bidx = correction.email_bidx if "email" in changed else None
    username_bidx = correction.username_bidx if "username" in changed else None
    email_bidx, username_bidx = email_bidx or user.email_bidx, username_bidx or user.username_bidx
    _ensure_free(uow, email_bidx=email_bidx, username_bidx=username_bidx, except_id=user_id)
    user.email_bidx, user.username_bidx = email_bidx, username_bidx
    for field, value in changed.items():
        setattr(user, f"{field}_enc", seal_field(dek, subject_id=user_id, field=field, value=value))
    user.updated_at = uow.c.clock.now()
    fields = tuple(sorted(changed))
    uow.audit(
        events.PROFILE_CORRECTED,
        actor=Actor.subject(user_id),
        subject=user_id,
        object="fields:" + ",".join(fields),
    )
    return Corrected(_opened(dek, user), fields)


def account_exists(session: Session, user_id: str) -> bool:
    """Whether the account still exists."""
    return session.get(User, user_id) is not None


def subject_by_email(session: Session, *, index_key: bytes, email: str) -> str | None:
    """The id of the account whose address is `email` (cleaned), found by its blind index."""
    bidx = blind_index(index_key, field="email", value=rules.email_key(email))
    return session.scalar(select(User.id).where(User.email_bidx == bidx))


def restricted_since(session: Session, user_id: str) -> datetime | None:
    """When processing of the account was restricted (Art. 18); None if it is not."""
    return session.scalar(select(User.restricted_at).where(User.id == user_id))


def set_restricted(uow: UnitOfWork, *, user_id: str, since: datetime | None) -> None:
    """Mark the account restricted since `since` (None lifts it), in the caller's unit."""
    user = uow.session.get(User, user_id)
    if user is None:
        raise NotFound("account")
    user.restricted_at = since


def email_on_file(uow: UnitOfWork, user_id: str) -> str | None:
    """The account's address, in the caller's unit; None when the account or its key is gone."""
    user = uow.session.get(User, user_id)
    if user is None:
        return None
    try:
        dek = uow.keys.subject_key(user_id)
    except KeyUnavailable:
        return None
    return open_field(dek, subject_id=user_id, field="email", sealed=user.email_enc)


def account_ids(
    session: Session, *, after: str | None, created_by: datetime, limit: int
) -> list[str]:
    """Up to `limit` ids of accounts made by `created_by`, in id order after `after` (a walk
    over every account in bounded batches; erased accounts are gone from it)."""
    query = select(User.id).where(User.created_at <= created_by).order_by(User.id).limit(limit)
    if after is not None:
        query = query.where(User.id > after)
    return list(session.scalars(query))
