"""Staff pages at /admin: sign-in, the request queue with its alarms, and the DPO's decisions.

The staff session lives in its own cookie, scoped to /admin, so it never travels with a user
page; forms carry a CSRF token bound to that cookie under a key of its own, so a user page's
token cannot post a staff form, nor the reverse.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from minimaker.entrypoints.http import ContainerDep, client_ip
from minimaker.entrypoints.page_shell import session
from minimaker.entrypoints.page_shell.render import (
    error_headers,
    form_failure,
    render_page,
    see_other,
)
from minimaker.entrypoints.page_shell.session import text_field
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    Conflict,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
    ValidationFailed,
)
from minimaker.rights import decisions as staff_queue
from minimaker.staff import service as staff
from minimaker.staff.rules import Action, allows
from minimaker.staff.service import StaffIdentity

router = APIRouter(prefix="/admin", include_in_schema=False)

STAFF_COOKIE = "mm_staff"
_CSRF_SECRET = "staff_csrf_signing"  # noqa: S105 - the name of a keyring secret, not a secret
_NO_STORE = {"Cache-Control": "private, no-store"}
_DECISION_ERRORS = (ValidationFailed, Conflict)
_DONE = {
    "extended": "The deadline was extended and the subject told why.",
    "rejected": "The request was refused and the subject told, with the right to complain.",
    "paused": "The request is paused: the clock stops until the subject answers.",
    "resumed": "The request is running again.",
}
_VIEWS = {"overdue": "Overdue", "soon": "Due within 7 days"}


class StaffSignInRequired(NotAuthenticated):
    """An /admin page without a live staff session: answered with the staff sign-in page."""


@dataclass(frozen=True)
class StaffVisitor:
    """One request's staff browser: CSRF nonce and, if live, its staff session."""

    c: Container
    csrf_nonce: str
    csrf_is_new: bool
    token: str | None
    staff: StaffIdentity | None
    ended_session: bool

    def form_token(self) -> str:
        return session.form_token(self.c.secret(_CSRF_SECRET), self.csrf_nonce, self.token)


def staff_visitor(request: Request, c: ContainerDep) -> StaffVisitor:
    """Read the cookies; authenticate the staff cookie if there is one."""
    nonce, is_new = session.csrf_nonce(request)
    token = request.cookies.get(STAFF_COOKIE) or None
    who = None
    if token is not None:
        with contextlib.suppress(NotAuthenticated):  # ended: the visitor is signed out
            who = staff.authenticate(c, token)
    live = token if who is not None else None
    return StaffVisitor(c, nonce, is_new, live, who, token is not None and who is None)


Visitor = Annotated[StaffVisitor, Depends(staff_visitor)]


def signed_in_staff(v: Visitor) -> StaffIdentity:
    if v.staff is None:
        raise StaffSignInRequired("the staff session has ended; sign in again")
    return v.staff


Staff = Annotated[StaffIdentity, Depends(signed_in_staff)]


def checked_staff_form(
    request: Request,
    c: ContainerDep,
    form: Annotated[FormData, Depends(session.parsed_form)],
) -> FormData:
    """The posted form, once its `csrf` field proves it came from a staff page of this session."""
    return session.verify_form(request, c, form, session_cookie=STAFF_COOKIE, secret=_CSRF_SECRET)


StaffForm = Annotated[FormData, Depends(checked_staff_form)]


def _render(
    v: StaffVisitor,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **ctx: Any,
) -> HTMLResponse:
    return render_page(
        v,
        template,
        base={"signed_in": False, "staff": v.staff},
        clear_ended=lambda r: _clear_staff_cookie(r, v.c),
        status=status,
        headers=headers,
        **ctx,
    )


def _set_staff_cookie(response: Response, token: str, c: Container) -> None:
    # Strict and scoped to /admin: a staff session never rides on another site's request,
    # nor on any user page of this one.
    response.set_cookie(
        STAFF_COOKIE,
        token,
        max_age=c.settings.token_ttl_s,
        path="/admin",
        secure=c.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _clear_staff_cookie(response: Response, c: Container) -> None:
    response.delete_cookie(
        STAFF_COOKIE, path="/admin", secure=c.settings.cookie_secure, httponly=True
    )


@router.get("/login")
def login_form(v: Visitor) -> Response:
    """The staff sign-in form."""
    if v.staff is not None:
        return see_other("/admin")
    return _render(v, "admin_login.html", title="Staff sign-in")


@router.post("/login")
def login(request: Request, form: StaffForm, v: Visitor) -> Response:
    """Check the staff password, open a staff session and hand the browser its cookie."""
    username, password = text_field(form, "username"), text_field(form, "password")
    try:
        if not username.strip():
            raise ValidationFailed("username", "is required")
        if not password:
            raise ValidationFailed("password", "is required")
        issued = staff.login(
            v.c, username=username, password=password, client_ip=client_ip(request)
        )
    except (ValidationFailed, InvalidCredentials, TooManyAttempts) as exc:
        return _render(
            v,
            "admin_login.html",
            title="Staff sign-in",
            status=exc.status,
            headers=error_headers(exc),
            values={"username": username},
            **form_failure(exc),
        )
    response = see_other("/admin")
    _set_staff_cookie(response, issued.token, v.c)
    return response


@router.post("/logout")
def logout(form: StaffForm, v: Visitor) -> Response:
    """End this browser's staff session."""
    if v.staff is not None and v.token is not None:
        staff.logout(v.c, staff=v.staff, token=v.token)
    response = see_other("/admin/login")
    _clear_staff_cookie(response, v.c)
    return response


@router.get("")
def queue_page(v: Visitor, who: Staff, view: str | None = None) -> Response:
    """Open requests, soonest due first; overdue ones highlighted under an alarm banner."""
    view = view if view in _VIEWS else None
    items = staff_queue.queue(
        v.c, who, overdue=view == "overdue", due_within_days=7 if view == "soon" else None
    )
    # The banner counts every overdue request, whichever view is shown.
    overdue = items if view == "overdue" else staff_queue.queue(v.c, who, overdue=True)
    return _render(
        v,
        "admin_queue.html",
        title="Requests",
        items=items,
        overdue=overdue,
        view=view,
        views=_VIEWS,
    )


@router.get("/requests/{request_id}")
def request_page(request_id: str, v: Visitor, who: Staff, done: str | None = None) -> Response:
    """One request, its history and, for the DPO, the forms to decide on it."""
    return _request_page(v, who, request_id, notice=_DONE.get(done or ""))


def _request_page(
    v: StaffVisitor,
    who: StaffIdentity,
    request_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    failure: dict[str, Any] | None = None,
) -> Response:
    item = staff_queue.get_request(v.c, who, request_id=request_id)
    return _render(
        v,
        "admin_request.html",
        title=f"Request {item.id}",
        status=status,
        item=item,
        notice=notice,
        failure=failure,
        can={a.value: allows(who.role, a) for a in Action},
    )


def _decide(
    v: StaffVisitor,
    who: StaffIdentity,
    request_id: str,
    done: str,
    decision: Callable[..., object],
    **kwargs: Any,
) -> Response:
    """Run a decision; on a refusal the request page comes back with the reason."""
    try:
        decision(v.c, who, request_id=request_id, **kwargs)
    except _DECISION_ERRORS as exc:
        message = exc.reason if isinstance(exc, ValidationFailed) else exc.message
        return _request_page(v, who, request_id, status=exc.status, failure={"error": message})
    return see_other(f"/admin/requests/{request_id}?done={done}")


@router.post("/requests/{request_id}/extend")
def extend(request_id: str, form: StaffForm, v: Visitor, who: Staff) -> Response:
    """DPO: extend the deadline once, with the reason the subject is told."""
    typed = text_field(form, "months").strip()
    # Anything but 1 or 2 is refused by the deadline rules with their own reason.
    months = int(typed) if typed in ("1", "2") else 0
    reason = text_field(form, "reason")
    return _decide(v, who, request_id, "extended", staff_queue.extend, months=months, reason=reason)


@router.post("/requests/{request_id}/reject")
def reject(request_id: str, form: StaffForm, v: Visitor, who: Staff) -> Response:
    """DPO: refuse the request with a justification."""
    reason = text_field(form, "reason")
    return _decide(v, who, request_id, "rejected", staff_queue.reject, reason=reason)


@router.post("/requests/{request_id}/pause")
def pause(request_id: str, form: StaffForm, v: Visitor, who: Staff) -> Response:
    """DPO: wait on the subject; the legal clock stops."""
    note = text_field(form, "note")[:255]
    return _decide(v, who, request_id, "paused", staff_queue.pause, note=note)


@router.post("/requests/{request_id}/resume")
def resume(request_id: str, form: StaffForm, v: Visitor, who: Staff) -> Response:
    """DPO: the subject answered; the clock runs again."""
    return _decide(v, who, request_id, "resumed", staff_queue.resume)


async def _to_staff_sign_in(request: Request, exc: Exception) -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    if request.cookies.get(STAFF_COOKIE):
        _clear_staff_cookie(response, request.app.state.container)
    return response


def install(app: FastAPI) -> None:
    """Add the staff pages; an ended staff session meets the staff sign-in, not the user's."""
    app.include_router(router)
    app.add_exception_handler(StaffSignInRequired, _to_staff_sign_in)
