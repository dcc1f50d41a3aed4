"""Accounts: sign up, sign in (rate-limited), sessions, profile read and correction.

Use cases take the container and own their unit of work. The few functions that take a
`uow` (throttle counters, correction, the restriction mark, lookups) work inside their
caller's unit and never commit it: the caller decides what is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from minimaker.accounts import events, passwords, rules
from minimaker.accounts.tables import AuthSession, LoginFailure, User
from minimaker.adapters import tokens
from minimaker.adapters.crypto.fields import blind_index, open_field, seal_field
from minimaker.kernel.actors import SYSTEM_AUTH, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    AlreadyTaken,
    InvalidCredentials,
    KeyUnavailable,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from minimaker.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    email: str
    username: str
    created_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_at: datetime


def signup(c: Container, *, name: str, email: str, username: str, password: str) -> Profile:
    """Create an account holding exactly name, email, username and a password hash."""
    name, email, username = (
        rules.clean_name(name),
        rules.clean_email(email),
        rules.clean_username(username),
    )
    rules.check_password(password)
    pw_hash = passwords.hash_password(c.settings, password)
    user_id = uuid.uuid4().hex
    now = c.clock.now()
    # Secrets first: minting one writes in its own transaction, which must not nest in ours.
    index_key = c.secret("blind_index")
    with c.uow() as uow:
        email_bidx = blind_index(index_key, field="email", value=rules.email_key(email))
        user_bidx = blind_index(index_key, field="username", value=rules.username_key(username))
        _ensure_free(uow, email_bidx=email_bidx, username_bidx=user_bidx)
        dek = uow.new_subject_key(user_id)
        uow.session.add(
            User(
                id=user_id,
                username_bidx=user_bidx,
                email_bidx=email_bidx,
                username_enc=seal_field(dek, subject_id=user_id, field="username", value=username),
                email_enc=seal_field(dek, subject_id=user_id, field="email", value=email),
                name_enc=seal_field(dek, subject_id=user_id, field="name", value=name),
                password_hash=pw_hash,
                created_at=now,
                updated_at=now,
            )
        )
        uow.audit(events.SUBJECT_CREATED, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()
    return Profile(user_id, name, email, username, now)


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


def login(c: Container, *, login: str, password: str, client_ip: str) -> IssuedToken:
    """Check a password (rate-limited per account and per IP) and open a session."""
    now = c.clock.now()
    index_key, token_key = c.secret("blind_index"), c.secret("token_signing")
    with c.uow() as uow:
        field, value = rules.login_key(login)
        bidx = blind_index(index_key, field=field, value=value)
        # Throttle keys are keyed hashes: the table never holds a readable name or address.
        throttle = [
            blind_index(index_key, field="throttle-account", value=value),
            blind_index(index_key, field="throttle-ip", value=client_ip),
        ]
        wait = throttle_wait(c, uow, throttle, now)
        if wait is not None:
            uow.commit()  # keep the pruning of expired counters; the refusal adds nothing
            raise TooManyAttempts(wait)
        column = User.email_bidx if field == "email" else User.username_bidx
        user = uow.session.scalar(select(User).where(column == bidx))
        if not passwords.password_ok(c.settings, user.password_hash if user else None, password):
            record_failures(uow, throttle, now)
            uow.audit(events.LOGIN_FAILED, actor=SYSTEM_AUTH, subject=user.id if user else None)
            uow.commit()
            raise InvalidCredentials()
        assert user is not None
        if passwords.needs_rehash(c.settings, user.password_hash):
            # Parameters were raised since this hash was made: upgrade it while we can.
            user.password_hash = passwords.hash_password(c.settings, password)
        forget_failures(uow, throttle[0])
        issued = _open_session(c, uow, user.id, now, token_key)
        uow.audit(events.SESSION_CREATED, actor=Actor.subject(user.id), subject=user.id)
        uow.commit()
    return issued


def throttle_wait(c: Container, uow: UnitOfWork, keys: list[str], now: datetime) -> int | None:
    """Seconds to wait if any keyed counter reached the limit in the window, else None.

    Expired counters are pruned in the caller's unit, which is not committed here: a caller
    that refuses commits first if it wants the pruning kept, then raises TooManyAttempts.
    """
    window = timedelta(seconds=c.settings.login_window_s)
    uow.session.execute(delete(LoginFailure).where(LoginFailure.at < now - window))
    for key in keys:
        count, oldest = uow.session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(LoginFailure.key == key)
        ).one()
        if count >= c.settings.login_max_failures:
            return max(int((oldest + window - now).total_seconds()), 1)
    return None


def record_failures(uow: UnitOfWork, keys: list[str], now: datetime) -> None:
    """Count one failed attempt on each keyed counter, in the caller's unit."""
    for key in keys:
        uow.session.add(LoginFailure(key=key, at=now))


def forget_failures(uow: UnitOfWork, key: str) -> None:
    """Reset one keyed counter (after a success), in the caller's unit."""
    uow.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def _open_session(
    c: Container, uow: UnitOfWork, user_id: str, now: datetime, key: bytes
) -> IssuedToken:
    session_id = uuid.uuid4().hex
    expires = now + timedelta(seconds=c.settings.token_ttl_s)
    uow.session.add(AuthSession(id=session_id, user_id=user_id, created_at=now, expires_at=expires))
    token = tokens.issue(key, sub=user_id, sid=session_id, now=now, expires=expires)
    return IssuedToken(token=token, session_id=session_id, expires_at=expires)


def authenticate(c: Container, token: str) -> str:
    """The user id a bearer token or session cookie stands for, if its session is live."""
    now = c.clock.now()
    key = c.secret("token_signing")
    claims = tokens.decode(key, token, now=now)
    with c.sessions() as session:
        live = session.scalar(
            select(AuthSession.user_id).where(
                AuthSession.id == claims["sid"], AuthSession.expires_at > now
            )
        )
    if live is None or live != claims["sub"]:
        raise NotAuthenticated("the session has ended; sign in again")
    return str(live)


def logout(c: Container, *, user_id: str, token: str) -> None:
    """End the session a token belongs to."""
    with c.uow() as uow:
        uow.session.execute(
            delete(AuthSession).where(
                AuthSession.id == tokens.session_of(token), AuthSession.user_id == user_id
            )
        )
        uow.audit(events.SESSION_ENDED, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()


def get_profile(c: Container, *, user_id: str) -> Profile:
    """The subject's own profile, decrypted with their key."""
    with c.uow(write=False) as uow:
        return _profile(uow, _user(uow, user_id))


def _user(uow: UnitOfWork, user_id: str) -> User:
    user = uow.session.get(User, user_id)
    if user is None:
        raise NotAuthenticated("the account no longer exists")
    return user


def _profile(uow: UnitOfWork, user: User) -> Profile:
    dek = uow.keys.subject_key(user.id)
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


def apply_correction(uow: UnitOfWork, *, user_id: str, correction: Correction) -> Profile:
    """Art. 16: re-seal the corrected fields in the caller's unit; audited with field names only."""
    user = _user(uow, user_id)
    if not correction.values:
        return _profile(uow, user)
    email_bidx = correction.email_bidx or user.email_bidx
    username_bidx = correction.username_bidx or user.username_bidx
    _ensure_free(uow, email_bidx=email_bidx, username_bidx=username_bidx, except_id=user_id)
    user.email_bidx, user.username_bidx = email_bidx, username_bidx
    dek = uow.keys.subject_key(user_id)
    for field, value in correction.values.items():
        sealed = seal_field(dek, subject_id=user_id, field=field, value=value)
        setattr(user, f"{field}_enc", sealed)
    user.updated_at = uow.c.clock.now()
    fields = "fields:" + ",".join(sorted(correction.values))
    uow.audit(
        events.PROFILE_CORRECTED, actor=Actor.subject(user_id), subject=user_id, object=fields
    )
    return _profile(uow, user)


def correct_profile(
    c: Container,
    *,
    user_id: str,
    name: str | None = None,
    email: str | None = None,
    username: str | None = None,
) -> Profile:
    """Art. 16 rectification of name, email or username, in a unit of its own."""
    correction = prepare_correction(c, name=name, email=email, username=username)
    with c.uow() as uow:
        profile = apply_correction(uow, user_id=user_id, correction=correction)
        if correction.values:
            uow.commit()
        return profile


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
