"""One table maps every MiniMaker error to its HTTP answer; one handler renders them."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from minimaker.kernel.errors import IntegrityError, MiniMakerError, TooManyAttempts

log = logging.getLogger("minimaker.api")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


async def _minimaker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MiniMakerError)
    if isinstance(exc, IntegrityError):
        # Tampering or corruption is ours to investigate, not the caller's to read about.
        log.error("integrity failure on %s %s: %s", request.method, request.url.path, exc.code)
    headers = {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    extra = {"field": exc.field} if hasattr(exc, "field") else {}
    return JSONResponse(error_body(exc.code, exc.message, **extra), exc.status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Pydantic's default echoes the input back; inputs may be personal data, so we don't.
    problems = [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "reason": err["msg"]}
        for err in exc.errors()
    ]
    return JSONResponse(
        error_body("validation_failed", "the request is invalid", problems=problems), 422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body("http_error", str(exc.detail)), exc.status_code, headers=exc.headers
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(MiniMakerError, _minimaker_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
