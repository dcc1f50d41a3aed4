"""Who a browser is: the session cookie, and CSRF tokens bound to it (signed double submit).

The `mm_csrf` cookie holds a random nonce; every form carries `csrf` = HMAC(key, nonce |
session), and a POST is accepted only when the field matches the cookie it was made from.
A forged cross-site form cannot read the cookie, so it cannot produce the field; binding the
field to the session also stops a pair planted in the browser (by a sibling subdomain, say,
the classic weakness of a plain double submit) from serving any other session.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import ContainerDep
from minimaker.kernel.container import Container
from minimaker.kernel.errors import CsrfFailed, NotAuthenticated
from minimaker.settings import Settings

SESSION_COOKIE = "mm_session"
CSRF_COOKIE = "mm_csrf"
CSRF_FIELD = "csrf"
_CSRF_SECRET = "csrf_signing"  # noqa: S105 - the name of a keyring secret, not a secret
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# A page form has a handful of fields and at most one file; refuse anything bigger unread.
_MAX_FIELDS, _MAX_FILES = 16, 1


@dataclass(frozen=True)
class Visitor:
    """One request's browser: its container, CSRF nonce and, if live, its session."""

    c: Container
    csrf_nonce: str
    csrf_is_new: bool  # the nonce must be set as a cookie on the response
    session_token: str | None  # only a live session's token; None once it has ended
    user_id: str | None
    ended_session: bool  # the browser sent a session cookie that is no longer live

    def form_token(self) -> str:
        """The `csrf` field value for forms rendered to this visitor."""
        return form_token(self.c.secret(_CSRF_SECRET), self.csrf_nonce, self.session_token)


def form_token(key: bytes, nonce: str, session_token: str | None) -> str:
    """HMAC of the cookie nonce and (a hash of) the session token the form belongs to."""
    binding = hashlib.sha256(session_token.encode()).hexdigest() if session_token else "-"
    return hmac.new(key, f"{nonce}|{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> tuple[str, bool]:
    """The visitor's CSRF nonce from its cookie, or a fresh one (and whether it is fresh)."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if _NONCE.fullmatch(nonce):
        return nonce, False
    return secrets.token_urlsafe(32), True


def verify_form(
    request: Request, c: Container, form: FormData, *, session_cookie: str, secret: str
) -> FormData:
    """`form` if its `csrf` field is the token for this nonce and session, else CsrfFailed."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    submitted = form.get(CSRF_FIELD)
    if not _NONCE.fullmatch(nonce) or not isinstance(submitted, str):
        raise CsrfFailed()
    # The binding is the session cookie as sent, live or not: an ended session then meets
    # the sign-in redirect rather than a confusing "form expired".
    session_token = request.cookies.get(session_cookie) or None
    expected = form_token(c.secret(secret), nonce, session_token)
    if not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed()
    return form


def visitor(request: Request, c: ContainerDep) -> Visitor:
    """Read the cookies; authenticate the session cookie if there is one."""
    nonce, is_new = csrf_nonce(request)
    token = request.cookies.get(SESSION_COOKIE) or None
    user_id = None
    if token is not None:
        with contextlib.suppress(NotAuthenticated):  # ended: the visitor is signed out
            user_id = accounts.authenticate(c, token)
    live = token if user_id is not None else None
    return Visitor(c, nonce, is_new, live, user_id, token is not None and live is None)


VisitorDep = Annotated[Visitor, Depends(visitor)]


def signed_in_user(v: VisitorDep) -> str:
    """The signed-in user's id; without a live session the page answers with /login."""
    if v.user_id is None:
        raise NotAuthenticated("the session has ended; sign in again")
    return v.user_id


UserId = Annotated[str, Depends(signed_in_user)]


async def parsed_form(request: Request) -> AsyncIterator[FormData]:
    form = await request.form(max_files=_MAX_FILES, max_fields=_MAX_FIELDS)
    try:
        yield form
    finally:
        await form.close()  # spooled upload files, whether the form was used or refused


def checked_form(
    request: Request, c: ContainerDep, form: Annotated[FormData, Depends(parsed_form)]
) -> FormData:
    """The posted form, once its `csrf` field proves it came from one of our pages."""
    return verify_form(request, c, form, session_cookie=SESSION_COOKIE, secret=_CSRF_SECRET)


CheckedForm = Annotated[FormData, Depends(checked_form)]


def text_field(form: FormData, name: str) -> str:
    """A form field's text; a missing field, or a file posted in its place, reads as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Hand the browser its session: script cannot read it, other sites' POSTs do not carry it."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_s,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )


def set_csrf_cookie(response: Response, nonce: str, settings: Settings) -> None:
    # Strict: the nonce never travels on a request another site started.
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
