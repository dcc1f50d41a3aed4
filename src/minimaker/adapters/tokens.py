"""Signed, expiring bearer tokens (HS256 JWT) naming a subject and a live session row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt

from minimaker.kernel.errors import NotAuthenticated

ALG = "HS256"


def issue(
    key: bytes, *, sub: str, sid: str, now: datetime, expires: datetime, audience: str | None = None
) -> str:
    """A token for session `sid` of `sub`, valid until `expires`."""
    claims: dict[str, Any] = {
        "sub": sub,
        "sid": sid,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm=ALG)


def decode(
    key: bytes, token: str, *, now: datetime, audience: str | None = None, what: str = "token"
) -> dict[str, Any]:
    """The claims of a valid, unexpired token (for `audience`), else NotAuthenticated."""
    required = ["sub", "sid", "exp"] + (["aud"] if audience else [])
    try:
        # Time is checked against our clock below (and the session row), not PyJWT's.
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALG],
            audience=audience,
            options={"require": required, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"the {what} is invalid or expired") from exc
    if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
        raise NotAuthenticated(f"the {what} is invalid or expired")
    return claims


def session_of(token: str) -> str | None:
    """The session id a token names, unverified: only for ending that session (logout)."""
    try:
        sid = jwt.decode(token, options={"verify_signature": False}).get("sid")
    except jwt.PyJWTError:
        return None
    return sid if isinstance(sid, str) else None
