"""What every route shares: the container, who a token stands for, private-content answers.

Features' api.py and pages.py build on this module and on the page shell; neither imports a
feature. Which service checks a token of each kind (user, staff) is handed in by the app
factory, the one place that knows every feature.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotAuthenticated
from minimaker.settings import Settings

#: A kind of token: a user's (API bearer or session cookie) or a staff member's.
TokenKind = Literal["user", "staff"]
#: Who a token of one kind stands for, or NotAuthenticated: accounts' or staff's authenticate.
Authenticate = Callable[[Container, str], Any]
#: An error rendered as a page: (status, safe message) -> the answer.
ErrorPage = Callable[[int, str], Response]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, and each hop there costs more than the work itself (a tenth of GET /me's time).
async def _container(request: Request) -> Container:
    return container(request)


ContainerDep = Annotated[Container, Depends(_container)]


#: Most hops of a forwarding header read: a proxy chain is short; a long one is forged.
_MAX_HOPS = 32
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(texts: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in texts)


def _within(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def _hops(values: list[str], header: str) -> list[str]:
    """The client addresses a forwarding header lists, left (farthest) to right (nearest)."""
    items = [i.strip() for v in values for i in v.split(",") if i.strip()][-_MAX_HOPS:]
    if header == "forwarded":  # RFC 7239: for=192.0.2.1;proto=https, for="[2001:db8::1]:80"
        fors = (p.strip() for i in items for p in i.split(";"))
        items = [p[4:].strip().strip('"') for p in fors if p[:4].lower() == "for="]
    return [_host(item) for item in items]


def _host(text: str) -> str:
    """An address without port or brackets, in canonical form; other text kept, bounded."""
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text[:64]  # "unknown", an obfuscated node name: still one client to count


def client_ip(request: Request) -> str:
    """The address the request came from, as the throttles count it.

    The peer, unless the peer is one of `trusted_proxies`: then the right-most hop of the
    configured forwarding header that is not itself a trusted proxy. Hops further left were
    written by whoever sent the request, so anyone could forge them; the right-most
    untrusted one was written by our own proxy.
    """
    peer = request.client.host if request.client else "unknown"
    settings = container(request).settings
    trusted = _networks(tuple(settings.trusted_proxies))
    if not trusted or not _within(peer, trusted):
        return peer
    hops = _hops(request.headers.getlist(settings.forwarded_header), settings.forwarded_header)
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer  # every hop is a proxy of ours: the farthest one


async def client_ip_dependency(request: Request) -> str:
    """`client_ip` as a dependency: no I/O, so no trip to the thread pool."""
    return client_ip(request)


ClientIp = Annotated[str, Depends(client_ip_dependency)]

#: The device cookie (accounts/devices.py): proof this client signed in to an account before.
DEVICE_COOKIE = "mm_device"


def device_cookie(request: Request) -> str | None:
    """The device cookie as the client sent it; checked by accounts, not here."""
    return request.cookies.get(DEVICE_COOKIE) or None


async def _device_cookie(request: Request) -> str | None:
    return device_cookie(request)


DeviceCookie = Annotated[str | None, Depends(_device_cookie)]


def set_device_cookie(response: Response, value: str, settings: Settings) -> None:
    """Long-lived, never readable by script, never sent on a request another site started."""
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=settings.device_cookie_ttl_days * 86400,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


PasswordForm = Annotated[OAuth2PasswordRequestForm, Depends()]


def authenticate(request: Request, kind: TokenKind, token: str) -> Any:
    """Who `token` stands for, asked of the service the app factory installed for its kind."""
    authenticators: Mapping[str, Authenticate] = request.app.state.authenticators
    return authenticators[kind](container(request), token)


async def bearer_token(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise NotAuthenticated()
    return token


def current_user(request: Request, token: Annotated[str, Depends(bearer_token)]) -> str:
    """The id of the subject whose live session the bearer token names."""
    return authenticate(request, "user", token)  # type: ignore[no-any-return]


UserId = Annotated[str, Depends(current_user)]
Token = Annotated[str, Depends(bearer_token)]

staff_oauth2 = OAuth2PasswordBearer(
    tokenUrl="/api/v1/admin/auth/token", scheme_name="StaffToken", auto_error=False
)


async def staff_token(token: Annotated[str | None, Depends(staff_oauth2)]) -> str:
    if not token:
        raise NotAuthenticated("a staff token is required")
    return token


StaffToken = Annotated[str, Depends(staff_token)]


def current_staff(request: Request, token: StaffToken) -> StaffIdentity:
    """The staff member whose live staff session the bearer token names (every /admin route
    of the API, whichever feature serves it)."""
    return authenticate(request, "staff", token)  # type: ignore[no-any-return]


Staff = Annotated[StaffIdentity, Depends(current_staff)]


class Issued(Protocol):
    """A token a sign-in opened (accounts' and staff's IssuedToken)."""

    @property
    def token(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime

    @classmethod
    def of(cls, issued: Issued) -> TokenOut:
        return cls(access_token=issued.token, expires_at=issued.expires_at)


#: What a route that reads or writes the blob store declares (`responses=`): while the store
#: is down, or refuses us, it answers 503 with Retry-After (kernel/errors.StorageUnavailable).
STORE_ANSWERS: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The file storage cannot be reached just now (or the server is busy); "
        "nothing was stored or changed: try again after `Retry-After` seconds."
    }
}


def private_content(
    chunks: Iterable[bytes],
    media_type: str,
    *,
    filename: str | None = None,
    size: int | None = None,
) -> StreamingResponse:
    """Personal content: never in a shared cache, never sniffed; an attachment when named."""
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if filename is not None:
        # Callers name files only with ids and formats we minted, so this is header-safe.
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


def errors_as_page(page: ErrorPage, *, when: Callable[[Request], bool] | None = None) -> Any:
    """A route dependency: the route's errors answer as `page` (where `when` holds), not JSON.

    For routes under /api/ that a person opens in a browser, such as an emailed link.
    """

    def declare(request: Request) -> None:
        if when is None or when(request):
            request.state.error_page = page

    return Depends(declare)


def declared_error_page(request: Request) -> ErrorPage | None:
    """The page a route declared for its errors (errors_as_page), if any."""
    return getattr(request.state, "error_page", None)


def wants_html(request: Request) -> bool:
    """A browser's form post asks for HTML; API clients get JSON."""
    return "text/html" in request.headers.get("accept", "")


class StrictBody(BaseModel):
    """A request body: unknown fields refused, nothing coerced, no string past 2 KiB."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=2048)


def stated(
    pattern: str | None, max_length: int, *, min_length: int = 1, optional: bool = False
) -> Any:
    """A string field whose rule the schema states and the feature's rules enforce, with the
    feature's own message (pydantic's would quote the pattern back)."""
    extra: dict[str, Any] = {"minLength": min_length}
    if pattern is not None:
        extra["pattern"] = pattern
    if optional:
        return Field(None, max_length=max_length, json_schema_extra=extra)
    return Field(max_length=max_length, json_schema_extra=extra)
