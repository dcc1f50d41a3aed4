"""Pseudonymous usage events (policy 4.2, 7.3): who did it is HMAC(day key, subject id).

Each UTC day has a random key of its own in the key store (adapters/keystore.py `DayKey`).
An event keeps its event type, its day (as the day's midnight, no finer time) and the
pseudonym; no subject id, no IP address. While the day key lives, the subject's own events
are found by recomputing their pseudonym under each live key (access archive, erasure). The
retention rule `usage_events` deletes a day's raw events 90 days on and then destroys that
day's key, so whatever survives (an interrupted sweep, a restored backup) links to no one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, false, func, or_, select

from minimaker.generation.tables import UsageEvent
from minimaker.kernel.retention import Found
from minimaker.retention import holds as legal_holds
from minimaker.retention.declare import rowcount
from minimaker.retention.rules import ALL_RULES

RULE = "usage_events"


def pseudonym(day_key: bytes, subject_id: str) -> str:
    """The subject's pseudonym for the day of `day_key` (hex HMAC-SHA256)."""
    return hmac.new(day_key, subject_id.encode(), hashlib.sha256).hexdigest()


def day_start(moment: datetime) -> datetime:
    """The UTC midnight that begins `moment`'s day: all the time an event keeps."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


def event_row(keys: Any, *, subject_id: str, event: str, at: datetime) -> UsageEvent:
    """A new usage event of the subject at `at`, stored under that day's pseudonym."""
    start = day_start(at)
    key = keys.day_key(start.date())
    return UsageEvent(pseudonym=pseudonym(key, subject_id), event=event, at=start)


def record(uow: Any, *, subject_id: str, event: str, at: datetime) -> None:
    """Add a usage event to the unit of work (the caller has checked the analytics purpose)."""
    uow.session.add(event_row(uow.keys, subject_id=subject_id, event=event, at=at))


def _own(keys: Any, subject_id: str) -> Any:
    """The condition selecting the subject's events of every day whose key still lives."""
    days = keys.day_keys()
    if not days:
        return false()
    return or_(
        *(
            and_(_on(day), UsageEvent.pseudonym == pseudonym(key, subject_id))
            for day, key in days.items()
        )
    )


def _on(day: date) -> Any:
    """The condition selecting the events of `day`."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return and_(UsageEvent.at >= start, UsageEvent.at < start + timedelta(days=1))


def day_counts(uow: Any, day: date, *, cap: int) -> list[tuple[str, int, int]]:
    """(event, distinct pseudonyms, events with each pseudonym's clamped to `cap`) of `day`.

    A day's pseudonyms are one per person (one day key), so distinct pseudonyms are people;
    the clamp bounds what one person adds to a cell (analytics/aggregates.py's sensitivity).
    """
    per = (
        select(UsageEvent.event, UsageEvent.pseudonym, func.count().label("n"))
        .where(_on(day))
        .group_by(UsageEvent.event, UsageEvent.pseudonym)
        .subquery()
    )
    clamped = case((per.c.n > cap, cap), else_=per.c.n)
    query = select(per.c.event, func.count(), func.sum(clamped)).group_by(per.c.event)
    return [(e, int(p), int(n)) for e, p, n in uow.session.execute(query.order_by(per.c.event))]


def days_with_events(uow: Any, since: date, until: date) -> list[date]:
    """The days in [since, until) that have events, oldest first (each event's `at` is its
    day's midnight, so distinct times are distinct days)."""
    start, end = (datetime.combine(d, time(), tzinfo=UTC) for d in (since, until))
    query = select(UsageEvent.at).where(UsageEvent.at >= start, UsageEvent.at < end).distinct()
    return sorted({at.astimezone(UTC).date() for at in uow.session.scalars(query)})


def events_of(uow: Any, subject_id: str) -> list[tuple[str, datetime]]:
    """(event, day) of the subject's events still linked to them, oldest first."""
    query = select(UsageEvent.event, UsageEvent.at).where(_own(uow.keys, subject_id))
    return [(e, at) for e, at in uow.session.execute(query.order_by(UsageEvent.at, UsageEvent.id))]


def count_of(uow: Any, subject_id: str) -> int:
    """How many of the subject's events are still linked to them (for their privacy centre)."""
    query = select(func.count()).select_from(UsageEvent).where(_own(uow.keys, subject_id))
    return int(uow.session.scalar(query) or 0)


def counts_of(uow: Any, subject_ids: Collection[str]) -> dict[str, int]:
    """`count_of` for many subjects at once (breach scoping): one grouped query per day that
    has events and a live key, the subjects' pseudonyms of that day matched in memory."""
    wanted = sorted(set(subject_ids))
    days = uow.keys.day_keys()
    found: Counter[str] = Counter()
    on_days = select(UsageEvent.at).distinct()
    for at in uow.session.scalars(on_days):
        key = days.get(at.astimezone(UTC).date())
        if key is None or not wanted:
            continue
        theirs = {pseudonym(key, s): s for s in wanted}
        query = (
            select(UsageEvent.pseudonym, func.count())
            .where(UsageEvent.at == at)
            .group_by(UsageEvent.pseudonym)
        )
        for name, n in uow.session.execute(query):
            if name in theirs:
                found[theirs[name]] += int(n)
    return dict(found)


def forget(uow: Any, subject_id: str) -> int:
    """Art. 17: delete the subject's events still linked to them, then destroy the key of each
    past day they leave empty (no one's event needs it; today's key stays for today's events)."""
    days = [day for day, _ in _days_of(uow, subject_id)]
    removed = rowcount(uow.session.execute(delete(UsageEvent).where(_own(uow.keys, subject_id))))
    today = day_start(uow.c.clock.now()).date()
    uow.keys.destroy_day_keys(d for d in days if d < today and _empty(uow, d))
    return removed


def _days_of(uow: Any, subject_id: str) -> list[tuple[date, int]]:
    """The days on which the subject has events still linked to them, with how many."""
    query = (
        select(UsageEvent.at, func.count())
        .where(_own(uow.keys, subject_id))
        .group_by(UsageEvent.at)
    )
    return [(at.astimezone(UTC).date(), int(n)) for at, n in uow.session.execute(query)]


def _empty(uow: Any, day: date) -> bool:
    return uow.session.scalar(select(UsageEvent.id).where(_on(day)).limit(1)) is None


def holders(uow: Any, found: list[Found]) -> list[Found]:
    """Name the subject of found events whose subject is under a legal hold of the rule (the
    engine then skips them); every other event names no one."""
    held = {h.subject_id for h in legal_holds.list_holds(uow.c) if h.rule in (RULE, ALL_RULES)}
    if not held:
        return [Found(key=f.key, subject=None, anchor=f.anchor) for f in found]
    keys = uow.keys.day_keys()
    named = []
    for f in found:
        key = keys.get(f.anchor.astimezone(UTC).date()) if f.anchor is not None else None
        who = None
        if key is not None:
            who = next((s for s in held if pseudonym(key, s) == f.subject), None)
        named.append(Found(key=f.key, subject=who, anchor=f.anchor))
    return named


def remove(uow: Any, ids: Sequence[Any]) -> int:
    """Delete expired events, then destroy the key of each day they leave empty."""
    if not ids:
        return 0
    query = select(UsageEvent.at).where(UsageEvent.id.in_(ids))
    days = {at.astimezone(UTC).date() for at in uow.session.scalars(query)}
    removed = rowcount(uow.session.execute(delete(UsageEvent).where(UsageEvent.id.in_(ids))))
    # A held event keeps its day's key (it stays personal data until the hold ends). The key
    # goes before this unit commits: a crash in between leaves events linked to no one.
    uow.keys.destroy_day_keys([d for d in days if _empty(uow, d)])
    return removed
