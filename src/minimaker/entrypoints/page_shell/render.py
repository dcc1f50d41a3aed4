"""HTML out: the Jinja2 templates, and error pages for every path outside /api/."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from minimaker.entrypoints.page_shell import session
from minimaker.entrypoints.page_shell.session import Visitor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    CsrfFailed,
    MiniMakerError,
    NotAuthenticated,
    TooManyAttempts,
    ValidationFailed,
)

log = logging.getLogger("minimaker.web")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Pages may show a person's photos and profile: never keep them in any cache.
_NO_STORE = {"Cache-Control": "private, no-store"}
#: What each form field is called on the page; error summaries name fields by these.
LABELS = {
    "name": "Name",
    "email": "Email",
    "username": "Username",
    "password": "Password",
    "login": "Username or email",
    "file": "Photo",
    "width_mm": "Width (mm)",
    "base_mm": "Base thickness (mm)",
    "max_relief_mm": "Maximum relief (mm)",
    "lithophane": "Lithophane",
}
_HTTP_MESSAGES = {
    404: "there is no page at this address",
    405: "this address does not take that kind of request",
}
_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not ready yet",
    413: "Too large",
    415: "Unsupported file",
    422: "That did not work",
    429: "Too many attempts",
}

PageHandler = Callable[[Request, Exception], Awaitable[Response]]


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the tests, not a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["sentence"] = _sentence
    env.globals["labels"] = LABELS
    return env


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _sentence(message: str) -> str:
    """Service messages are lower-case fragments; on a page they read as sentences."""
    text = message.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


class PageVisitor(Protocol):
    """What a page needs of its visitor, user or staff: the container and the CSRF state."""

    @property
    def c(self) -> Container: ...
    @property
    def csrf_nonce(self) -> str: ...
    @property
    def csrf_is_new(self) -> bool: ...
    @property
    def ended_session(self) -> bool: ...
    def form_token(self) -> str: ...


def render_page(
    v: PageVisitor,
    template: str,
    *,
    base: Mapping[str, Any],
    clear_ended: Callable[[Response], None],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **ctx: Any,
) -> HTMLResponse:
    """Render a page with its CSRF token, the nonce cookie if new, the ended session cleared."""
    context: dict[str, Any] = {
        "csrf": v.form_token(),
        "refresh": False,
        "error": None,
        "field_errors": {},
        "values": {},
        "notice": None,
        **base,
    }
    context.update(ctx)
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status_code=status, headers={**_NO_STORE, **(headers or {})})
    if v.csrf_is_new:
        session.set_csrf_cookie(response, v.csrf_nonce, v.c.settings)
    if v.ended_session:
        clear_ended(response)
    return response


def render(
    v: Visitor,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **ctx: Any,
) -> HTMLResponse:
    """Render a page for this (user) visitor."""
    return render_page(
        v,
        template,
        base={"signed_in": v.user_id is not None},
        clear_ended=lambda r: session.clear_session_cookie(r, v.c.settings),
        status=status,
        headers=headers,
        **ctx,
    )


def see_other(url: str) -> RedirectResponse:
    """Post/Redirect/Get: a reload after a successful POST must not post again."""
    return RedirectResponse(url, status_code=303)


def form_failure(exc: MiniMakerError) -> dict[str, Any]:
    """Template context that re-shows a form with the error's safe message."""
    field = getattr(exc, "field", None)
    if field is None:
        return {"error": exc.message, "field_errors": {}}
    if isinstance(exc, ValidationFailed):
        # "Email is not a valid email address" reads better than "email: is not ...".
        message = f"{LABELS.get(field, field)} {exc.reason}"
    else:
        message = exc.message
    return {"error": message, "field_errors": {field: message}}


def error_headers(exc: MiniMakerError) -> dict[str, str]:
    if isinstance(exc, TooManyAttempts):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def error_page(
    status: int,
    message: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page with a title, the safe message and a way back; no forms, so no session needed."""
    title = title or _TITLES.get(status, "Something went wrong")
    html = (
        environment()
        .get_template("error.html")
        .render(title=title, status=status, message=message, signed_in=False, refresh=False)
    )
    return HTMLResponse(html, status_code=status, headers={**_NO_STORE, **(headers or {})})


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MiniMakerError)
    if isinstance(exc, NotAuthenticated):
        response: Response = RedirectResponse("/login", status_code=303)
        if request.cookies.get(session.SESSION_COOKIE):
            session.clear_session_cookie(response, request.app.state.container.settings)
        return response
    if exc.status >= 500:
        # Ours to investigate (tampering, a lost key), not the visitor's to read about.
        log.error("page error on %s %s: %s", request.method, request.url.path, exc.code)
        return error_page(exc.status, "something went wrong on our side; please try later")
    title = "This form has expired" if isinstance(exc, CsrfFailed) else None
    return error_page(exc.status, exc.message, title=title, headers=error_headers(exc))


async def _page_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return error_page(exc.status_code, message, headers=exc.headers)


async def _page_validation_error(request: Request, exc: Exception) -> Response:
    return error_page(422, "the request is invalid")


def install_error_pages(app: FastAPI) -> None:
    """Errors on pages render as HTML; /api/ keeps the JSON handlers installed before us."""
    for exc_class, page_handler in (
        (MiniMakerError, _page_error),
        (StarletteHTTPException, _page_http_error),
        (RequestValidationError, _page_validation_error),
    ):
        api_handler = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _by_prefix(api_handler, page_handler))


def _by_prefix(api_handler: Any, page_handler: PageHandler) -> PageHandler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/api/"):
            return await page_handler(request, exc)
        if api_handler is None:
            raise exc
        answer = api_handler(request, exc)  # Starlette allows sync and async handlers
        return await answer if inspect.isawaitable(answer) else answer  # type: ignore[no-any-return]

    return handle
