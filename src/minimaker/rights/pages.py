"""The privacy centre at /privacy: see what is held, fix it, take it away, stop it, delete it.

Every right is a form here (GDPR Art. 12(2): make exercising them easy), and every form calls
the same services as the privacy API: requests go through `intake.submit`, so each one gets
its legal due date, its history and its audit trail.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from minimaker.accounts import rules
from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import client_ip, device_cookie, private_content
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import (
    CheckedForm,
    UserId,
    Visitor,
    VisitorDep,
    text_field,
)
from minimaker.entrypoints.page_shell.sign_in import sign_out
from minimaker.kernel.errors import (
    AlreadyTaken,
    MiniMakerError,
    PasswordIncorrect,
    PasswordRequired,
    TooManyAttempts,
    ValidationFailed,
)
from minimaker.rights import (
    access,
    consent,
    holdings,
    intake,
    objection,
    plain_words,
    preferences,
    rectification,
)
from minimaker.rights.processing import consentable, objectable
from minimaker.rights.read_model import RequestRead
from minimaker.rights.rules import OPEN, Status

router = APIRouter(prefix="/privacy", include_in_schema=False)

_PROFILE_FIELDS = ("name", "email", "username")
_ARCHIVE_TYPES = ("access", "portability")
#: Fixed flags in the redirect, never anything typed: the URL lands in history and logs.
_DONE = {
    "access": "We are preparing a copy of your data. It appears below when it is ready.",
    "portability": "We are preparing your data in a portable format. It appears below when "
    "it is ready.",
    "corrected": "Your details were corrected.",
    "objections": "Your choices were saved and apply from now on.",
    "consents": "Your consent choices were saved and apply from now on.",
    "restrict": "Your request to restrict processing was received.",
    "lift": "Your request to lift the restriction was received.",
}


def _downloadable(request: RequestRead) -> bool:
    return (
        request.type in _ARCHIVE_TYPES
        and request.status == "completed"
        and request.result_ref is not None
    )


def _restriction_state(restricted: bool, requests: list[RequestRead]) -> str:
    """What the page shows of Art. 18: the state in force, or the one a request is bringing.

    A restriction request is fulfilled by the worker a moment after it is made; the page the
    subject lands on shows the state they asked for (with the button that undoes it) at once.
    Each open request toggles the state (the form only ever offers the opposite one).
    """
    pending = sum(1 for r in requests if r.type == "restriction" and Status(r.status) in OPEN)
    if pending % 2 == 0:
        return "restricted" if restricted else "unrestricted"
    return "lifting" if restricted else "restricting"


@router.get("")
def centre(v: VisitorDep, user_id: UserId, done: str | None = None) -> Response:
    """What MiniMaker holds about you, and a form for each of your rights."""
    return _centre(v, user_id, notice=_DONE.get(done or ""))


def _centre(
    v: Visitor,
    user_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    profile_error: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    profile = accounts.get_profile(v.c, user_id=user_id)
    requests = intake.list_for_subject(v.c, user_id=user_id)
    prefs = preferences.get_preferences(v.c, user_id=user_id)
    policy = v.c.policy
    # The field the browser focuses (and so scrolls to): the one at fault, else the first.
    at_fault = next(iter((profile_error or {}).get("field_errors", {})), "name")
    at_fault = at_fault if at_fault in _PROFILE_FIELDS else "name"
    return render(
        v,
        "privacy.html",
        title="Your privacy",
        status=status,
        notice=notice,
        profile=profile,
        held=holdings.held_about(v.c, user_id=user_id),
        categories=plain_words.categories(policy),
        purposes=plain_words.purposes(policy),
        controller=policy.controller,
        objections=prefs.objections,
        consents=prefs.consents,
        restriction=_restriction_state(prefs.restricted, requests),
        requests=requests,
        downloads={r.id for r in requests if _downloadable(r)},
        profile_error=profile_error,
        at_fault=at_fault if profile_error else None,
        typed=typed or {name: getattr(profile, name) for name in _PROFILE_FIELDS},
    )


@router.post("/requests")
def request_archive(form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Ask for a copy of your data (Art. 15) or a portable copy (Art. 20)."""
    kind = text_field(form, "type")
    if kind not in _ARCHIVE_TYPES:
        raise ValidationFailed("type", "must be access or portability")
    intake.submit(v.c, user_id=user_id, type=kind)
    return see_other(f"/privacy?done={kind}")


@router.post("/profile")
def correct_profile(form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Correct your name, email or username (Art. 16); only what you changed is rewritten."""
    typed = {name: text_field(form, name) for name in _PROFILE_FIELDS}
    current = accounts.get_profile(v.c, user_id=user_id)
    changed = {k: val for k, val in typed.items() if val.strip() != getattr(current, k)}
    try:
        rectification.correct(v.c, user_id=user_id, **changed)  # Art. 19 notices too
    except (ValidationFailed, AlreadyTaken) as exc:
        return _centre(v, user_id, status=exc.status, profile_error=form_failure(exc), typed=typed)
    return see_other("/privacy?done=corrected")


@router.post("/objections")
def set_objections(form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Object to each purpose the policy makes objectable (Art. 21); a cleared box withdraws."""
    wanted = {p for p in objectable(v.c.policy) if form.get(p) is not None}
    objection.set_objections(v.c, user_id=user_id, objections=wanted)
    return see_other("/privacy?done=objections")


@router.post("/consents")
def set_consents(form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Consent to each consent purpose by ticking its box (Art. 7); clearing it withdraws,
    as easily as it was given (Art. 7(3))."""
    wanted = {p for p in consentable(v.c.policy) if form.get(p) is not None}
    consent.set_consents(v.c, user_id=user_id, consents=wanted)
    return see_other("/privacy?done=consents")


@router.post("/restriction")
def restriction(form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Restrict processing to storage (Art. 18), or ask for the restriction to be lifted."""
    action = text_field(form, "action")
    if action not in ("restrict", "lift"):
        raise ValidationFailed("action", "must be restrict or lift")
    intake.submit(v.c, user_id=user_id, type="restriction", details={"action": action})
    return see_other(f"/privacy?done={action}")


@router.get("/delete")
def delete_form(v: VisitorDep, user_id: UserId) -> Response:
    """The confirmation step before asking for the account to be erased."""
    profile = accounts.get_profile(v.c, user_id=user_id)
    return render(v, "privacy_delete.html", title="Delete your account", username=profile.username)


@router.post("/delete")
def delete_account(request: Request, form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Ask for erasure (Art. 17) once the username was typed and the password proves the person.

    The session alone is not enough: a browser left signed in, or a stolen cookie, must not
    erase an account. A wrong password counts as a failed sign-in.
    """
    profile = accounts.get_profile(v.c, user_id=user_id)
    typed = text_field(form, "confirm")
    try:
        if rules.username_key(typed) != rules.username_key(profile.username):
            raise ValidationFailed("confirm", "must be your username exactly; nothing was deleted")
        accounts.confirm_password(
            v.c,
            user_id=user_id,
            password=text_field(form, "password"),
            client_ip=client_ip(request),
            devices=device_cookie(request),
        )
    except (ValidationFailed, PasswordRequired, PasswordIncorrect, TooManyAttempts) as exc:
        return _delete_refused(v, profile.username, exc)
    intake.submit(v.c, user_id=user_id, type="erasure")
    # Nothing of the account stays on screen, and the browser's session ends here rather than
    # silently when the erasure runs: sign-in says why (a fixed flag, never a name).
    return sign_out(
        v,
        end=lambda who, token: accounts.logout(v.c, user_id=who, token=token),
        then="/login?ended=erasure",
    )


def _delete_refused(v: Visitor, username: str, exc: MiniMakerError) -> Response:
    retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else {}
    message = exc.reason if isinstance(exc, ValidationFailed) else exc.message
    return render(
        v,
        "privacy_delete.html",
        title="Delete your account",
        status=exc.status,
        headers=retry,
        username=username,
        error=message,
    )


@router.get("/requests/{request_id}")
def request_page(request_id: str, v: VisitorDep, user_id: UserId) -> Response:
    """One of your requests, with its due date and history."""
    request = intake.get_for_subject(v.c, user_id=user_id, request_id=request_id)
    return render(
        v,
        "privacy_request.html",
        title=f"Your {request.type} request",
        request=request,
        downloadable=_downloadable(request),
    )


@router.get("/requests/{request_id}/download")
def download(request_id: str, v: VisitorDep, user_id: UserId) -> Response:
    """The archive of one of your completed access or portability requests."""
    # Ownership first, through the rights service: another subject's id is simply not found.
    intake.get_for_subject(v.c, user_id=user_id, request_id=request_id)
    archive = access.open_download(v.c, user_id=user_id, request_id=request_id)
    return private_content(
        archive.chunks, "application/zip", filename=archive.filename, size=archive.size_bytes
    )
