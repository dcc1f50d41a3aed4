"""Pages before and around a session: landing, sign up, log in, log out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import client_ip
from minimaker.entrypoints.page_shell import session
from minimaker.entrypoints.page_shell.render import error_headers, form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import CheckedForm, VisitorDep, text_field
from minimaker.kernel.errors import (
    AlreadyTaken,
    InvalidCredentials,
    TooManyAttempts,
    ValidationFailed,
)

router = APIRouter(include_in_schema=False)

_SIGNUP_FIELDS = ("name", "email", "username")


@router.get("/")
def landing(v: VisitorDep) -> Response:
    """What MiniMaker is; signed-in visitors go straight to their photos."""
    if v.user_id is not None:
        return see_other("/app")
    return render(v, "landing.html", title="Photo to printable 3D model")


@router.get("/signup")
def signup_form(v: VisitorDep) -> Response:
    """The sign-up form."""
    if v.user_id is not None:
        return see_other("/app")
    return render(v, "signup.html", title="Sign up")


@router.post("/signup")
def signup(form: CheckedForm, v: VisitorDep) -> Response:
    """Create an account, then ask the new user to log in."""
    values = {name: text_field(form, name) for name in _SIGNUP_FIELDS}
    try:
        accounts.signup(v.c, **values, password=text_field(form, "password"))
    except (ValidationFailed, AlreadyTaken) as exc:
        # The password is never sent back: it would sit in the page and the browser history.
        return render(
            v, "signup.html", title="Sign up", status=exc.status, values=values, **form_failure(exc)
        )
    return see_other("/login?welcome=1")


@router.get("/login")
def login_form(v: VisitorDep, welcome: str | None = None) -> Response:
    """The log-in form."""
    if v.user_id is not None:
        return see_other("/app")
    # A fixed flag, never a name or address: the URL lands in history and server logs.
    notice = "Your account is ready. Log in to start." if welcome == "1" else None
    return render(v, "login.html", title="Log in", notice=notice)


@router.post("/login")
def login(request: Request, form: CheckedForm, v: VisitorDep) -> Response:
    """Check the password, open a session and hand the browser its cookie."""
    login_name, password = text_field(form, "login"), text_field(form, "password")
    values = {"login": login_name}
    try:
        # Empty fields are refused here, before they could count as a failed login.
        if not login_name.strip():
            raise ValidationFailed("login", "is required")
        if not password:
            raise ValidationFailed("password", "is required")
        issued = accounts.login(
            v.c, login=login_name, password=password, client_ip=client_ip(request)
        )
    except (ValidationFailed, InvalidCredentials, TooManyAttempts) as exc:
        return render(
            v,
            "login.html",
            title="Log in",
            status=exc.status,
            headers=error_headers(exc),
            values=values,
            **form_failure(exc),
        )
    response = see_other("/app")
    session.set_session_cookie(response, issued.token, v.c.settings)
    return response


@router.post("/logout")
def logout(form: CheckedForm, v: VisitorDep) -> Response:
    """End this browser's session and forget its cookie."""
    if v.user_id is not None and v.session_token is not None:
        accounts.logout(v.c, user_id=v.user_id, token=v.session_token)
    response = see_other("/")
    session.clear_session_cookie(response, v.c.settings)
    return response
