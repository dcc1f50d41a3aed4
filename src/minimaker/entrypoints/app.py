"""The ASGI application: API, web pages, error handling, and the embedded worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from minimaker.entrypoints import errors
from minimaker.entrypoints.middleware import BodySizeLimit
from minimaker.entrypoints.routes import router
from minimaker.kernel.container import Container

log = logging.getLogger("minimaker")

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


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing, no referrer, strict CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _SECURITY_HEADERS if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(c: Container, *, worker: bool | None = None) -> FastAPI:
    """Build the app around a container; `worker` overrides settings.embedded_worker."""
    run_worker = c.settings.embedded_worker if worker is None else worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = None
        if run_worker:
            from minimaker.entrypoints.worker import Worker

            embedded = Worker(c)
            embedded.start_thread()
            log.info("embedded worker started")
        try:
            yield
        finally:
            if embedded is not None:
                embedded.stop()

    app = FastAPI(
        title="MiniMaker",
        version="1",
        summary="Photo to printable 3D model; privacy kept by construction.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.container = c
    errors.install(app)
    app.include_router(router)
    from minimaker.rights import api as privacy
    from minimaker.staff import api as admin

    app.include_router(privacy.router)
    from minimaker.rights import archive_api as archives

    app.include_router(archives.router)
    from minimaker.rights import public_api as public

    app.include_router(public.router)
    from minimaker.rights import account_api as account

    app.include_router(account.router)
    app.include_router(admin.router)
    from minimaker.entrypoints.page_shell import pages

    pages.install(app)
    # Multipart framing adds a little to the file itself; allow it, refuse anything beyond.
    app.add_middleware(BodySizeLimit, limit=c.settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(SecurityHeaders)
    return app
