"""Signing in: passwords checked under the throttles, sessions opened and ended, tokens read.

`login` and `confirm_password` judge each attempt by the counters of `throttle.py` and the
client's device cookie (`devices.py`); `accounts.service` re-exports what other features
use, so they keep reaching accounts through its service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from minimaker.accounts import devices as device_tokens
from minimaker.accounts import events, passwords, rules, throttle
from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters import tokens
from minimaker.adapters.crypto.fields import blind_index
from minimaker.adapters.driver_read import DriverRead
from minimaker.kernel.actors import SYSTEM_AUTH, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    InvalidCredentials,
    NotAuthenticated,
    PasswordIncorrect,
    PasswordRequired,
    TooManyAttempts,
)
from minimaker.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_at: datetime
    devices: str | None = None  # the device cookie to set: this account's token renewed


def login(
    c: Container, *, login: str, password: str, client_ip: str, devices: str | None = None
) -> IssuedToken:
    """Check a password and open a session; throttled per account, address and device.

    `devices` is the client's device cookie as sent (or None); the token returned carries
    the cookie to set, renewed for this account.
    """
    now = c.clock.now()
    keys = _Keys.of(c)
    field, value = rules.login_key(login)
    column = User.email_bidx if field == "email" else User.username_bidx
    bidx = blind_index(keys.index, field=field, value=value)
    with c.uow() as uow:
        user = uow.session.scalar(select(User).where(column == bidx))
        # Failures count against the account, whichever of its names was typed; a name no
        # account has gets a counter of its own, so both answer alike.
        account = f"account:{user.id}" if user else f"name:{field}:{value}"
        attempt, held = _attempt(
            c, uow, keys, account=account, user=user, client_ip=client_ip, cookie=devices
        )
        _refuse_if_throttled(c, uow, attempt, now)
        if not passwords.password_ok(c.settings, user.password_hash if user else None, password):
            throttle.record_failure(uow, attempt, now)
            uow.audit(events.LOGIN_FAILED, actor=SYSTEM_AUTH, subject=user.id if user else None)
            uow.commit()
            raise InvalidCredentials()
        assert user is not None
        if passwords.needs_rehash(c.settings, user.password_hash):
            # Parameters were raised since this hash was made: upgrade it while we can.
            user.password_hash = passwords.hash_password(c.settings, password)
        throttle.record_success(uow, attempt)
        issued = _open_session(c, uow, user.id, now, keys.token)
        tag = device_tokens.account_tag(keys.index, user.id)
        cookie = device_tokens.remember(keys.device, held, tag=tag, now=now)
        uow.audit(events.SESSION_CREATED, actor=Actor.subject(user.id), subject=user.id)
        uow.commit()
    return replace(issued, devices=cookie)


def start_session(c: Container, *, user_id: str) -> IssuedToken:
    """Open a session for an account just created: sign-up signs the person in at once.

    No password is checked again: the caller created the account with it a moment ago, in
    this very request (a second memory-hard hash would only slow the sign-up).
    """
    now = c.clock.now()
    key = c.secret("token_signing")  # read before the unit: minting a secret writes
    with c.uow() as uow:
        if uow.session.get(User, user_id) is None:
            raise NotAuthenticated("the account no longer exists")
        issued = _open_session(c, uow, user_id, now, key)
        uow.audit(events.SESSION_CREATED, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()
    return issued


def confirm_password(
    c: Container, *, user_id: str, password: str | None, client_ip: str, devices: str | None
) -> None:
    """Proof of the person before a destructive action: their current password.

    Throttled like a sign-in, and a wrong password counts as a failed one: a stolen token
    must not become a way to guess the password either.
    """
    if not password:
        raise PasswordRequired()
    now = c.clock.now()
    keys = _Keys.of(c)
    with c.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotAuthenticated("the account no longer exists")
        attempt, _ = _attempt(
            c,
            uow,
            keys,
            account=f"account:{user.id}",
            user=user,
            client_ip=client_ip,
            cookie=devices,
        )
        _refuse_if_throttled(c, uow, attempt, now)
        if not passwords.password_ok(c.settings, user.password_hash, password):
            throttle.record_failure(uow, attempt, now)
            uow.audit(events.PASSWORD_REFUSED, actor=SYSTEM_AUTH, subject=user.id)
            uow.commit()
            raise PasswordIncorrect()
        throttle.record_success(uow, attempt)
        uow.commit()


@dataclass(frozen=True)
class _Keys:
    """The service secrets a sign-in uses, read before any unit opens (minting one writes)."""

    index: bytes
    token: bytes
    device: bytes

    @classmethod
    def of(cls, c: Container) -> _Keys:
        secret = c.secret
        return cls(secret("blind_index"), secret("token_signing"), secret(device_tokens.SECRET))


def _attempt(
    c: Container,
    uow: UnitOfWork,
    keys: _Keys,
    *,
    account: str,
    user: User | None,
    client_ip: str,
    cookie: str | None,
) -> tuple[throttle.Attempt, list[device_tokens.DeviceToken]]:
    """The counters this attempt is judged by, and the client's valid device tokens."""
    now = c.clock.now()
    ttl = timedelta(days=c.settings.device_cookie_ttl_days)
    held = device_tokens.read(keys.device, cookie, now=now, ttl=ttl)
    device = None
    if user is not None:
        mine = device_tokens.for_account(held, device_tokens.account_tag(keys.index, user.id))
        if mine is not None:
            key = throttle.device_key(keys.index, mine.nonce)
            device = None if throttle.device_exhausted(c, uow, key, now) else key
    account_key = throttle.account_key(keys.index, account)
    address_key = throttle.address_key(keys.index, client_ip)
    return throttle.Attempt(account_key, address_key, device), held


def _refuse_if_throttled(
    c: Container, uow: UnitOfWork, attempt: throttle.Attempt, now: datetime
) -> None:
    throttle.prune(c, uow, now)
    wait = throttle.sign_in_wait(c, uow, attempt, now)
    if wait is not None:
        uow.commit()  # keep the pruning of expired counters; the refusal adds nothing
        raise TooManyAttempts(wait)


def _open_session(
    c: Container, uow: UnitOfWork, user_id: str, now: datetime, key: bytes
) -> IssuedToken:
    session_id = uuid.uuid4().hex
    expires = now + timedelta(seconds=c.settings.token_ttl_s)
    uow.session.add(AuthSession(id=session_id, user_id=user_id, created_at=now, expires_at=expires))
    # The anchor of the inactivity rules (policy account: warned at 23 months, erased at 24).
    uow.session.execute(update(User).where(User.id == user_id).values(last_active_at=now))
    token = tokens.issue(key, sub=user_id, sid=session_id, now=now, expires=expires)
    return IssuedToken(token=token, session_id=session_id, expires_at=expires)


#: The live session a token names, as one statement: the hot path of every signed-in request.
_LIVE_SESSION = DriverRead(
    select(AuthSession.user_id).where(
        AuthSession.id == bindparam("sid"), AuthSession.expires_at > bindparam("now")
    )
)


def live_claims(c: Container, token: str) -> tuple[dict[str, Any], datetime]:
    """The claims of a well-signed, unexpired token, and the time they were judged at."""
    now = c.clock.now()
    return tokens.decode(c.secret("token_signing"), token, now=now), now


def authenticate(c: Container, token: str) -> str:
    """The user id a bearer token or session cookie stands for, if its session is live."""
    claims, now = live_claims(c, token)
    row = _LIVE_SESSION.one_or_none(c.engine, {"sid": claims["sid"], "now": now})
    live = None if row is None else row.user_id
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
