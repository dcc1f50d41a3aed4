"""Device cookies: a client that signed in to an account before is known to that account.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": after a successful sign-in
the client gets a token signed by the service; a later sign-in that presents it passes the
throttles other clients caused (a spray from the same address, a lockout of the account by
someone else), while unknown clients still meet them. Each token has its own failure
counter, so a stolen one buys no more guesses than `login_max_failures`.

A token is `v1.<account tag>.<issued>.<nonce>.<mac>`: the tag is a blind index of the
account id (a keyed hash, no personal data in clear), `issued` the Unix time it was made,
the MAC an HMAC-SHA256 under the service secret `device_cookie` over everything before it.
One cookie holds the tokens of the last few accounts used on the client, `~`-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from minimaker.adapters.crypto.fields import blind_index

SECRET = "device_cookie"  # noqa: S105 - the name of a keyring secret
#: Accounts remembered per client: a shared family computer, not a collection.
MAX_ACCOUNTS = 5
_SEP = "~"
_TOKEN = re.compile(r"v1\.([0-9a-f]{64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")
#: Longest cookie value read: MAX_ACCOUNTS tokens and their separators, nothing more.
MAX_COOKIE_CHARS = MAX_ACCOUNTS * 160


@dataclass(frozen=True)
class DeviceToken:
    """One account's token on this client, as read from the cookie (MAC already checked)."""

    tag: str
    issued: int
    nonce: str
    text: str


def account_tag(index_key: bytes, user_id: str) -> str:
    """The account's blind index in a device token: the same for every client, unreadable."""
    return blind_index(index_key, field="device-account", value=user_id)


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def mint(key: bytes, *, tag: str, now: datetime) -> str:
    """A fresh token for the account `tag`, issued now."""
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")
    body = f"v1.{tag}.{int(now.timestamp())}.{nonce}"
    return f"{body}.{_mac(key, body)}"


def read(key: bytes, cookie: str | None, *, now: datetime, ttl: timedelta) -> list[DeviceToken]:
    """The cookie's tokens that are well formed, signed by us, not expired nor from the future.

    Anything else (forged, truncated, re-signed with another key, too old) is dropped
    silently: a bad cookie only means an unknown client, never an error.
    """
    if not cookie or len(cookie) > MAX_COOKIE_CHARS:
        return []
    found = []
    for text in cookie.split(_SEP)[:MAX_ACCOUNTS]:
        match = _TOKEN.fullmatch(text)
        if match is None:
            continue
        tag, issued, nonce, mac = match.groups()
        body = text.rsplit(".", 1)[0]
        if not hmac.compare_digest(_mac(key, body).encode(), mac.encode()):
            continue
        age = now.timestamp() - int(issued)
        if -60 <= age < ttl.total_seconds():  # issued at most a minute ahead: clock skew
            found.append(DeviceToken(tag, int(issued), nonce, text))
    return found


def for_account(tokens: list[DeviceToken], tag: str) -> DeviceToken | None:
    """The token this client holds for the account `tag`, if any."""
    return next((t for t in tokens if t.tag == tag), None)


def remember(key: bytes, tokens: list[DeviceToken], *, tag: str, now: datetime) -> str:
    """The cookie after a sign-in to `tag`: a fresh token for it first, the others kept."""
    others = [t.text for t in tokens if t.tag != tag][: MAX_ACCOUNTS - 1]
    return _SEP.join([mint(key, tag=tag, now=now), *others])
