"""Privacy API: the subject's objections, data-subject requests and their archives,
deleting the account, and asking by email for people who cannot sign in.

Opening an emailed link (GET) changes nothing: it shows what would be confirmed and a button
that POSTs to the same address. Mail scanners and link previews fetch GET links on their own;
if a GET acted, a scanner could confirm a request (even an erasure) that nobody confirmed. The
token in the path is the proof: unguessable and single-use, so the form needs no CSRF token,
since a page on another site cannot post to a link it does not know.
"""

from __future__ import annotations

from dataclasses import asdict
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.exceptions import HTTPException as StarletteHTTPException

from minimaker.accounts import rules as account_rules
from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import (
    STORE_ANSWERS,
    ClientIp,
    ContainerDep,
    DeviceCookie,
    StrictBody,
    UserId,
    errors_as_page,
    private_content,
    stated,
    wants_html,
)
from minimaker.entrypoints.page_shell.render import form_failure
from minimaker.kernel.errors import ValidationFailed
from minimaker.rights import access, archive_content, download_links, intake, preferences
from minimaker.rights import public_intake as public_requests
from minimaker.rights.public_pages import link_page
from minimaker.rights.read_model import RequestRead
from minimaker.rights.rules import RequestType

router = APIRouter(prefix="/api/v1")
privacy = APIRouter(prefix="/privacy", tags=["privacy"])  # joins `router` at the end

_NO_STORE = {"Cache-Control": "no-store"}
_ARCHIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such request of yours, or it has no archive."},
    409: {"description": "The request is not completed yet."},
    410: {"description": "The archive expired and was deleted; make a new request."},
}


#: Purpose -> on/off. Which purposes may be switched on is the policy's to say, not the
#: schema's: the service refuses (422) one the policy in force does not offer.
Switches = dict[str, StrictBool]


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    objections: Switches = Field(
        description="Purpose -> you object (Art. 21): the policy's objectable purposes "
        "(shipped: training, marketing, analytics); one left out is not objected to."
    )
    consents: Switches | None = Field(
        None,
        description="Purpose -> you consent (Art. 7): the policy's consent purposes (shipped: "
        "marketing); one left out is withdrawn; the whole field left out changes none.",
    )


class PreferencesOut(BaseModel):
    objections: dict[str, bool]
    consents: dict[str, bool]
    restricted: bool


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: RequestType
    details: dict[str, Any] | None = None
    #: Proof of the person for erasure, checked and never stored (details are kept, sealed).
    password: str | None = Field(
        None, max_length=1024, description="Your current password; required for erasure."
    )


class RequestOut(RequestRead):
    """A request as its subject reads it: the fields of `read_model.RequestRead`."""


class PublicRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    email: str = stated(account_rules.EMAIL_PATTERN, account_rules.MAX_EMAIL)
    type: Annotated[RequestType, Field(strict=False)]  # its value, as JSON carries it


class Acknowledgement(BaseModel):
    status: str
    message: str


class ConfirmedOut(BaseModel):
    id: str
    type: str
    status: str
    due_at: Any


@privacy.get("/preferences", response_model=PreferencesOut)
def get_preferences(c: ContainerDep, user_id: UserId) -> Any:
    """Your objections (Art. 21) and consents (Art. 7) per purpose, and whether processing is
    restricted (Art. 18)."""
    return asdict(preferences.get_preferences(c, user_id=user_id))


@privacy.put("/preferences", response_model=PreferencesOut)
def put_preferences(c: ContainerDep, user_id: UserId, body: Preferences) -> Any:
    """Object to (true) or allow (false) each objectable purpose, and give (true) or withdraw
    (false) consent per consent purpose; effective at once, all or nothing."""
    return asdict(
        preferences.set_preferences(
            c, user_id=user_id, objections=body.objections, consents=body.consents
        )
    )


@privacy.post("/requests", status_code=202, response_model=RequestOut)
def submit_request(
    c: ContainerDep,
    user_id: UserId,
    ip: ClientIp,
    devices: DeviceCookie,
    body: Annotated[RequestIn, Body()],
) -> Any:
    """Make a request: access, portability, rectification, erasure, restriction or objection.

    Erasure destroys the account, so it asks for your current `password` as `DELETE /me` does:
    a bearer token alone (perhaps a stolen one) erases nothing.
    """
    if body.type == RequestType.ERASURE.value:
        accounts.confirm_password(
            c, user_id=user_id, password=body.password, client_ip=ip, devices=devices
        )
    return asdict(intake.submit(c, user_id=user_id, type=body.type, details=body.details))


@privacy.get("/requests", response_model=list[RequestOut])
def list_requests(c: ContainerDep, user_id: UserId) -> Any:
    """Your requests with their status and legal due dates, newest first."""
    return [asdict(r) for r in intake.list_for_subject(c, user_id=user_id)]


def _not_the_literal_path(request_id: str) -> None:
    """`GET /requests/public` would fall into this template: that path is the public intake's,
    which takes POST only, so it answers 405 with `Allow: POST` (before any sign-in check)."""
    if request_id == "public":
        raise StarletteHTTPException(405)


@privacy.get(
    "/requests/{request_id}",
    response_model=RequestOut,
    dependencies=[Depends(_not_the_literal_path)],
)
def get_request(c: ContainerDep, user_id: UserId, request_id: str) -> Any:
    """One of your requests, with its history."""
    return asdict(intake.get_for_subject(c, user_id=user_id, request_id=request_id))


@privacy.get(
    "/requests/{request_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **_ARCHIVE_ERRORS, **STORE_ANSWERS},
)
def download_archive(c: ContainerDep, user_id: UserId, request_id: str) -> StreamingResponse:
    """Download the ZIP archive of your completed access or portability request."""
    archive = access.open_download(c, user_id=user_id, request_id=request_id)
    return private_content(
        archive.chunks, "application/zip", filename=archive.filename, size=archive.size_bytes
    )


@privacy.get("/portability-schema.json")
def portability_schema(c: ContainerDep) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of data.json in a portability archive."""
    return archive_content.portability_schema(c.personal_data)


@privacy.post("/requests/public", status_code=202, response_model=Acknowledgement)
def request_by_email(c: ContainerDep, body: PublicRequestIn, ip: ClientIp) -> Any:
    """Ask without an account; the same answer whether or not the address is registered."""
    return public_requests.request_by_email(c, email=body.email, type=body.type, client_ip=ip)


def _link_error(status: int, message: str) -> Response:
    # A person follows these links from an email: errors come as a page too, not as JSON.
    return _html("This link cannot be used", message, status=status)


@privacy.get(
    "/verify/{token}",
    response_class=HTMLResponse,
    dependencies=[errors_as_page(_link_error)],
)
def confirmation_page(c: ContainerDep, token: str) -> Response:
    """The page the emailed link opens: what would be confirmed, and a button to confirm it.

    For a rectification that does not say yet what to correct, the form asks for it."""
    pending = public_requests.pending_confirmation(c, token=token)
    return _confirmation(token, pending)


def _confirmation(
    token: str, pending: public_requests.PendingConfirmation, *, status: int = 200, **ctx: Any
) -> Response:
    return link_page(
        "public_confirm.html",
        title="Confirm your privacy request",
        status=status,
        request_type=pending.request_type,
        expires_at=pending.expires_at,
        asks_correction=pending.asks_correction,
        action=f"/api/v1/privacy/verify/{token}",
        **ctx,
    )


#: A correction stated on the confirmation form of a rectification (blank: not corrected).
Correction = Annotated[str | None, Form(description="Rectification only: the correct value.")]


@privacy.post(
    "/verify/{token}",
    status_code=200,
    response_model=ConfirmedOut,
    dependencies=[errors_as_page(_link_error, when=wants_html)],
)
def confirm(
    c: ContainerDep,
    token: str,
    request: Request,
    name: Correction = None,
    email: Correction = None,
    username: Correction = None,
) -> Any:
    """Confirm the request once: it is verified and queued for fulfilment (JSON or a page).

    A rectification states what to correct (`name`, `email`, `username`, checked as
    `PATCH /me` checks them; at least one): without one it is 422 and the link still works.
    """
    stated = {k: v for k, v in (("name", name), ("email", email), ("username", username)) if v}
    try:
        done = public_requests.confirm(c, token=token, correction=stated)
    except ValidationFailed as exc:
        if not wants_html(request):
            raise
        # The form again, with what was typed (to the same browser only) and why.
        again = public_requests.pending_confirmation(c, token=token)
        failure = form_failure(exc)
        return _confirmation(token, again, status=exc.status, values=stated, **failure)
    if not wants_html(request):
        out = ConfirmedOut(id=done.id, type=done.type, status=done.status, due_at=done.due_at)
        return JSONResponse(out.model_dump(mode="json"), headers=_NO_STORE)
    return _html(
        "Request confirmed",
        f"Thank you: your {done.type} request {done.id} is confirmed. We answer it by "
        f"{done.due_at:%Y-%m-%d} at the latest, and email you when it is done.",
    )


_LINK_GONE: dict[int | str, dict[str, Any]] = {
    410: {"description": "The link was used already, expired, or its archive was deleted."}
}


@privacy.get(
    "/download/{token}",
    response_class=HTMLResponse,
    responses=_LINK_GONE,
    dependencies=[errors_as_page(_link_error)],
)
def download_page(c: ContainerDep, token: str) -> Response:
    """The page an emailed download link opens: what it downloads, and a button to do so.

    Opening it uses nothing up (mail scanners open links): only the button's POST does."""
    pending = download_links.pending(c, token=token)
    return link_page(
        "public_download.html",
        title="Download your data",
        kind=pending.kind,
        size=_size(pending.size_bytes),
        expires_at=pending.expires_at,
        action=f"{download_links.PATH}{token}",
    )


@privacy.post(
    "/download/{token}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **_LINK_GONE, **STORE_ANSWERS},
    dependencies=[errors_as_page(_link_error, when=wants_html)],
)
def download_by_link(c: ContainerDep, token: str) -> StreamingResponse:
    """Download the archive of a request made by email, once, with the emailed link."""
    archive = download_links.redeem(c, token=token)
    return private_content(
        archive.chunks, "application/zip", filename=archive.filename, size=archive.size_bytes
    )


def _size(size_bytes: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size_bytes < 1000:
            return f"{size_bytes} {unit}"
        size_bytes //= 1000
    return f"{size_bytes} GB"


class ProofIn(StrictBody):
    """Proof of the person: a bearer token alone (perhaps a stolen one) erases nothing."""

    password: str | None = Field(None, max_length=1024)


@router.delete(
    "/me",
    status_code=202,
    response_model=RequestOut,
    tags=["account"],
    responses={
        403: {"description": "The current password is missing or wrong; nothing was asked."},
        429: {"description": "Too many wrong passwords for this account; see Retry-After."},
    },
)
def delete_me(
    c: ContainerDep,
    user_id: UserId,
    ip: ClientIp,
    devices: DeviceCookie,
    body: Annotated[ProofIn | None, Body()] = None,
) -> Any:
    """Delete your account and all your data: send `{"password": "<your current password>"}`.

    Makes an erasure request, fulfilled in the background; while it is open, asking again
    answers with that same request. A wrong password counts as a failed sign-in.
    """
    password = body.password if body is not None else None
    accounts.confirm_password(c, user_id=user_id, password=password, client_ip=ip, devices=devices)
    return asdict(intake.submit(c, user_id=user_id, type=RequestType.ERASURE.value))


router.include_router(privacy)


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
