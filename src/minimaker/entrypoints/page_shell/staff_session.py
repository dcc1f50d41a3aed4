"""The staff browser session: its own cookie, scoped to /admin, so it never travels with a
user page; forms carry a CSRF token bound to that cookie under a key of its own, so a user
page's token cannot post a staff form, nor the reverse. Shared by every feature's /admin pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import FormData

from minimaker.entrypoints.page_shell.session import CookieSession, Visitor
from minimaker.kernel.actors import StaffIdentity

#: Strict and scoped to /admin: a staff session never rides on another site's request, nor
#: on any user page of this one; its forms are signed under a key of their own.
STAFF = CookieSession(
    cookie="mm_staff",
    kind="staff",
    sign_in="/admin/login",
    home="/admin",
    path="/admin",
    samesite="strict",
    csrf_secret="staff_csrf_signing",  # noqa: S106 - the name of a keyring secret
)
StaffVisitor = Annotated[Visitor, Depends(STAFF.visitor)]


def signed_in_staff(v: StaffVisitor) -> StaffIdentity:
    """The signed-in staff member; without a live staff session, the staff sign-in page."""
    return STAFF.signed_in(v)  # type: ignore[no-any-return]


Staff = Annotated[StaffIdentity, Depends(signed_in_staff)]
StaffForm = Annotated[FormData, Depends(STAFF.checked_form)]
