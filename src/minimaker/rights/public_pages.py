"""Pages for people who cannot sign in (policy section 13): the form to ask by email at
/privacy/ask, and the pages the emailed links open (their routes are in api.py).

The form takes the same path as `POST /api/v1/privacy/requests/public`
(`public_intake.request_by_email`): the same throttles, and the same answer whether or not
the address is registered. It carries the page shell's CSRF token like every other form.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from minimaker.entrypoints.http import client_ip
from minimaker.entrypoints.page_shell.render import environment, form_failure, render, see_other
from minimaker.entrypoints.page_shell.session import CheckedForm, Visitor, VisitorDep, text_field
from minimaker.kernel.errors import TooManyAttempts, ValidationFailed
from minimaker.rights import public_intake
from minimaker.rights.rules import RequestType

router = APIRouter(prefix="/privacy", include_in_schema=False)

#: What each request type is called on the form, in the order offered.
KINDS = (
    (RequestType.ACCESS.value, "A copy of my data (access)"),
    (RequestType.PORTABILITY.value, "My data in a portable format (portability)"),
    (RequestType.RECTIFICATION.value, "Correct my details (rectification)"),
    (RequestType.RESTRICTION.value, "Restrict the processing of my data (restriction)"),
    (RequestType.OBJECTION.value, "Object to training, marketing and analytics (objection)"),
    (RequestType.ERASURE.value, "Delete my account and all my data (erasure)"),
)
_TITLE = "Ask without signing in"


@router.get("/ask")
def ask_form(v: VisitorDep, sent: str | None = None) -> Response:
    """The form; after a request, the one acknowledgement (a fixed flag, never the address)."""
    notice = public_intake.ACKNOWLEDGEMENT["message"] if sent == "1" else None
    return _ask_page(v, notice=notice)


@router.post("/ask")
def ask(request: Request, form: CheckedForm, v: VisitorDep) -> Response:
    """Ask by email: a link to confirm goes to the address if it is registered."""
    values = {"email": text_field(form, "email"), "type": text_field(form, "type")}
    try:
        public_intake.request_by_email(
            v.c, email=values["email"], type=values["type"], client_ip=client_ip(request)
        )
    except (ValidationFailed, TooManyAttempts) as exc:
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else {}
        return _ask_page(v, status=exc.status, headers=retry, values=values, **form_failure(exc))
    return see_other("/privacy/ask?sent=1")


def _ask_page(v: Visitor, *, status: int = 200, **ctx: Any) -> Response:
    controller = v.c.policy.controller
    return render(
        v, "public_ask.html", title=_TITLE, status=status, kinds=KINDS, controller=controller, **ctx
    )


def link_page(template: str, *, title: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A page an emailed link opens: nobody is signed in, and its form needs no CSRF token
    (the unguessable token in the form's address is the proof)."""
    context: dict[str, Any] = {
        "title": title,
        "refresh": False,
        "signed_in": False,
        "error": None,
        "field_errors": {},
        "values": {},
        **ctx,
    }
    html = environment().get_template(template).render(context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
