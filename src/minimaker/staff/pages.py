"""Staff pages at /admin: sign-in, the request queue with its alarms, and the DPO's decisions.

The staff session (its cookie and CSRF key) is entrypoints/page_shell/staff_session.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from minimaker.entrypoints.http import client_ip
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import Visitor, text_field
from minimaker.entrypoints.page_shell.sign_in import sign_in, sign_out
from minimaker.entrypoints.page_shell.staff_session import STAFF, Staff, StaffForm, StaffVisitor
from minimaker.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
    ValidationFailed,
)
from minimaker.rights import decisions as staff_queue
from minimaker.rights.recording import DESTRUCTIVE
from minimaker.rights.rules import RequestType
from minimaker.staff import service as staff
from minimaker.staff import training
from minimaker.staff.rules import Action, allows, missing_clearance
from minimaker.staff.service import Enrolling, StaffIdentity, StaffToken

router = APIRouter(prefix="/admin", include_in_schema=False)

_DECISION_ERRORS = (ValidationFailed, Conflict)
_DONE = {
    "extended": "The deadline was extended and the subject told why.",
    "rejected": "The request was refused and the subject told, with the right to complain.",
    "paused": "The request is paused: the clock stops until the subject answers.",
    "resumed": "The request is running again.",
    "completed": "The request was completed by hand and the subject told what was done.",
}
_SESSION_ENDED = "Your staff session ended (signed out, expired or disabled). Sign in again."
_VIEWS = {"officer": "Needs the officer", "overdue": "Overdue", "soon": "Due within 7 days"}
#: The correction fields the record form offers for a rectification.
_CORRECTION = ("name", "email", "username")


@router.get("/login")
def login_form(v: StaffVisitor, ended: str | None = None) -> Response:
    """The staff sign-in form; after a session ended, it says so."""
    if v.who is not None:
        return see_other(STAFF.home)
    notice = _SESSION_ENDED if ended == "session" else None  # never echoed
    return render(v, "admin_login.html", title="Staff sign-in", notice=notice)


@router.post("/login")
def login(request: Request, form: StaffForm, v: StaffVisitor) -> Response:
    """Check the staff password and second factor, open a staff session, hand the browser
    its cookie; without an enrolled second factor, the session may only enrol one."""
    ip, code = client_ip(request), text_field(form, "code").strip() or None
    opened: list[StaffToken] = []

    def login_with_code(name: str, password: str) -> StaffToken:
        issued = staff.login(v.c, username=name, password=password, client_ip=ip, code=code)
        opened.append(issued)
        return issued

    response = sign_in(
        v,
        form,
        login=login_with_code,
        login_field="username",
        template="admin_login.html",
        title="Staff sign-in",
    )
    if opened and opened[0].stage == "enrol":
        response.headers["location"] = "/admin/enrol"
    return response


def _enrolling(request: Request, v: Visitor) -> tuple[Visitor, Enrolling] | None:
    """The visitor as its enrolment-only session sees it, or None without one.

    The staff visitor treats that session as signed out (it may do nothing else); here its
    cookie is the session the page's forms are bound to, and it is not cleared."""
    token = request.cookies.get(STAFF.cookie)
    if not token:
        return None
    try:
        who = staff.authenticate_enrolling(v.c, token)
    except (NotAuthenticated, Conflict):
        return None
    return dataclasses.replace(v, token=token, ended_session=False), who


@router.get("/enrol")
def enrol_page(request: Request, v: StaffVisitor) -> Response:
    """Enrol the second factor: a fresh secret as a QR code (and in text) to confirm."""
    found = _enrolling(request, v)
    if found is None:
        return see_other(STAFF.home if v.who is not None else STAFF.sign_in)
    ev, who = found
    return _enrol_form(ev, who)


def _enrol_form(
    v: Visitor, who: Enrolling, *, status: int = 200, error: str | None = None
) -> Response:
    # Each showing is a fresh secret: only the one last shown can be confirmed.
    enrolment = staff.begin_enrolment(v.c, who=who)
    return render(
        v,
        "admin_enrol.html",
        title="Second factor",
        status=status,
        enrolment=enrolment,
        error=error,
    )


@router.post("/enrol")
def enrol(request: Request, form: StaffForm, v: StaffVisitor) -> Response:
    """Confirm the authenticator with a code; the recovery codes are shown this once."""
    found = _enrolling(request, v)
    if found is None:
        return see_other(STAFF.sign_in)
    ev, who = found
    code = text_field(form, "code")
    try:
        codes = staff.confirm_enrolment(v.c, who=who, code=code, client_ip=client_ip(request))
    except (ValidationFailed, InvalidCredentials, TooManyAttempts) as exc:
        return _enrol_form(ev, who, status=exc.status, error=form_failure(exc)["error"])
    # The session is full now: the page is rendered for it, with its role in the layout.
    full = dataclasses.replace(ev, who=staff.authenticate(v.c, ev.token or ""))
    return render(full, "admin_recovery.html", title="Recovery codes", codes=codes)


@router.get("/me")
def me_page(v: StaffVisitor, who: Staff, done: str | None = None) -> Response:
    """Your training and policy acknowledgement, and what personal data still needs."""
    missing = missing_clearance(
        trained_until=who.trained_until,
        acknowledged=who.acknowledged,
        policy_version=v.c.policy.version,
        now=v.c.clock.now(),
    )
    notice = "You acknowledged the policy in force." if done == "acknowledged" else None
    return render(
        v,
        "admin_me.html",
        title="Your staff access",
        missing=missing,
        version=v.c.policy.version,
        notice=notice,
    )


@router.post("/me/acknowledge-policy")
def acknowledge(form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Acknowledge the policy version in force (the form carries the version shown)."""
    try:
        training.acknowledge_policy(v.c, staff=who, version=text_field(form, "version"))
    except ValidationFailed as exc:
        return render(
            v,
            "admin_me.html",
            title="Your staff access",
            status=exc.status,
            missing=[],
            version=v.c.policy.version,
            **form_failure(exc),
        )
    return see_other("/admin/me?done=acknowledged")


@router.post("/logout")
def logout(form: StaffForm, v: StaffVisitor) -> Response:
    """End this browser's staff session."""
    return sign_out(
        v, end=lambda who, token: staff.logout(v.c, staff=who, token=token), then=STAFF.sign_in
    )


@router.get("")
def queue_page(v: StaffVisitor, who: Staff, view: str | None = None) -> Response:
    """Open requests, soonest due first; overdue ones highlighted under an alarm banner."""
    view = view if view in _VIEWS else None
    items = staff_queue.queue(
        v.c,
        who,
        overdue=view == "overdue",
        due_within_days=7 if view == "soon" else None,
        needs_officer=view == "officer",
    )
    # The banners count every overdue request, and every one waiting for the officer (its
    # fulfilment failed for good), whichever view is shown.
    overdue = items if view == "overdue" else staff_queue.queue(v.c, who, overdue=True)
    stuck = items if view == "officer" else staff_queue.queue(v.c, who, needs_officer=True)
    return render(
        v,
        "admin_queue.html",
        title="Requests",
        items=items,
        overdue=overdue,
        stuck=stuck,
        view=view,
        views=_VIEWS,
    )


@router.get("/closed")
def closed_page(v: StaffVisitor, who: Staff, page: str = "1") -> Response:
    """Completed and refused requests, most recently closed first, 25 a page."""
    number = int(page) if page.isdigit() and 0 < len(page) <= 6 else 1
    found = staff_queue.closed(v.c, who, page=max(number, 1))
    return render(v, "admin_closed.html", title="Closed requests", found=found)


@router.get("/record")
def record_form(v: StaffVisitor, who: Staff, done: str | None = None) -> Response:
    """The form to record a request received by email or post."""
    notice = staff_queue.RECORDED_MESSAGE if done == "recorded" else None
    return _record_page(v, who, notice=notice)


def _record_page(
    v: Visitor, who: StaffIdentity, *, status: int = 200, notice: str | None = None, **ctx: Any
) -> Response:
    may_destroy = allows(who.role, Action.RECORD_DESTRUCTIVE_REQUEST)
    types = [t.value for t in RequestType if may_destroy or t not in DESTRUCTIVE]
    context: dict[str, Any] = {"error": None, "field_errors": {}, "values": {}, **ctx}
    return render(
        v,
        "admin_record.html",
        title="Record a request",
        status=status,
        notice=notice,
        types=types,
        corrections=_CORRECTION,
        can_verify=allows(who.role, Action.VERIFY_IDENTITY),
        **context,
    )


@router.post("/record")
def record(form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Record the request; the same answer whether or not the address is registered."""
    kind = text_field(form, "type")
    typed = {f: text_field(form, f).strip() for f in _CORRECTION}
    details = {f: value for f, value in typed.items() if value} if kind == "rectification" else {}
    evidence = text_field(form, "evidence").strip() or None
    values = {"email": text_field(form, "email"), "type": kind, **typed}
    try:
        staff_queue.record(
            v.c, who, email=values["email"], type=kind, details=details or None, evidence=evidence
        )
    except (ValidationFailed, Forbidden) as exc:
        return _record_page(v, who, status=exc.status, values=values, **form_failure(exc))
    return see_other("/admin/record?done=recorded")


@router.get("/requests/{request_id}")
def request_page(request_id: str, v: StaffVisitor, who: Staff, done: str | None = None) -> Response:
    """One request, its history and, for the DPO, the forms to decide on it."""
    return _request_page(v, who, request_id, notice=_DONE.get(done or ""))


def _request_page(
    v: Visitor,
    who: StaffIdentity,
    request_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    failure: dict[str, Any] | None = None,
) -> Response:
    item = staff_queue.get_request(v.c, who, request_id=request_id)
    return render(
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
    v: Visitor,
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
def extend(request_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """DPO: extend the deadline once, with the reason the subject is told."""
    typed = text_field(form, "months").strip()
    # Anything but 1 or 2 is refused by the deadline rules with their own reason.
    months = int(typed) if typed in ("1", "2") else 0
    reason = text_field(form, "reason")
    return _decide(v, who, request_id, "extended", staff_queue.extend, months=months, reason=reason)


@router.post("/requests/{request_id}/reject")
def reject(request_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """DPO: refuse the request with a justification."""
    reason = text_field(form, "reason")
    return _decide(v, who, request_id, "rejected", staff_queue.reject, reason=reason)


@router.post("/requests/{request_id}/complete")
def complete(request_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """DPO: complete by hand a request whose fulfilment failed, stating what was done."""
    statement = text_field(form, "statement")
    return _decide(v, who, request_id, "completed", staff_queue.complete, statement=statement)


@router.post("/requests/{request_id}/pause")
def pause(request_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """DPO: wait on the subject; the legal clock stops."""
    note = text_field(form, "note")[:255]
    return _decide(v, who, request_id, "paused", staff_queue.pause, note=note)


@router.post("/requests/{request_id}/resume")
def resume(request_id: str, form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """DPO: the subject answered; the clock runs again."""
    return _decide(v, who, request_id, "resumed", staff_queue.resume)
