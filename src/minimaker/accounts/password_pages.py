"""Pages for passwords: change it in your account settings, or reset a forgotten one by a
link we email (accounts/recovery.py holds the rules)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from minimaker.accounts import recovery
from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import client_ip, device_cookie
from minimaker.entrypoints.page_shell.failures import status_and_headers
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import CheckedForm, UserId, VisitorDep, text_field
from minimaker.kernel.errors import (
    PasswordIncorrect,
    PasswordRequired,
    TooManyAttempts,
    ValidationFailed,
)

router = APIRouter(include_in_schema=False)

_CHANGED = "Your password was changed. Every other device signed in to your account was signed out."
#: The one answer to a reset request, whether or not an account has the address.
_SENT = (
    "If an account has this address, we have emailed it a link to choose a new password. "
    "The link works once, within the hour. Nothing arrived? Check your spam folder, or ask "
    "again in a few minutes."
)


@router.get("/account")
def account_settings(v: VisitorDep, user_id: UserId, changed: str | None = None) -> Response:
    """Your account settings: change your password."""
    profile = accounts.get_profile(v.c, user_id=user_id)
    notice = _CHANGED if changed == "1" else None
    return render(v, "account.html", title="Account settings", profile=profile, notice=notice)


@router.post("/account/password")
def change_password(
    request: Request, form: CheckedForm, v: VisitorDep, user_id: UserId
) -> Response:
    """Change the password once the current one is proved; other sessions are signed out."""
    assert v.token is not None  # a signed-in visitor has a live session token
    try:
        recovery.change_password(
            v.c,
            user_id=user_id,
            current=text_field(form, "current_password"),
            new=text_field(form, "new_password"),
            client_ip=client_ip(request),
            devices=device_cookie(request),
            keep_token=v.token,
        )
    except (ValidationFailed, PasswordRequired, PasswordIncorrect, TooManyAttempts) as exc:
        status, headers = status_and_headers(exc)
        failure = form_failure(exc)
        if isinstance(exc, (PasswordRequired, PasswordIncorrect)):
            failure["field_errors"] = {"current_password": failure["error"]}
        profile = accounts.get_profile(v.c, user_id=user_id)
        return render(
            v,
            "account.html",
            title="Account settings",
            status=status,
            headers=headers,
            profile=profile,
            **failure,
        )
    return see_other("/account?changed=1")


@router.get("/password/forgot")
def forgot_form(v: VisitorDep) -> Response:
    """Ask for a link to choose a new password."""
    return render(v, "password_forgot.html", title="Forgot your password?", sent=None)


@router.post("/password/forgot")
def forgot(request: Request, form: CheckedForm, v: VisitorDep) -> Response:
    """Mail a reset link if an account has the address; the same answer either way."""
    email = text_field(form, "email")
    try:
        recovery.request_reset(v.c, email=email, client_ip=client_ip(request))
    except (ValidationFailed, TooManyAttempts) as exc:
        status, headers = status_and_headers(exc)
        return render(
            v,
            "password_forgot.html",
            title="Forgot your password?",
            status=status,
            headers=headers,
            sent=None,
            values={"email": email},
            **form_failure(exc),
        )
    return render(v, "password_forgot.html", title="Check your email", sent=_SENT)


@router.get("/password/reset")
def reset_form(v: VisitorDep, token: str = "") -> Response:
    """The emailed link's page: a new password, if the link still works."""
    live = 0 < len(token) <= 128 and recovery.reset_link_live(v.c, token=token)
    return render(
        v,
        "password_reset.html",
        title="Choose a new password",
        status=200 if live else 410,
        token=token if live else None,
    )


@router.post("/password/reset")
def reset(form: CheckedForm, v: VisitorDep) -> Response:
    """Set the new password; the link dies and every session ends. Then sign in with it."""
    token = text_field(form, "token")[:128]
    try:
        recovery.reset_password(v.c, token=token, new=text_field(form, "new_password"))
    except ValidationFailed as exc:
        dead = isinstance(exc, recovery.ResetLinkInvalid)
        return render(
            v,
            "password_reset.html",
            title="Choose a new password",
            status=410 if dead else exc.status,
            token=None if dead else token,
            **form_failure(exc),
        )
    response = see_other("/login?ended=reset")
    v.session.clear_cookie(response, v.c.settings)  # any session of this browser ended too
    return response
