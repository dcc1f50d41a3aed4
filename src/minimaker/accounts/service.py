"""Accounts: sign up, sign in (rate-limited), sessions, profile read and correction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from minimaker.accounts import passwords, rules
from minimaker.accounts.tables import AuthSession, LoginFailure, User
from minimaker.adapters import tokens
from minimaker.adapters.crypto.fields import blind_index, open_field, seal_field
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    AlreadyTaken,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
)
from minimaker.kernel.unit_of_work import UnitOfWork

# Verifying against this when the account does not exist keeps both paths equally slow,
# so response time does not reveal which usernames are registered.


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


def actor_for(user_id: str) -> str:
    return f"subject:{user_id}"


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
        uow.audit(
            "account:subject:created", actor=actor_for(user_id), subject=user_id, purpose="service"
        )
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
        check_throttle(c, uow, throttle, now)
        column = User.email_bidx if field == "email" else User.username_bidx
        user = uow.session.scalar(select(User).where(column == bidx))
        if not passwords.password_ok(c.settings, user.password_hash if user else None, password):
            for key in throttle:
                uow.session.add(LoginFailure(key=key, at=now))
            uow.audit(
                "account:login:failed",
                actor="system:auth",
                subject=user.id if user else None,
                purpose="security",
            )
            uow.commit()
            raise InvalidCredentials()
        assert user is not None
        if passwords.needs_rehash(c.settings, user.password_hash):
            # Parameters were raised since this hash was made: upgrade it while we can.
            user.password_hash = passwords.hash_password(c.settings, password)
        uow.session.execute(delete(LoginFailure).where(LoginFailure.key == throttle[0]))
        issued = _open_session(c, uow, user.id, now, token_key)
        uow.audit(
            "account:session:created", actor=actor_for(user.id), subject=user.id, purpose="security"
        )
        uow.commit()
    return issued


def check_throttle(c: Container, uow: UnitOfWork, keys: list[str], now: datetime) -> None:
    """TooManyAttempts if any keyed counter reached the limit within the window."""
    window_start = now - timedelta(seconds=c.settings.login_window_s)
    uow.session.execute(delete(LoginFailure).where(LoginFailure.at < window_start))
    for key in keys:
        count, oldest = uow.session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(LoginFailure.key == key)
        ).one()
        if count >= c.settings.login_max_failures:
            retry = int(
                (oldest + timedelta(seconds=c.settings.login_window_s) - now).total_seconds()
            )
            uow.commit()  # keep the pruning
            raise TooManyAttempts(max(retry, 1))


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
        uow.audit(
            "account:session:ended", actor=actor_for(user_id), subject=user_id, purpose="security"
        )
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


def correct_profile(
    c: Container,
    *,
    user_id: str,
    name: str | None = None,
    email: str | None = None,
    username: str | None = None,
) -> Profile:
    """Art. 16 rectification of name, email or username; audited with field names only."""
    changes = {
        k: v
        for k, v in (
            ("name", None if name is None else rules.clean_name(name)),
            ("email", None if email is None else rules.clean_email(email)),
            ("username", None if username is None else rules.clean_username(username)),
        )
        if v is not None
    }
    index_key = c.secret("blind_index")
    with c.uow() as uow:
        user = _user(uow, user_id)
        if not changes:
            return _profile(uow, user)
        dek = uow.keys.subject_key(user_id)
        email_bidx, user_bidx = user.email_bidx, user.username_bidx
        if "email" in changes:
            email_bidx = blind_index(
                index_key, field="email", value=rules.email_key(changes["email"])
            )
        if "username" in changes:
            user_bidx = blind_index(
                index_key, field="username", value=rules.username_key(changes["username"])
            )
        _ensure_free(uow, email_bidx=email_bidx, username_bidx=user_bidx, except_id=user_id)
        user.email_bidx, user.username_bidx = email_bidx, user_bidx
        for field, value in changes.items():
            setattr(
                user, f"{field}_enc", seal_field(dek, subject_id=user_id, field=field, value=value)
            )
        user.updated_at = c.clock.now()
        uow.audit(
            "account:profile:corrected",
            actor=actor_for(user_id),
            subject=user_id,
            object="fields:" + ",".join(sorted(changes)),
            purpose="service",
        )
        uow.commit()
        return _profile(uow, user)
