"""`minimaker selfcheck`: the security self-audit of policy 5.1, run by hand, by the workers'
schedule or through the admin API, each run kept as a row: the record of "regular security
audits and vulnerability assessments" (Art. 32(1)(d): regularly testing the measures).

The checks are in selfcheck_checks.py (the installation: keys, directories, TLS, debug,
residency), selfcheck_data.py (what the service holds) and selfcheck_dependencies.py
(pip-audit). A run fails when any check fails; warnings and skipped checks are recorded but
do not fail it, so `selfcheck` can gate cron and CI on its exit code.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_CLI, SYSTEM_WORKER, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.kernel.retention import Expiry
from minimaker.operations import events, selfcheck_data, selfcheck_dependencies
from minimaker.operations.selfcheck_checks import Check, Status, TlsFiles, installation
from minimaker.operations.tables import SelfcheckRun
from minimaker.staff import service as staff
from minimaker.staff.rules import Action
from minimaker.staff.service import StaffIdentity

log = logging.getLogger("minimaker.selfcheck")

#: Runs the API and the page list at most.
RECENT = 50


class Trigger(StrEnum):
    """Who started a run: the operator's command, the workers' schedule, or staff via the API."""

    CLI = "cli"
    SCHEDULE = "schedule"
    API = "api"


@dataclass(frozen=True)
class Probes:
    """What the composition root wires in: retention's mechanics (for the backlog) and serve's
    check of its TLS files (an entry point's, which no feature may import)."""

    expiries: tuple[Expiry, ...]
    tls_files: TlsFiles


@dataclass(frozen=True)
class RunRead:
    """One run as the CLI, the API and the page show it."""

    id: str | None  # None: not recorded (the service could not start)
    at: datetime
    trigger: str
    passed: bool
    checks: tuple[Check, ...]

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape (docs/OPERATIONS.md, "Security self-check")."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "trigger": self.trigger,
            "passed": self.passed,
            "counts": self.counts(),
            "checks": [c.as_dict() for c in self.checks],
        }


def passed(checks: Sequence[Check]) -> bool:
    """A run passes when no check failed (warnings and skipped checks do not fail it)."""
    return not any(c.status is Status.FAIL for c in checks)


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """A check that raises is a failed check, named by the exception's class only (its
    message might carry anything), so one broken check never hides the others."""
    try:
        found = check()
    except Exception as exc:
        log.error("self-check %s could not run: %s", name, type(exc).__name__)
        return [Check(name, Status.FAIL, f"the check could not run ({type(exc).__name__})")]
    return found if isinstance(found, list) else [found]


def run_checks(c: Container, probes: Probes) -> list[Check]:
    """Every check, in a fixed order: the installation, what is held, the dependencies."""
    checks = _guarded("installation", lambda: installation(c.settings, c.policy, probes.tls_files))
    for name, check in selfcheck_data.held_checks(probes.expiries):
        checks += _guarded(name, lambda check=check: check(c))  # type: ignore[misc]
    timeout = c.settings.selfcheck_audit_timeout_s
    checks += _guarded("dependencies", lambda: selfcheck_dependencies.audit_dependencies(timeout))
    return checks


def run_selfcheck(
    c: Container, probes: Probes, *, trigger: Trigger, by: StaffIdentity | None = None
) -> RunRead:
    """Run every check now and keep the run as a row, audited with its counts; staff need
    RUN_SELFCHECK (the CLI and the schedule act as the operator)."""
    if by is not None:
        staff.permit(c, by, Action.RUN_SELFCHECK, object="operations:selfcheck")
    actor = by.actor if by is not None else _actor(trigger)
    checks = tuple(run_checks(c, probes))
    run = RunRead(uuid.uuid4().hex, c.clock.now(), trigger.value, passed(checks), checks)
    with c.uow() as uow:
        uow.session.add(
            SelfcheckRun(
                id=run.id,
                at=run.at,
                trigger=run.trigger,
                passed=run.passed,
                results=[check.as_dict() for check in checks],
            )
        )
        counts = run.counts()
        uow.audit(
            events.SELFCHECK_RAN,
            actor=actor,
            object=f"run:{run.id}:fail:{counts['fail']}:warn:{counts['warn']}"
            f":skipped:{counts['skipped']}",
        )
        uow.commit()
    return run


def _actor(trigger: Trigger) -> Actor:
    return SYSTEM_WORKER if trigger is Trigger.SCHEDULE else SYSTEM_CLI


def unrecorded(at: datetime, trigger: Trigger, checks: Sequence[Check]) -> RunRead:
    """A run that could not be kept (the service did not start): reported, not recorded."""
    return RunRead(None, at, trigger.value, passed(checks), tuple(checks))


def recent_runs(c: Container, *, by: StaffIdentity | None, limit: int = RECENT) -> list[RunRead]:
    """The newest runs first; staff need RUN_SELFCHECK."""
    if by is not None:
        staff.permit(c, by, Action.RUN_SELFCHECK, object="operations:selfcheck")
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(SelfcheckRun).order_by(SelfcheckRun.at.desc(), SelfcheckRun.id).limit(limit)
        ).all()
        return [_read(row) for row in rows]


def _read(row: SelfcheckRun) -> RunRead:
    checks = tuple(
        Check(str(r["name"]), Status(r["status"]), str(r["message"])) for r in row.results
    )
    return RunRead(row.id, row.at, row.trigger, row.passed, checks)


def _last_run_at(c: Container) -> datetime | None:
    with c.uow(write=False) as uow:
        return uow.session.scalar(select(SelfcheckRun.at).order_by(SelfcheckRun.at.desc()))


class ScheduledSelfcheck:
    """The periodic duty: a run at most every `selfcheck_interval_s` (the first at once), on
    the container's clock as retention's schedule is; across workers too, as the newest
    recorded run counts, whoever started it."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def _due(self, c: Container, now: datetime) -> bool:
        interval = c.settings.selfcheck_interval_s
        if self._last is not None and (now - self._last).total_seconds() < interval:
            return False
        last = _last_run_at(c)
        if last is not None and (now - last).total_seconds() < interval:
            self._last = last
            return False
        self._last = now
        return True

    def __call__(self, c: Container) -> int:
        with self._lock:
            if not self._due(c, c.clock.now()):
                return 0
        run = run_selfcheck(c, self.probes, trigger=Trigger.SCHEDULE)
        if not run.passed:
            failed = [ch.name for ch in run.checks if ch.status is Status.FAIL]
            log.error("security self-check %s FAILED: %s", run.id, ", ".join(failed))
        return 1


def wired(c: Container) -> Probes:
    """The probes the composition root gave the registered duty (the API runs the same)."""
    duty = c.registries.duties.get("selfcheck")
    if not isinstance(duty, ScheduledSelfcheck):
        raise ConfigurationError("no selfcheck duty is registered (bootstrap.registries)")
    return duty.probes
