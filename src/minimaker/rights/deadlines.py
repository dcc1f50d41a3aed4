"""Deadlines kept by the clock: days left, the overdue alarm, and closing emailed requests
nobody confirmed. The two duties run on every worker's tick (see `bootstrap.registries()`)."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_INTAKE
from minimaker.kernel.container import Container
from minimaker.rights import lifecycle
from minimaker.rights.rules import CLOCK_RUNNING
from minimaker.rights.tables import RightsRequest, VerificationToken

log = logging.getLogger("minimaker.rights")

#: The alarm also names requests due within this many days.
DUE_SOON_DAYS = 7
#: The same alarm is repeated at most this often per database (many workers, one tick each).
REPEAT_ALARM = timedelta(hours=1)
_DAY = timedelta(days=1)
#: What the subject is told when an emailed request is closed unconfirmed.
UNCONFIRMED_REASON = (
    "Nobody confirmed this request by the emailed link before it expired, so we could not "
    "verify that it came from the account holder (Art. 12(6) GDPR). You can ask again at any time."
)

#: Per database: the set of ids last alarmed about, and when.
_last_alarm: dict[str, tuple[frozenset[str], datetime]] = {}


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until the due date, rounded down: 0 is due today, negative is overdue."""
    return math.floor((due_at - now) / _DAY)


def alert_overdue(c: Container) -> int:
    """Warn (ids only) about overdue open requests and those due soon; returns the overdue count.

    A request held by a legal hold is not due: the law, not we, keeps it waiting."""
    now = c.clock.now()
    with c.uow(write=False) as uow:
        rows = uow.session.execute(
            select(RightsRequest.id, RightsRequest.due_at)
            .where(
                RightsRequest.status.in_([s.value for s in CLOCK_RUNNING]),
                RightsRequest.due_at <= now + timedelta(days=DUE_SOON_DAYS),
            )
            .order_by(RightsRequest.due_at)
        ).all()
    overdue = [r.id for r in rows if r.due_at < now]
    soon = [r.id for r in rows if r.due_at >= now]
    key = c.settings.resolved_database_url()
    seen = frozenset(overdue) | frozenset(soon)
    previous = _last_alarm.get(key)
    if seen and (previous is None or previous[0] != seen or now - previous[1] >= REPEAT_ALARM):
        _last_alarm[key] = (seen, now)
        if overdue:
            log.warning("%d data-subject request(s) OVERDUE: %s", len(overdue), ", ".join(overdue))
        if soon:
            log.warning(
                "%d data-subject request(s) due within %d days: %s",
                len(soon),
                DUE_SOON_DAYS,
                ", ".join(soon),
            )
    return len(overdue)


def overdue_and_due_soon(c: Container) -> tuple[int, int]:
    """How many open requests whose clock runs (not held) are past their legal due date, and
    due within DUE_SOON_DAYS (the self-check's counts; the alarm above names them)."""
    now = c.clock.now()
    with c.uow(write=False) as uow:
        due = uow.session.scalars(
            select(RightsRequest.due_at).where(
                RightsRequest.status.in_([s.value for s in CLOCK_RUNNING]),
                RightsRequest.due_at <= now + timedelta(days=DUE_SOON_DAYS),
            )
        ).all()
    overdue = sum(1 for at in due if at < now)
    return overdue, len(due) - overdue


def close_unconfirmed(c: Container) -> int:
    """Close emailed requests whose every confirmation link expired unused (told to the subject)."""
    now = c.clock.now()
    with c.uow(write=False) as uow:
        live = select(VerificationToken.request_id).where(
            (VerificationToken.expires_at > now) | VerificationToken.used_at.is_not(None)
        )
        stale = uow.session.scalars(
            select(RightsRequest.id)
            .join(VerificationToken, VerificationToken.request_id == RightsRequest.id)
            .where(RightsRequest.status == "received", RightsRequest.channel == "email")
            .where(RightsRequest.id.not_in(live))
            .distinct()
            .limit(500)
        ).all()
    for request_id in stale:
        # One unit per request: each refusal, its event, audit and mail stand or fall alone.
        with c.uow() as uow:
            row = lifecycle.find(uow, request_id)
            lifecycle.refuse(uow, row, actor=SYSTEM_INTAKE, justification=UNCONFIRMED_REASON)
            uow.commit()
    return len(stale)
