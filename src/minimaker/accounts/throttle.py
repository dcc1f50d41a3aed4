"""Throttles on guessing passwords and on sign-ups, kept as keyed counters.

Sign-in follows OWASP's guidance on lockouts, so that an attacker is slowed without others
being locked out:
- per account: failures from unknown clients slow that account's unknown clients with a
  backoff that doubles with each failure past `login_max_failures`, capped at the window;
- per address: an address with `login_address_max_failures` failures in the window may no
  longer try accounts that have failures of their own, so a spray from it gets one guess
  per account; an account nobody attacked is never refused because of others' failures;
- per device: a client presenting a valid device cookie for the account (`devices.py`)
  passes both; its failures count on the cookie's own counter, and past
  `login_max_failures` it is an unknown client again.

Every counter is a row of `login_failures` keyed by a blind index (a keyed hash) of what it
counts: nothing readable is stored, and the rows outlive no window. Helpers work in their
caller's unit and never commit it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from minimaker.accounts.tables import LoginFailure
from minimaker.adapters.crypto.fields import blind_index
from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.settings import Settings

ACCOUNT, ADDRESS, DEVICE, SIGNUP = "throttle-account", "throttle-ip", "throttle-device", "signup-ip"


@dataclass(frozen=True)
class Attempt:
    """The counters one sign-in attempt is judged by and counted on."""

    account: str
    address: str
    device: str | None  # the counter of the client's valid device token; None: unknown client

    @property
    def known_device(self) -> bool:
        return self.device is not None


def address_value(ip: str) -> str:
    """The unit an address is counted in: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber holds a whole /64; counting single addresses would give them 2^64
    fresh counters to rotate through.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def account_key(index_key: bytes, account: str) -> str:
    """The counter of one account (`account:<id>`) or of a name no account has."""
    return blind_index(index_key, field=ACCOUNT, value=account)


def address_key(index_key: bytes, ip: str, field: str = ADDRESS) -> str:
    return blind_index(index_key, field=field, value=address_value(ip))


def device_key(index_key: bytes, nonce: str) -> str:
    return blind_index(index_key, field=DEVICE, value=nonce)


def _longest_window(settings: Settings) -> int:
    return max(settings.login_window_s, settings.signup_window_s)


def prune(c: Container, uow: UnitOfWork, now: datetime) -> None:
    """Drop counters past the longest window any throttle reads, in the caller's unit."""
    cutoff = now - timedelta(seconds=_longest_window(c.settings))
    uow.session.execute(delete(LoginFailure).where(LoginFailure.at < cutoff))


def _times(uow: UnitOfWork, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How often `key` was counted after `since` (the window's open start), and when last."""
    count, newest = uow.session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.key == key, LoginFailure.at > since
        )
    ).one()
    return int(count), newest


def _until_below(uow: UnitOfWork, key: str, since: datetime, limit: int) -> int:
    """Seconds until fewer than `limit` counts of `key` remain in the window."""
    count, _ = _times(uow, key, since)
    if count < limit:
        return 0
    # The (count - limit + 1)-th oldest leaving the window brings the count under the limit.
    nth = uow.session.scalar(
        select(LoginFailure.at)
        .where(LoginFailure.key == key, LoginFailure.at > since)
        .order_by(LoginFailure.at)
        .offset(count - limit)
        .limit(1)
    )
    assert nth is not None
    return _seconds(nth - since)  # = nth + window - now


def _seconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() + 0.999), 1)


def window_wait(
    uow: UnitOfWork, key: str, *, now: datetime, limit: int, window_s: int
) -> int | None:
    """Seconds to wait when `key` was counted `limit` times in the window, else None."""
    since = now - timedelta(seconds=window_s)
    wait = _until_below(uow, key, since, limit)
    return wait or None


def backoff_s(settings: Settings, failures: int) -> int:
    """The wait after an account's `failures`-th failure: none below the limit, then doubling."""
    over = failures - settings.login_max_failures
    if over < 0:
        return 0
    doubled: int = settings.login_backoff_s << min(over, 30)  # base * 2**over
    return min(doubled, settings.login_window_s)


def sign_in_wait(c: Container, uow: UnitOfWork, attempt: Attempt, now: datetime) -> int | None:
    """Seconds this attempt must wait, or None; a known device never waits for others."""
    if attempt.known_device:
        return None
    settings = c.settings
    since = now - timedelta(seconds=settings.login_window_s)
    failures, newest = _times(uow, attempt.account, since)
    if newest is not None:
        wait = newest + timedelta(seconds=backoff_s(settings, failures)) - now
        if wait > timedelta(0):
            return _seconds(wait)
    if failures == 0:
        return None  # nobody attacked this account: others' failures do not refuse it
    limit = settings.login_address_max_failures
    wait_s = _until_below(uow, attempt.address, since, limit)
    return wait_s or None


def device_exhausted(c: Container, uow: UnitOfWork, key: str, now: datetime) -> bool:
    """Whether a device token used up its own failures: it is then an unknown client."""
    since = now - timedelta(seconds=c.settings.login_window_s)
    return _times(uow, key, since)[0] >= c.settings.login_max_failures


def record_failure(uow: UnitOfWork, attempt: Attempt, now: datetime) -> None:
    """Count a wrong password: on the device's counter if known, else on account and address."""
    keys = [attempt.device] if attempt.device else [attempt.account, attempt.address]
    record(uow, keys, now)


def record_success(uow: UnitOfWork, attempt: Attempt) -> None:
    """Reset the counter that judged the attempt (the device's, or the account's)."""
    forget(uow, attempt.device or attempt.account)


def record(uow: UnitOfWork, keys: list[str], now: datetime) -> None:
    """Count one event on each keyed counter, in the caller's unit."""
    for key in keys:
        uow.session.add(LoginFailure(key=key, at=now))


def forget(uow: UnitOfWork, key: str) -> None:
    """Reset one keyed counter, in the caller's unit."""
    uow.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def signup_wait(c: Container, uow: UnitOfWork, key: str, now: datetime) -> int | None:
    """Seconds until this address may sign up again, or None."""
    limit, window_s = c.settings.signup_max_per_address, c.settings.signup_window_s
    return window_wait(uow, key, now=now, limit=limit, window_s=window_s)
