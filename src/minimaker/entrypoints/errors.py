"""The one error renderer: every error met while answering a request becomes its answer here.

Each MiniMakerError carries its HTTP status (`MiniMakerError.status`, datasette's way), so no
status table has to be kept in step with the error tree. This module adds the rest of the
answer, in one place: `answer` maps each kind of error (ours, a malformed request, an unknown
route) to its status, code, safe message and headers (Retry-After); `respond` gives it the
form the request takes — JSON under /api/ (with WWW-Authenticate on a 401), an HTML page
elsewhere, the sign-in page when a page's session has ended, or the page a route declared
for its errors (`http.errors_as_page`: the emailed links under /api/v1/privacy/verify). The
body-size limit and the sign-in forms take their answers from here too, and the OpenAPI
document (entrypoints/openapi.py) takes the one shape of a JSON error from `ErrorBody`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from minimaker.entrypoints.http import declared_error_page
from minimaker.entrypoints.page_shell.render import NO_STORE, environment
from minimaker.entrypoints.page_shell.session import USER, SignInRequired
from minimaker.kernel.errors import (
    CsrfFailed,
    MiniMakerError,
    NotAuthenticated,
    StorageUnavailable,
    TooManyAttempts,
)

log = logging.getLogger("minimaker.http")

# Ours to investigate (tampering, a lost key), not a visitor's to read about on a page.
_OUR_SIDE = "something went wrong on our side; please try later"
_ROUTING_MESSAGES = {
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


#: The order methods are listed in an `Allow` header.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Problem(BaseModel):
    """One reason a request was invalid: the field (dotted path) and what is wrong with it."""

    field: str
    reason: str


class ErrorDetail(BaseModel):
    code: str
    message: str  # safe to show: never personal data
    field: str | None = None  # the one field an error of ours is about, when it names one
    problems: list[Problem] | None = None  # a request that failed validation: every problem


class ErrorBody(BaseModel):
    """Every JSON error answer has this shape, whatever its status."""

    error: ErrorDetail


@dataclass(frozen=True)
class Answer:
    """What an error answers, before it takes the form (JSON or page) the request asks for."""

    status: int
    code: str
    message: str  # safe to show: never personal data
    headers: Mapping[str, str] = field(default_factory=dict)
    detail: Mapping[str, object] = field(default_factory=dict)  # JSON only: field, problems
    page_message: str | None = None  # what a page says instead of `message`
    title: str | None = None  # a page's title instead of the one for its status

    @property
    def on_page(self) -> str:
        return self.page_message or self.message


def answer(exc: Exception) -> Answer:
    """The table: what each kind of error answers."""
    if isinstance(exc, MiniMakerError):
        return _ours(exc)
    if isinstance(exc, RequestValidationError):
        # Pydantic's default echoes the input back; inputs may be personal data, so we don't.
        problems = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "reason": err["msg"]}
            for err in exc.errors()
        ]
        fields = {p["field"] for p in problems}
        # One field at fault is named as our own validation errors name it.
        detail = {"problems": problems, **({"field": fields.pop()} if len(fields) == 1 else {})}
        return Answer(422, "validation_failed", "the request is invalid", detail=detail)
    if isinstance(exc, StarletteHTTPException):  # no such route, or not that method
        status = exc.status_code
        message = _ROUTING_MESSAGES.get(status)
        return Answer(
            status, "http_error", str(exc.detail), exc.headers or {}, page_message=message
        )
    raise TypeError(f"no answer for {type(exc).__name__}")


def _ours(exc: MiniMakerError) -> Answer:
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyAttempts | StorageUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    return Answer(
        exc.status,
        exc.code,
        exc.message,
        headers,
        detail={"field": exc.field} if hasattr(exc, "field") else {},
        page_message=_OUR_SIDE if exc.status >= 500 else None,
        title="This form has expired" if isinstance(exc, CsrfFailed) else None,
    )


def respond(request: Request, exc: Exception) -> Response:
    """The answer to `exc`, in the form this request takes."""
    found = answer(exc)
    if found.status == 405:
        # Starlette names only the methods of the first route on this path; RFC 9110 wants all.
        found = replace(found, headers={**found.headers, "Allow": allowed_methods(request)})
    if found.status >= 500:
        # Ours to investigate (tampering, a lost key). The route's template, not the path:
        # a path may carry an emailed link's token or whatever a visitor typed.
        route = getattr(request.scope.get("route"), "path", "-")
        log.error("%s on %s %s", found.code, request.method, route)
    declared = declared_error_page(request)
    if declared is not None:
        return declared(found.status, found.on_page)
    if request.url.path.startswith("/api/"):
        return as_json(found)
    if isinstance(exc, NotAuthenticated):
        session = exc.session if isinstance(exc, SignInRequired) else USER
        return session.sign_in_redirect(request)
    staff = request.url.path == "/admin" or request.url.path.startswith("/admin/")
    return error_page(
        found.status, found.on_page, title=found.title, headers=found.headers, staff=staff
    )


def allowed_methods(request: Request) -> str:
    """Every method the requested path takes, as OpenAPI matches paths: a literal path (such
    as /privacy/requests/public) before a template that would also match it (/{request_id})."""
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            by_template.setdefault(str(route.path_format), set()).update(route.methods)
    if not by_template:
        return ""
    fewest = min(t.count("{") for t in by_template)
    methods = set().union(*(m for t, m in by_template.items() if t.count("{") == fewest))
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(m for m in _METHOD_ORDER if m in methods)


def error_body(code: str, message: str, **detail: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **detail}}


def as_json(found: Answer) -> JSONResponse:
    headers = dict(found.headers)
    if found.status == 401:
        headers["WWW-Authenticate"] = "Bearer"  # the scheme an API client should answer with
    body = error_body(found.code, found.message, **found.detail)
    return JSONResponse(body, found.status, headers=headers)


def error_page(
    status: int,
    message: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    staff: bool = False,
) -> HTMLResponse:
    """A page with a title, the safe message and a way back (to the staff pages for a staff
    page's error, to the app otherwise); no forms, so no session needed."""
    title = title or _TITLES.get(status, "Something went wrong")
    html = (
        environment()
        .get_template("error.html")
        .render(
            title=title,
            status=status,
            message=message,
            staff=staff,
            signed_in=False,
            refresh=False,
        )
    )
    return HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})


async def _handle(request: Request, exc: Exception) -> Response:
    return respond(request, exc)


def install(app: FastAPI) -> None:
    """Route every error the app meets, ours or the framework's, through `respond`."""
    for error in (MiniMakerError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(error, _handle)
