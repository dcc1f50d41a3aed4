"""The security self-check on the staff pages (policy 5.1): /admin/selfchecks lists the record
of runs with each check's outcome, and its one button runs a check now (admins, engineers)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from minimaker.entrypoints.page_shell.render import render, see_other
from minimaker.entrypoints.page_shell.staff_session import Staff, StaffForm, StaffVisitor
from minimaker.operations import selfcheck

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/selfchecks")
def selfchecks_page(v: StaffVisitor, who: Staff) -> Response:
    """The newest runs first, each with its checks; a form to run one now."""
    runs = selfcheck.recent_runs(v.c, by=who)
    return render(v, "admin_selfchecks.html", title="Security self-checks", runs=runs)


@router.post("/selfchecks")
def run_now(form: StaffForm, v: StaffVisitor, who: Staff) -> Response:
    """Run the self-check now; Post/Redirect/Get back to the list."""
    selfcheck.run_selfcheck(v.c, selfcheck.wired(v.c), trigger=selfcheck.Trigger.API, by=who)
    return see_other("/admin/selfchecks")
