"""HTML out: the Jinja2 templates, one way to render a page for any visitor, and its helpers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse, RedirectResponse

from minimaker.entrypoints.page_shell import session
from minimaker.entrypoints.page_shell.session import Visitor
from minimaker.kernel.errors import MiniMakerError, ValidationFailed

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Pages may show a person's photos and profile: never keep them in any cache.
NO_STORE = {"Cache-Control": "private, no-store"}
#: What each form field is called on the page; error summaries name fields by these.
LABELS = {
    "name": "Name",
    "email": "Email",
    "username": "Username",
    "password": "Password",
    "current_password": "Current password",
    "new_password": "New password",
    "token": "Reset link",
    "login": "Username or email",
    "file": "Photo",
    "width_mm": "Width (mm)",
    "base_mm": "Base thickness (mm)",
    "max_relief_mm": "Maximum relief (mm)",
    "lithophane": "Lithophane",
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the tests, not a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["sentence"] = sentence
    env.globals["labels"] = LABELS
    return env


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def sentence(message: str) -> str:
    """Service messages are lower-case fragments; on a page they read as sentences."""
    text = message.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def render(
    v: Visitor,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **ctx: Any,
) -> HTMLResponse:
    """Render a page with its CSRF token, the nonce cookie if new, the ended session cleared."""
    context: dict[str, Any] = {
        "csrf": v.form_token(),
        "refresh": False,
        "error": None,
        "field_errors": {},
        "values": {},
        "notice": None,
        # The layout shows who is signed in: user pages a log-out link, staff pages the role.
        "signed_in": v.who is not None,
        "who": v.who,
        # Who answers for the data, on every page that offers a way to write to them.
        "controller": v.c.policy.controller,
    }
    context.update(ctx)
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})
    if v.csrf_is_new:
        session.set_csrf_cookie(response, v.csrf_nonce, v.c.settings)
    if v.ended_session:
        v.session.clear_cookie(response, v.c.settings)
    return response


def fragment(template: str, macro: str, /, **kwargs: Any) -> str:
    """One macro of a template rendered alone: a piece of a page that a script puts in place."""
    module = environment().get_template(template).module
    return str(getattr(module, macro)(**kwargs))


def see_other(url: str) -> RedirectResponse:
    """Post/Redirect/Get: a reload after a successful POST must not post again."""
    return RedirectResponse(url, status_code=303)


def form_failure(exc: MiniMakerError) -> dict[str, Any]:
    """Template context that re-shows a form with the error's safe message."""
    field = getattr(exc, "field", None)
    if field is None:
        return {"error": exc.message, "field_errors": {}}
    if isinstance(exc, ValidationFailed):
        # "Email is not a valid email address" reads better than "email: is not ...".
        message = f"{LABELS.get(field, field)} {exc.reason}"
    else:
        message = exc.message
    return {"error": message, "field_errors": {field: message}}
