"""The security self-check for staff (policy 5.1): `GET /api/v1/admin/selfchecks` lists the
record of runs, `POST` runs one now. Admins and engineers only (staff/rules.py RUN_SELFCHECK)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from minimaker.entrypoints.http import ContainerDep, Staff
from minimaker.operations import selfcheck
from minimaker.operations.selfcheck import RunRead

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class CheckOut(BaseModel):
    """One check of a run: no personal data, only names, statuses and counts."""

    name: str
    status: Literal["pass", "fail", "warn", "skipped"]
    message: str


class SelfcheckOut(BaseModel):
    """One run; `passed` is false when any check failed (warn and skipped do not fail)."""

    id: str
    at: datetime
    trigger: Literal["cli", "schedule", "api"]
    passed: bool
    counts: dict[str, int]
    checks: list[CheckOut]


def _out(run: RunRead) -> SelfcheckOut:
    return SelfcheckOut.model_validate(run.as_dict())


@router.get("/selfchecks", response_model=list[SelfcheckOut])
def list_selfchecks(c: ContainerDep, who: Staff) -> list[SelfcheckOut]:
    """The newest self-check runs first (at most 50): the record of regular security audits."""
    return [_out(run) for run in selfcheck.recent_runs(c, by=who)]


@router.post("/selfchecks", status_code=201, response_model=SelfcheckOut)
def run_selfcheck(c: ContainerDep, who: Staff) -> SelfcheckOut:
    """Run the security self-check now and keep it in the record; answers the run."""
    run = selfcheck.run_selfcheck(c, selfcheck.wired(c), trigger=selfcheck.Trigger.API, by=who)
    return _out(run)
