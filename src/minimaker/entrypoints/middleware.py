"""ASGI middleware: security headers on every response, and a hard limit on body size."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minimaker.entrypoints import errors
from minimaker.kernel.errors import MiniMakerError, PayloadTooLarge

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        b"script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
]


#: API answers are personal (a profile, a token, a list of photos) unless a route says
#: otherwise: no browser or proxy may keep them, as no page may.
_API_DEFAULTS = [(b"cache-control", b"no-store")]


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing, no referrer, strict CSP; and
    `Cache-Control: no-store` on every API answer that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = _SECURITY_HEADERS
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/api/"):
            wanted = _SECURITY_HEADERS + _API_DEFAULTS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in wanted if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(PayloadTooLarge):
    """The request body as a whole, not only the file in it, is over the limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        MiniMakerError.__init__(self, f"the request body exceeds the limit of {limit_bytes} bytes")


class _OverLimit(Exception):
    """Raised from the app's own body read once the body passes the limit."""


class BodySizeLimit:
    """413 for any request body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _OverLimit()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _OverLimit:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The one error renderer decides the form: JSON on the API, a page for a browser.
        response = errors.respond(Request(scope), BodyTooLarge(self.limit))
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)
