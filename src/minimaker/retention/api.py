"""The "keep my account" link of the inactivity warning: a page, and its one button.

Opening the link changes nothing (mail scanners open links); only the button's POST keeps the
account, so an account is never kept alive by a machine reading the mail.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from minimaker.entrypoints.http import ContainerDep, errors_as_page
from minimaker.retention import inactivity

router = APIRouter(prefix="/api/v1/account", tags=["account"])
_TITLE = "Keep your MiniMaker account"


def _page(title: str, text: str, *, status: int = 200, action: str | None = None) -> Response:
    form = (
        f'<form method="post" action="{escape(action)}"><button type="submit">Keep my account'
        "</button></form>"
        if action
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · MiniMaker</title><link rel="stylesheet" href="/static/site.css">'
        f'</head><body><main id="main" class="narrow"><h1>{escape(title)}</h1>'
        f"<p>{escape(text)}</p>{form}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _link_error(status: int, message: str) -> Response:
    return _page("This link cannot be used", message, status=status)


@router.get(
    "/keep/{token}", response_class=HTMLResponse, dependencies=[errors_as_page(_link_error)]
)
def keep_page(c: ContainerDep, token: str) -> Response:
    """The page the warning's link opens: one button keeps the account."""
    inactivity.check_link(c, token=token)
    return _page(
        _TITLE,
        "Press the button and your account, photos and models stay; nothing else changes.",
        action=f"{inactivity.PATH}{token}",
    )


@router.post(
    "/keep/{token}", response_class=HTMLResponse, dependencies=[errors_as_page(_link_error)]
)
def keep(c: ContainerDep, token: str) -> Response:
    """Keep the account the link was sent for: it counts as used now."""
    inactivity.keep_account(c, token=token)
    return _page(_TITLE, "Done: your account is kept. Thank you.")
