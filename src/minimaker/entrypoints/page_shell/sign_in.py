"""Signing in and out with a page's form, the same for every kind of session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Response
from starlette.datastructures import FormData

from minimaker.entrypoints import errors
from minimaker.entrypoints.http import Issued, set_device_cookie
from minimaker.entrypoints.page_shell.render import form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import Visitor, text_field
from minimaker.kernel.errors import InvalidCredentials, TooManyAttempts, ValidationFailed

#: Checks a name and a password and opens a session: (name, password) -> its token.
Login = Callable[[str, str], Issued]


def sign_in(
    v: Visitor, form: FormData, *, login: Login, login_field: str, template: str, title: str
) -> Response:
    """Open a session and hand the browser its cookie, or show the form again with why."""
    name, password = text_field(form, login_field), text_field(form, "password")
    try:
        # Empty fields are refused here, before they could count as a failed sign-in.
        if not name.strip():
            raise ValidationFailed(login_field, "is required")
        if not password:
            raise ValidationFailed("password", "is required")
        issued = login(name, password)
    except (ValidationFailed, InvalidCredentials, TooManyAttempts) as exc:
        found = errors.answer(exc)  # the status and headers (Retry-After) of every answer
        # The password is never sent back: it would sit in the page and the browser history.
        return render(
            v,
            template,
            title=title,
            status=found.status,
            headers=found.headers,
            values={login_field: name},
            **form_failure(exc),
        )
    response = see_other(v.session.home)
    v.session.set_cookie(response, issued.token, v.c.settings)
    # A sign-in that remembers devices (accounts', not staff's) renews the device cookie.
    devices = getattr(issued, "devices", None)
    if isinstance(devices, str):
        set_device_cookie(response, devices, v.c.settings)
    return response


def sign_out(v: Visitor, *, end: Callable[[Any, str], None], then: str) -> Response:
    """End the visitor's live session, if any, forget its cookie and go to `then`."""
    if v.who is not None and v.token is not None:
        end(v.who, v.token)
    response = see_other(then)
    v.session.clear_cookie(response, v.c.settings)
    return response
