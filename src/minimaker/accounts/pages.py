"""Pages before and around a session: landing, sign up, log in, log out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import client_ip, device_cookie
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import USER, CheckedForm, VisitorDep, text_field
from minimaker.entrypoints.page_shell.sign_in import sign_in, sign_out
from minimaker.kernel.errors import AlreadyTaken, TooManyAttempts, ValidationFailed

router = APIRouter(include_in_schema=False)

_SIGNUP_FIELDS = ("name", "email", "username")


@router.get("/")
def landing(v: VisitorDep) -> Response:
    """What MiniMaker is; signed-in visitors go straight to their photos."""
    if v.who is not None:
        return see_other(USER.home)
    return render(v, "landing.html", title="Photo to printable 3D model")


@router.get("/signup")
def signup_form(v: VisitorDep) -> Response:
    """The sign-up form."""
    if v.who is not None:
        return see_other(USER.home)
    return render(v, "signup.html", title="Sign up")


@router.post("/signup")
def signup(request: Request, form: CheckedForm, v: VisitorDep) -> Response:
    """Create an account, then ask the new user to log in."""
    values = {name: text_field(form, name) for name in _SIGNUP_FIELDS}
    password = text_field(form, "password")
    try:
        accounts.signup(v.c, **values, password=password, client_ip=client_ip(request))
    except (ValidationFailed, AlreadyTaken, TooManyAttempts) as exc:
        # The password is never sent back: it would sit in the page and the browser history.
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else {}
        return render(
            v,
            "signup.html",
            title="Sign up",
            status=exc.status,
            headers=retry,
            values=values,
            **form_failure(exc),
        )
    return see_other("/login?welcome=1")


#: Why the visitor is at sign-in, by a fixed flag in the URL (never a name or an address:
#: the URL lands in history and server logs).
_LOGIN_NOTICES = {
    ("welcome", "1"): "Your account is ready. Log in to start.",
    ("ended", "erasure"): "Your account is being deleted, as you asked, so you were signed "
    "out. We will email you when it is done.",
    ("ended", "session"): "Your session ended (you logged out elsewhere, it expired, or the "
    "account was deleted). Log in again to continue.",
}


@router.get("/login")
def login_form(v: VisitorDep, welcome: str | None = None, ended: str | None = None) -> Response:
    """The log-in form, saying why the visitor is here when a flag tells."""
    if v.who is not None:
        return see_other(USER.home)
    # A dead session cookie reaching this page says it too (render() then forgets it).
    ended = "session" if v.ended_session and not ended else ended
    notice = _LOGIN_NOTICES.get(("welcome", welcome or "")) or _LOGIN_NOTICES.get(
        ("ended", ended or "")
    )
    return render(v, "login.html", title="Log in", notice=notice)


@router.post("/login")
def login(request: Request, form: CheckedForm, v: VisitorDep) -> Response:
    """Check the password, open a session and hand the browser its cookie."""
    ip, devices = client_ip(request), device_cookie(request)
    return sign_in(
        v,
        form,
        login=lambda name, password: accounts.login(
            v.c, login=name, password=password, client_ip=ip, devices=devices
        ),
        login_field="login",
        template="login.html",
        title="Log in",
    )


@router.post("/logout")
def logout(form: CheckedForm, v: VisitorDep) -> Response:
    """End this browser's session and forget its cookie."""
    return sign_out(
        v, end=lambda user_id, token: accounts.logout(v.c, user_id=user_id, token=token), then="/"
    )
