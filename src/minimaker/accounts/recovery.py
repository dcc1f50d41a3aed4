"""Passwords changed and forgotten: a change proved by the current password, a reset by a
single-use emailed link. Either ends the other sessions, so whoever knew the old password, or
held a session made with it, is out.

A reset link carries 32 random bytes; only their SHA-256 is stored (a stolen table opens no
account), a link works once and for `RESET_TTL`, and asking for another replaces it. The
answer to "send me a link" is the same whether or not an account has the address, so the
form tells no one who has an account here; asking is throttled like a sign-in, per address
and per typed address (`throttle.py`), the second silently, so nobody can flood an inbox.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from minimaker.accounts import events, passwords, rules, throttle
from minimaker.accounts.authentication import confirm_password
from minimaker.accounts.tables import AuthSession, PasswordReset, User
from minimaker.adapters import tokens
from minimaker.adapters.crypto.fields import blind_index
from minimaker.kernel.actors import SYSTEM_AUTH, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotAuthenticated, TooManyAttempts, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox

#: How long an emailed reset link works (OWASP Forgot Password: short-lived).
RESET_TTL = timedelta(hours=1)
#: Where the link leads; the token follows it (the page posts it back, never logs it).
RESET_PATH = "/password/reset?token="
MAIL_KIND = "password_reset"
RESET_ADDRESS, RESET_EMAIL = "reset-ip", "reset-email"


def change_password(
    c: Container,
    *,
    user_id: str,
    current: str,
    new: str,
    client_ip: str,
    devices: str | None,
    keep_token: str,
) -> None:
    """Set a new password once the current one is proved; every other session ends.

    The proof is throttled and counted like a sign-in (`confirm_password`), so a stolen
    session cannot become a way to guess the password.
    """
    rules.check_password(new)
    if new == current:
        raise ValidationFailed("new_password", "must differ from the current password")
    confirm_password(c, user_id=user_id, password=current, client_ip=client_ip, devices=devices)
    pw_hash = passwords.hash_password(c.settings, new)
    with c.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotAuthenticated("the account no longer exists")
        user.password_hash = pw_hash
        user.updated_at = c.clock.now()
        keep = tokens.session_of(keep_token)
        uow.session.execute(
            delete(AuthSession).where(AuthSession.user_id == user_id, AuthSession.id != keep)
        )
        uow.session.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))
        uow.audit(events.PASSWORD_CHANGED, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()


def request_reset(c: Container, *, email: str, client_ip: str) -> None:
    """Mail a reset link to the account with this address, if there is one; the same
    answer (None) either way. TooManyAttempts when this client asked too often."""
    address = rules.clean_email(email)
    index_key = c.secret("blind_index")  # read before the unit: minting a secret writes
    now = c.clock.now()
    with c.uow() as uow:
        throttle.prune(c, uow, now)
        by_address = throttle.address_key(index_key, client_ip, field=RESET_ADDRESS)
        limit, window = c.settings.login_address_max_failures, c.settings.login_window_s
        wait = throttle.window_wait(uow, by_address, now=now, limit=limit, window_s=window)
        if wait is not None:
            uow.commit()  # keep the pruning; the refusal adds nothing
            raise TooManyAttempts(wait)
        by_email = blind_index(index_key, field=RESET_EMAIL, value=rules.email_key(address))
        flooded = throttle.window_wait(
            uow, by_email, now=now, limit=c.settings.login_max_failures, window_s=window
        )
        throttle.record(uow, [by_address, by_email], now)
        user_id = _account(uow, index_key, address)
        if user_id is not None and flooded is None:
            _mail_link(uow, user_id, now)
        uow.commit()


def _account(uow: UnitOfWork, index_key: bytes, address: str) -> str | None:
    bidx = blind_index(index_key, field="email", value=rules.email_key(address))
    return uow.session.scalar(select(User.id).where(User.email_bidx == bidx))


def _mail_link(uow: UnitOfWork, user_id: str, now: datetime) -> None:
    token = secrets.token_urlsafe(32)
    # One live link per account: asking again replaces it; expired ones go with it.
    uow.session.execute(
        delete(PasswordReset).where(
            (PasswordReset.user_id == user_id) | (PasswordReset.expires_at <= now)
        )
    )
    uow.session.add(
        PasswordReset(
            id=uuid.uuid4().hex,
            user_id=user_id,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + RESET_TTL,
        )
    )
    link = f"{uow.c.settings.public_url.rstrip('/')}{RESET_PATH}{token}"
    outbox.queue_to_subject(
        uow,
        subject_id=user_id,
        kind=MAIL_KIND,
        subject="Reset your MiniMaker password",
        body="Someone, probably you, asked to reset the password of your MiniMaker account. "
        f"To choose a new one, open this link within the hour:\n\n{link}\n\n"
        "It works once. If you did not ask, ignore this message: your password stays as it is.",
    )
    uow.audit(events.PASSWORD_RESET_REQUESTED, actor=SYSTEM_AUTH, subject=user_id)


def reset_password(c: Container, *, token: str, new: str) -> None:
    """Set a new password with a live reset link, which dies with it; every session ends.

    A used, replaced, expired or made-up link is refused alike (ResetLinkInvalid)."""
    rules.check_password(new)
    pw_hash = passwords.hash_password(c.settings, new)
    now = c.clock.now()
    with c.uow() as uow:
        found = uow.session.scalar(
            select(PasswordReset)
            .where(PasswordReset.token_hash == _digest(token))
            .with_for_update()
        )
        if found is None or found.expires_at <= now:
            raise ResetLinkInvalid()
        user_id = found.user_id
        user = uow.session.get(User, user_id)
        if user is None:
            raise ResetLinkInvalid()
        user.password_hash = pw_hash
        user.updated_at = now
        uow.session.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))
        uow.session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
        uow.audit(events.PASSWORD_RESET, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()


def reset_link_live(c: Container, *, token: str) -> bool:
    """Whether a reset link would still work (the page asks before showing its form)."""
    with c.uow(write=False) as uow:
        expires = uow.session.scalar(
            select(PasswordReset.expires_at).where(PasswordReset.token_hash == _digest(token))
        )
    return expires is not None and expires > c.clock.now()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResetLinkInvalid(ValidationFailed):
    """A reset link that is used, replaced, expired or unknown: all refused alike."""

    def __init__(self) -> None:
        super().__init__(
            "token", "this link no longer works (it was used, replaced or is over an hour old)"
        )
