"""Public privacy routes for people who cannot sign in: ask by email, confirm by the link.

Opening the emailed link (GET) changes nothing: it shows what would be confirmed and a button
that POSTs to the same address. Mail scanners and link previews fetch GET links on their own;
if a GET acted, a scanner could confirm a request (even an erasure) that nobody confirmed. The
token in the path is the proof: unguessable and single-use, so the form needs no CSRF token,
since a page on another site cannot post to a link it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from minimaker.entrypoints.http import ContainerDep, client_ip
from minimaker.kernel.errors import MiniMakerError
from minimaker.rights import public_intake as public_requests

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])

ClientIp = Annotated[str, Depends(client_ip)]
_NO_STORE = {"Cache-Control": "no-store"}


class PublicRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    email: str = Field(max_length=254)
    type: str = Field(max_length=32)


class Acknowledgement(BaseModel):
    status: str
    message: str


class ConfirmedOut(BaseModel):
    id: str
    type: str
    status: str
    due_at: Any


@router.post("/requests/public", status_code=202, response_model=Acknowledgement)
def request_by_email(c: ContainerDep, body: PublicRequestIn, ip: ClientIp) -> Any:
    """Ask without an account; the same answer whether or not the address is registered."""
    return public_requests.request_by_email(c, email=body.email, type=body.type, client_ip=ip)


@router.get("/verify/{token}", response_class=HTMLResponse)
def confirmation_page(c: ContainerDep, token: str) -> Response:
    """The page the emailed link opens: what would be confirmed, and a button to confirm it."""

    def page() -> Response:
        pending = public_requests.pending_confirmation(c, token=token)
        return _html(
            "Confirm your privacy request",
            f"Press the button to confirm your {pending.request_type} request. "
            f"The link works once, until {pending.expires_at:%Y-%m-%d %H:%M} UTC.",
            form_action=f"/api/v1/privacy/verify/{token}",
        )

    return _as_html(page)


@router.post("/verify/{token}", status_code=200, response_model=ConfirmedOut)
def confirm(c: ContainerDep, token: str, request: Request) -> Any:
    """Confirm the request once: it is verified and queued for fulfilment (JSON or a page)."""
    if not _wants_html(request):
        done = public_requests.confirm(c, token=token)
        return JSONResponse(
            ConfirmedOut(
                id=done.id, type=done.type, status=done.status, due_at=done.due_at
            ).model_dump(mode="json"),
            headers=_NO_STORE,
        )

    def page() -> Response:
        done = public_requests.confirm(c, token=token)
        return _html(
            "Request confirmed",
            f"Thank you: your {done.type} request {done.id} is confirmed. We answer it by "
            f"{done.due_at:%Y-%m-%d} at the latest, and email you when it is done.",
        )

    return _as_html(page)


def _wants_html(request: Request) -> bool:
    """A browser's form post asks for HTML; API clients get JSON."""
    return "text/html" in request.headers.get("accept", "")


def _as_html(render: Callable[[], Response]) -> Response:
    # A person follows these from an email: errors come as a page too, not as JSON.
    try:
        return render()
    except MiniMakerError as exc:
        if exc.status >= 500:
            raise
        return _html("This link cannot be used", exc.message, status=exc.status)


def _html(title: str, text: str, *, status: int = 200, form_action: str | None = None) -> Response:
    form = (
        f'<form method="post" action="{escape(form_action)}">'
        '<button type="submit">Confirm my request</button></form>'
        if form_action
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · MiniMaker</title><link rel="stylesheet" href="/static/site.css">'
        f'</head><body><main id="main" class="narrow"><h1>{escape(title)}</h1>'
        f"<p>{escape(text)}</p>{form}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)
