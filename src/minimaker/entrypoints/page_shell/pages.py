"""Server-rendered pages: the whole flow in a browser, no JavaScript, no API client.

Pages call the same services as the API; they only read forms and cookies, call a service,
and render HTML or redirect (Post/Redirect/Get).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from minimaker.accounts import pages as account_pages
from minimaker.entrypoints.page_shell.render import STATIC, install_error_pages
from minimaker.generation import pages as workspace_pages
from minimaker.rights import pages as privacy_pages
from minimaker.staff import pages as admin_pages


def install(app: FastAPI) -> None:
    """Add the pages, their static files and HTML error pages (after the API's handlers)."""
    install_error_pages(app)
    app.include_router(account_pages.router)
    app.include_router(workspace_pages.router)
    app.include_router(privacy_pages.router)
    admin_pages.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
