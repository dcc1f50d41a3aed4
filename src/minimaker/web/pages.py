"""Server-rendered pages: the whole flow in a browser, no JavaScript, no API client.

Pages call the same services as the API; they only read forms and cookies, call a service,
and render HTML or redirect (Post/Redirect/Get).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from minimaker.web import account_pages, admin_pages, privacy_pages, workspace_pages
from minimaker.web.render import STATIC, install_error_pages


def install(app: FastAPI) -> None:
    """Add the pages, their static files and HTML error pages (after the API's handlers)."""
    install_error_pages(app)
    app.include_router(account_pages.router)
    app.include_router(workspace_pages.router)
    app.include_router(privacy_pages.router)
    admin_pages.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
