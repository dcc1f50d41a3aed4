"""Request dependencies: the container, and the signed-in subject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from minimaker.accounts import service as accounts
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotAuthenticated

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(container)]


def bearer_token(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise NotAuthenticated()
    return token


def current_user(c: ContainerDep, token: Annotated[str, Depends(bearer_token)]) -> str:
    """The id of the subject whose live session the bearer token names."""
    return accounts.authenticate(c, token)


UserId = Annotated[str, Depends(current_user)]
Token = Annotated[str, Depends(bearer_token)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
