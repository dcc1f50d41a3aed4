"""Who a browser is: a session cookie, and CSRF tokens bound to it (signed double submit).

The `mm_csrf` cookie holds a random nonce; every form carries `csrf` = HMAC(key, nonce |
session), and a POST is accepted only when the field matches the cookie it was made from.
A forged cross-site form cannot read the cookie, so it cannot produce the field; binding the
field to the session also stops a pair planted in the browser (by a sibling subdomain, say,
the classic weakness of a plain double submit) from serving any other session.

One mechanism serves every kind of session: a `CookieSession` names its cookie and where it
travels, the kind of token it holds, the key its forms are signed with and the sign-in page
an ended session leads to. The user's session is declared here, since every user page
shares it; the staff pages declare theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from minimaker.entrypoints.http import TokenKind, authenticate, container
from minimaker.kernel.container import Container
from minimaker.kernel.errors import CsrfFailed, NotAuthenticated
from minimaker.settings import Settings

CSRF_COOKIE = "mm_csrf"
CSRF_FIELD = "csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# A page form has a handful of fields and at most one file; refuse anything bigger unread.
_MAX_FIELDS, _MAX_FILES = 16, 1


class SignInRequired(NotAuthenticated):
    """A page that needs a live session met none: answered with that session's sign-in page."""

    def __init__(self, session: CookieSession) -> None:
        self.session = session
        super().__init__("the session has ended; sign in again")


@dataclass(frozen=True)
class Visitor:
    """One request's browser: its CSRF nonce and, if live, its session and who that is."""

    c: Container
    session: CookieSession
    csrf_nonce: str
    csrf_is_new: bool  # the nonce must be set as a cookie on the response
    token: str | None  # only a live session's token; None once it has ended
    who: Any  # who the live session stands for (a user id, a staff identity), else None
    ended_session: bool  # the browser sent a session cookie that is no longer live

    def form_token(self) -> str:
        """The `csrf` field value for forms rendered to this visitor."""
        key = self.c.secret(self.session.csrf_secret)
        return form_token(key, self.csrf_nonce, self.token)


@dataclass(frozen=True)
class CookieSession:
    """One kind of browser session: its cookie, the token kind it holds, its sign-in page."""

    cookie: str
    kind: TokenKind
    sign_in: str  # where a visitor without a live session is sent
    home: str  # where a signed-in visitor is sent from the sign-in page
    path: str = "/"
    samesite: Literal["lax", "strict"] = "lax"
    csrf_secret: str = "csrf_signing"  # noqa: S105 - the name of a keyring secret

    def visitor(self, request: Request) -> Visitor:
        """Read the cookies; authenticate this session's cookie if there is one."""
        nonce, is_new = csrf_nonce(request)
        token = request.cookies.get(self.cookie) or None
        who = None
        if token is not None:
            with contextlib.suppress(NotAuthenticated):  # ended: the visitor is signed out
                who = authenticate(request, self.kind, token)
        live = token if who is not None else None
        ended = token is not None and live is None
        return Visitor(container(request), self, nonce, is_new, live, who, ended)

    def signed_in(self, v: Visitor) -> Any:
        """Who the visitor's live session stands for; without one, SignInRequired."""
        if v.who is None:
            raise SignInRequired(self)
        return v.who

    def checked_form(
        self, request: Request, form: Annotated[FormData, Depends(parsed_form)]
    ) -> FormData:
        """The posted form, once its `csrf` field proves it came from a page of this session."""
        c = container(request)
        return verify_form(request, c, form, session_cookie=self.cookie, secret=self.csrf_secret)

    def set_cookie(self, response: Response, token: str, settings: Settings) -> None:
        """Hand the browser its session: script cannot read it, other sites' POSTs lack it."""
        response.set_cookie(
            self.cookie,
            token,
            max_age=settings.token_ttl_s,
            path=self.path,
            secure=settings.cookie_secure,
            httponly=True,
            samesite=self.samesite,
        )

    def clear_cookie(self, response: Response, settings: Settings) -> None:
        response.delete_cookie(
            self.cookie,
            path=self.path,
            secure=settings.cookie_secure,
            httponly=True,
            samesite=self.samesite,
        )

    def sign_in_redirect(self, request: Request) -> Response:
        """To the sign-in page; a cookie of an ended session is forgotten on the way, and the
        page is told why it is shown (`?ended=session`)."""
        if not request.cookies.get(self.cookie):
            return RedirectResponse(self.sign_in, status_code=303)
        response = RedirectResponse(f"{self.sign_in}?ended=session", status_code=303)
        self.clear_cookie(response, container(request).settings)
        return response


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


async def parsed_form(request: Request) -> AsyncIterator[FormData]:
    form = await request.form(max_files=_MAX_FILES, max_fields=_MAX_FIELDS)
    try:
        yield form
    finally:
        await form.close()  # spooled upload files, whether the form was used or refused


def text_field(form: FormData, name: str) -> str:
    """A form field's text; a missing field, or a file posted in its place, reads as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


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


#: The user's session: every user page (account, workspace, privacy centre) shares it.
USER = CookieSession(cookie="mm_session", kind="user", sign_in="/login", home="/app")
VisitorDep = Annotated[Visitor, Depends(USER.visitor)]


def signed_in_user(request: Request, v: VisitorDep) -> str:
    """The signed-in user's id; without a live session the page answers with /login, and
    while a significant policy version is unacknowledged, with the acknowledgement step."""
    from minimaker.publication.pages import ask_acknowledgement  # it imports this module

    user_id: str = USER.signed_in(v)
    ask_acknowledgement(request, v.c, user_id)  # policy 12
    return user_id


UserId = Annotated[str, Depends(signed_in_user)]
CheckedForm = Annotated[FormData, Depends(USER.checked_form)]
