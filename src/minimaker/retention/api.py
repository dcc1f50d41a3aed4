"""The "keep my account" link of the inactivity warning: a page, and its one button; and
the privacy officer's legal holds (`staff`: `GET|POST /api/v1/admin/holds`,
`DELETE /api/v1/admin/holds/{hold_id}`, policy 9.1 "unless required by law").

Opening the link changes nothing (mail scanners open links); only the button's POST keeps the
account, so an account is never kept alive by a machine reading the mail.

The holds take the same checks as `minimaker retention hold` (retention/holds.py), stated in
the schema too; only the dpo role may use them (staff/rules.py), and each one's actor is the
staff member.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from minimaker.entrypoints.http import ContainerDep, Staff, StrictBody, errors_as_page, stated
from minimaker.retention import holds, inactivity
from minimaker.retention.rules import REFERENCE, HoldReason

router = APIRouter(prefix="/api/v1/account", tags=["account"])
#: The officer's routes, registered beside `router` in entrypoints/app.py.
staff = APIRouter(prefix="/api/v1/admin", tags=["admin"])
_TITLE = "Keep your MiniMaker account"


def _page(title: str, text: str, *, status: int = 200, action: str | None = None) -> Response:
    form = (
        f'<form method="post" action="{escape(action)}"><button type="submit">Keep my account'
        "</button></form>"
        if action
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · MiniMaker</title><link rel="stylesheet" href="/static/site.css">'
        f'</head><body><main id="main" class="narrow"><h1>{escape(title)}</h1>'
        f"<p>{escape(text)}</p>{form}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _link_error(status: int, message: str) -> Response:
    return _page("This link cannot be used", message, status=status)


@router.get(
    "/keep/{token}", response_class=HTMLResponse, dependencies=[errors_as_page(_link_error)]
)
def keep_page(c: ContainerDep, token: str) -> Response:
    """The page the warning's link opens: one button keeps the account."""
    inactivity.check_link(c, token=token)
    return _page(
        _TITLE,
        "Press the button and your account, photos and models stay; nothing else changes.",
        action=f"{inactivity.PATH}{token}",
    )


@router.post(
    "/keep/{token}", response_class=HTMLResponse, dependencies=[errors_as_page(_link_error)]
)
def keep(c: ContainerDep, token: str) -> Response:
    """Keep the account the link was sent for: it counts as used now."""
    inactivity.keep_account(c, token=token)
    return _page(_TITLE, "Done: your account is kept. Thank you.")


#: A subject id as we mint them: 32 lowercase hex digits.
SUBJECT_PATTERN = r"^[0-9a-f]{32}$"
#: A rule's name as the policy file names rules (policy/model.py `Name`), or "*" for every
#: rule; which rules exist, the policy in force says (holds.py checks).
RULE_PATTERN = r"^(\*|[a-z][a-z0-9_-]{0,39})$"


class HoldIn(StrictBody):
    """A hold: whose data, which rule (or "*"), why (a code) and the case's reference."""

    subject_id: str = stated(SUBJECT_PATTERN, 32, min_length=32)
    rule: str = stated(RULE_PATTERN, 40)
    reason: Annotated[HoldReason, Field(strict=False)]  # its value, as JSON carries it
    reference: str = stated(REFERENCE.pattern, 64)


class HoldOut(BaseModel):
    id: str
    subject_id: str
    rule: str
    reason: str
    reference: str
    set_by: str
    set_at: datetime


@staff.get("/holds", response_model=list[HoldOut])
def list_holds(c: ContainerDep, who: Staff) -> Any:
    """DPO: every legal hold in force, oldest first (ids and case references only)."""
    return [asdict(h) for h in holds.list_for_officer(c, who)]


@staff.post("/holds", status_code=201, response_model=HoldOut)
def set_hold(c: ContainerDep, who: Staff, body: HoldIn) -> Any:
    """DPO: suspend a retention rule ("*": every rule) for one subject, as the law requires.

    Any hold also defers an erasure of the subject until their last hold is released."""
    found = holds.set_by_officer(
        c,
        who,
        subject_id=body.subject_id,
        rule=body.rule,
        reason=body.reason.value,
        reference=body.reference,
    )
    return asdict(found)


@staff.delete("/holds/{hold_id}", status_code=204)
def release_hold(c: ContainerDep, who: Staff, hold_id: str) -> Response:
    """DPO: end a hold; the subject's data meets its rules again, and an erasure it deferred
    resumes once no hold on the subject is left."""
    holds.release_by_officer(c, who, hold_id=hold_id)
    return Response(status_code=204)
