"""Pages before and around a session: landing, sign up, log in, log out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from minimaker.accounts import password_pages, rules
from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import client_ip, device_cookie
from minimaker.entrypoints.page_shell.render import LABELS, form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import USER, CheckedForm, VisitorDep, text_field
from minimaker.entrypoints.page_shell.sign_in import sign_in, sign_out
from minimaker.kernel.errors import AlreadyTaken, TooManyAttempts, ValidationFailed

router = APIRouter(include_in_schema=False)
router.include_router(password_pages.router)  # changing and resetting a password

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
    """Create an account and sign its owner in at once (no second sign-in)."""
    values = {name: text_field(form, name) for name in _SIGNUP_FIELDS}
    password = text_field(form, "password")
    problems = _signup_problems(values, password)
    if problems:
        return _signup_again(v, values, status=422, error=_summary(problems), field_errors=problems)
    try:
        profile = accounts.signup(v.c, **values, password=password, client_ip=client_ip(request))
    except (ValidationFailed, AlreadyTaken, TooManyAttempts) as exc:
        # The password is never sent back: it would sit in the page and the browser history.
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else {}
        return _signup_again(v, values, status=exc.status, headers=retry, **form_failure(exc))
    issued = accounts.start_session(v.c, user_id=profile.id)
    response = see_other(f"{USER.home}?welcome=1")
    USER.set_cookie(response, issued.token, v.c.settings)
    return response


#: Each field's own check, run all at once so that every problem is shown together.
_CHECKS = {
    "name": rules.clean_name,
    "email": rules.clean_email,
    "username": rules.clean_username,
    "password": rules.check_password,
}


def _signup_problems(values: dict[str, str], password: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    for name, check in _CHECKS.items():
        try:
            check(password if name == "password" else values[name])
        except ValidationFailed as exc:
            problems[name] = f"{LABELS.get(exc.field, exc.field)} {exc.reason}"
    return problems


def _summary(problems: dict[str, str]) -> str:
    if len(problems) == 1:
        return next(iter(problems.values()))
    return f"{len(problems)} fields need a change: " + "; ".join(problems.values())


def _signup_again(v: VisitorDep, values: dict[str, str], *, status: int, **ctx: Any) -> Response:
    return render(v, "signup.html", title="Sign up", status=status, values=values, **ctx)


#: Why the visitor is at sign-in, by a fixed flag in the URL (never a name or an address:
#: the URL lands in history and server logs).
_LOGIN_NOTICES = {
    ("ended", "erasure"): "Your account is being deleted, as you asked, so you were signed "
    "out. We will email you when it is done.",
    ("ended", "reset"): "Your new password is set, and every session of your account was "
    "signed out. Log in with the new password.",
    ("ended", "session"): "Your session ended (you logged out elsewhere, it expired, or the "
    "account was deleted). Log in again to continue.",
}


@router.get("/login")
def login_form(v: VisitorDep, ended: str | None = None) -> Response:
    """The log-in form, saying why the visitor is here when a flag tells."""
    if v.who is not None:
        return see_other(USER.home)
    # A dead session cookie reaching this page says it too (render() then forgets it).
    ended = "session" if v.ended_session and not ended else ended
    notice = _LOGIN_NOTICES.get(("ended", ended or ""))
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
