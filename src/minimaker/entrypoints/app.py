"""The ASGI application: every feature's API and pages, one error renderer, the middleware,
and the embedded worker. The one place that knows every feature's delivery."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from minimaker.accounts import api as accounts_api
from minimaker.accounts import pages as accounts_pages
from minimaker.accounts import service as accounts
from minimaker.breach import api as breach_api
from minimaker.breach import pages as breach_pages
from minimaker.breach import report_pages as breach_report_pages
from minimaker.detection import api as detection_api
from minimaker.detection import pages as detection_pages
from minimaker.entrypoints import api_docs, errors, observability, openapi
from minimaker.entrypoints.http import Authenticate, TokenKind
from minimaker.entrypoints.middleware import BodyRules, SecurityHeaders
from minimaker.entrypoints.page_shell.render import STATIC
from minimaker.entrypoints.worker import Worker
from minimaker.generation import api as generation_api
from minimaker.generation import pages as generation_pages
from minimaker.kernel.container import Container
from minimaker.operations import api as operations_api
from minimaker.operations import pages as operations_pages
from minimaker.publication import api as publication_api
from minimaker.publication import pages as publication_pages
from minimaker.records import api as records_api
from minimaker.records import pages as records_pages
from minimaker.retention import api as retention_api
from minimaker.rights import api as rights_api
from minimaker.rights import pages as rights_pages
from minimaker.rights import public_pages as rights_public_pages
from minimaker.staff import api as staff_api
from minimaker.staff import pages as staff_pages
from minimaker.staff import service as staff
from minimaker.uploads import api as uploads_api

log = logging.getLogger("minimaker")

#: The v1 API, feature by feature, then the pages (none of which is under /api/).
ROUTERS: tuple[APIRouter, ...] = (
    accounts_api.router,
    uploads_api.router,
    generation_api.router,
    rights_api.router,
    publication_api.router,
    staff_api.router,
    records_api.router,
    retention_api.router,
    retention_api.staff,
    breach_api.router,
    detection_api.router,
    operations_api.router,
    accounts_pages.router,
    generation_pages.router,
    rights_pages.router,
    rights_public_pages.router,
    publication_pages.router,
    staff_pages.router,
    records_pages.router,
    breach_pages.router,
    breach_report_pages.router,
    detection_pages.router,
    operations_pages.router,
)
#: Which service says who a token of each kind stands for (http.authenticate asks it).
AUTHENTICATORS: Mapping[TokenKind, Authenticate] = {
    "user": accounts.authenticate,
    "staff": staff.authenticate,
}
# Multipart framing adds a little to the file itself; allow it, refuse anything beyond.
_FRAMING_BYTES = 64 * 1024
OPENAPI_URL = "/api/v1/openapi.json"
DOCS_URL = "/api/v1/docs"


def create_app(c: Container, *, worker: bool | None = None) -> FastAPI:
    """Build the app around a container; `worker` overrides settings.embedded_worker."""
    run_worker = c.settings.embedded_worker if worker is None else worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = Worker(c) if run_worker else None
        if embedded is not None:
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
        openapi_url=OPENAPI_URL,
        docs_url=None,  # FastAPI's page loads a CDN our CSP blocks: api_docs serves its own
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.container = c
    app.state.authenticators = AUTHENTICATORS
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(observability.router)
    api_docs.install(app, path=DOCS_URL, openapi_url=OPENAPI_URL)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_middleware(app, c)
    return app


def _install_middleware(app: FastAPI, c: Container) -> None:
    """The body limits of the OpenAPI document, the security headers, the request metrics."""
    limits = openapi.BodyLimits(
        upload_bytes=c.settings.max_upload_bytes + _FRAMING_BYTES,
        other_bytes=c.settings.max_body_bytes,
    )
    openapi.install(app, limits)
    app.add_middleware(BodyRules, rules=openapi.body_rules(app, limits))
    app.add_middleware(SecurityHeaders)
    app.state.metrics = observability.Metrics(lambda: app.state.container)
    app.add_middleware(observability.RequestMetrics, metrics=app.state.metrics)
