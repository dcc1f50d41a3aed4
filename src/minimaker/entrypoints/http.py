"""What every route shares: the container, who a token stands for, private-content answers.

Features' api.py and pages.py build on this module and on the page shell; neither imports a
feature. Which service checks a token of each kind (user, staff) is handed in by the app
factory, the one place that knows every feature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict

from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotAuthenticated

#: A kind of token: a user's (API bearer or session cookie) or a staff member's.
TokenKind = Literal["user", "staff"]
#: Who a token of one kind stands for, or NotAuthenticated: accounts' or staff's authenticate.
Authenticate = Callable[[Container, str], Any]
#: An error rendered as a page: (status, safe message) -> the answer.
ErrorPage = Callable[[int, str], Response]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(container)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]
PasswordForm = Annotated[OAuth2PasswordRequestForm, Depends()]


def authenticate(request: Request, kind: TokenKind, token: str) -> Any:
    """Who `token` stands for, asked of the service the app factory installed for its kind."""
    authenticators: Mapping[str, Authenticate] = request.app.state.authenticators
    return authenticators[kind](container(request), token)


def bearer_token(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise NotAuthenticated()
    return token


def current_user(request: Request, token: Annotated[str, Depends(bearer_token)]) -> str:
    """The id of the subject whose live session the bearer token names."""
    return authenticate(request, "user", token)  # type: ignore[no-any-return]


UserId = Annotated[str, Depends(current_user)]
Token = Annotated[str, Depends(bearer_token)]


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
