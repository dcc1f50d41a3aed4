"""The API's documentation page: Swagger UI from files in this package (see README.md).

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script; our
Content-Security-Policy allows neither, so that page stays blank. This one takes every
script and style from this origin, as the policy requires.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "assets"


def install(app: FastAPI, *, path: str, openapi_url: str) -> None:
    """Serve the documentation page at `path` and its assets under `path`/assets."""
    assets = f"{path}/assets"
    page = _page(assets, openapi_url, title=f"{app.title} API")

    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.add_api_route(path, docs, methods=["GET"], include_in_schema=False)
    app.mount(assets, StaticFiles(directory=ASSETS), name="api-docs-assets")


def _page(assets: str, openapi_url: str, *, title: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">'
        f'<link rel="stylesheet" href="{assets}/swagger-ui.css"></head><body>'
        f'<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>'
        f'<script src="{assets}/swagger-ui-bundle.js"></script>'
        f'<script src="{assets}/docs.js"></script></body></html>'
    )
