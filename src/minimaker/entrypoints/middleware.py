"""ASGI middleware: security headers on every response; a request body's size and media type."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minimaker.entrypoints import errors
from minimaker.kernel.errors import MiniMakerError, PayloadTooLarge, UnsupportedMediaType
from minimaker.settings import Settings

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


#: RFC 6797: browsers that met the site over HTTPS refuse plain HTTP to it (and its
#: subdomains) for two years, so no later link or typed URL leaks a cookie in plaintext. Sent
#: only over HTTPS: over HTTP it would be ignored (6797 8.1), and a stray one on a loopback
#: development server would lock the browser out of http://localhost for two years.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")

#: API answers are personal (a profile, a token, a list of photos) unless a route says
#: otherwise: no browser or proxy may keep them, as no page may.
_API_DEFAULTS = [(b"cache-control", b"no-store")]


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing, no referrer, strict CSP;
    `Cache-Control: no-store` on every API answer that does not set its own; and over HTTPS,
    HSTS and the Secure flag on every cookie set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = _SECURITY_HEADERS
        if str(scope.get("path", "")).startswith("/api/"):
            wanted = _SECURITY_HEADERS + _API_DEFAULTS
        tls = came_over_https(scope, _settings(scope))
        if tls:
            wanted = [*wanted, HSTS]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if tls:
                    headers = [_secure_cookie(k, v) for k, v in headers]
                names = {k.lower() for k, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in wanted if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A Set-Cookie header with the Secure flag added if it lacks it; any other as it is."""
    # Over HTTPS every cookie is Secure, whatever cookie_secure says: a browser then never
    # sends the session, CSRF or device cookie over plain HTTP (a downgrade or a stray link).
    if name.lower() != b"set-cookie":
        return name, value
    attributes = {a.strip().lower() for a in value.split(b";")[1:]}
    return name, value if b"secure" in attributes else value + b"; Secure"


def _settings(scope: Scope) -> Settings | None:
    # The app factory puts the container on the app; Starlette puts the app in the scope.
    container = getattr(getattr(scope.get("app"), "state", None), "container", None)
    return getattr(container, "settings", None)


def came_over_https(scope: Scope, settings: Settings | None) -> bool:
    """Whether the client reached us over TLS: directly, or through a trusted proxy that
    says so (X-Forwarded-Proto, or `proto=` in RFC 7239 Forwarded, as the proxy is set up)."""
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if settings is None or not settings.trusted_proxies or client is None:
        return False
    if not _within(str(client[0]), tuple(settings.trusted_proxies)):
        return False  # anyone else could claim HTTPS in a header
    headers = Headers(scope=scope)
    if settings.forwarded_header == "forwarded":
        items = [
            p.strip() for v in headers.getlist("forwarded") for p in v.replace(",", ";").split(";")
        ]
        protos = [i[6:].strip('"') for i in items if i[:6].lower() == "proto="]
    else:
        protos = [p.strip() for v in headers.getlist("x-forwarded-proto") for p in v.split(",")]
    # The right-most value is the one our proxy wrote; any to its left came from the client.
    return bool(protos) and protos[-1].lower() == "https"


@functools.lru_cache(maxsize=8)
def _networks(texts: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in texts)


def _within(host: str, texts: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(texts))


class BodyTooLarge(PayloadTooLarge):
    """The request body as a whole, not only the file in it, is over the limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        MiniMakerError.__init__(self, f"the request body exceeds the limit of {limit_bytes} bytes")


class BodyMediaTypeRefused(UnsupportedMediaType):
    """The body is of a media type the route does not take."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        MiniMakerError.__init__(self, "the body must be one of: " + ", ".join(allowed))


@dataclass(frozen=True)
class BodyRule:
    """What one route takes as a body: at most `limit` bytes, of these media types (any
    media type if none are named)."""

    limit: int
    media_types: tuple[str, ...] = ()

    def takes(self, content_type: str) -> bool:
        base = content_type.partition(";")[0].strip().lower()
        if not self.media_types or base in self.media_types:
            return True
        # As FastAPI reads them: application/problem+json and the like are JSON.
        return "application/json" in self.media_types and (
            base.startswith("application/") and base.endswith("+json")
        )


class _OverLimit(Exception):
    """Raised from the app's own body read once the body passes the limit."""


class BodyRules:
    """413 for a body over its route's limit, counted as it arrives (a Content-Length is
    only a claim; a chunked body has none), and 415 for a media type the route does not take.

    Refused before the route runs when the headers already tell; otherwise the route's own
    answer (FastAPI's 400 for a body it could not read) is replaced by the 413. Either way
    the route's work never ran: its body is read before it is called.
    """

    def __init__(self, app: ASGIApp, *, rules: Callable[[Scope], BodyRule]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return
        rule = self.rules(scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > rule.limit:
            await self._refuse(scope, receive, send, BodyTooLarge(rule.limit))
        elif not rule.takes(headers.get("content-type", "")):
            await self._refuse(scope, receive, send, BodyMediaTypeRefused(rule.media_types))
        else:
            await self._counted(scope, receive, send, rule.limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        over = started = False

        async def limited_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _OverLimit()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's own answer to a body it could not read: ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:  # _OverLimit, perhaps wrapped by whatever read the body
            if not over:
                raise
        if over and not started:
            await self._refuse(scope, receive, send, BodyTooLarge(limit))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        # The one error renderer decides the form: JSON on the API, a page for a browser.
        response = errors.respond(Request(scope), exc)
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
