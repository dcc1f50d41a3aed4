"""Publish a day's usage aggregates to the analytics provider, within its privacy budget.

The rule for the budget: epsilon counts whenever noisy numbers may have left the machine. A
publication is reserved (its epsilon on the day's budget) before the POST and marked sent
after it; a failed POST keeps its reservation, since the provider may have read the numbers.
Nothing is computed or spent without MINIMAKER_ANALYTICS_URL, and nothing is recorded for a
share the sharing service refused, since then nothing left.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from minimaker.analytics import aggregates, events, rules
from minimaker.analytics.aggregates import Aggregates
from minimaker.analytics.rules import BudgetExhausted, DayRefused, PublicationUnderWay
from minimaker.analytics.tables import Publication
from minimaker.generation import usage
from minimaker.kernel.actors import SYSTEM_WORKER, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.retention.rules import Duration
from minimaker.sharing.analytics import AnalyticsDeliveryFailed, publish_aggregates

log = logging.getLogger("minimaker.analytics")

#: The category and rule whose duration bounds which days still have their raw events.
_CATEGORY = "usage_event"


def kept_days(c: Container) -> int:
    """How many days the policy keeps raw usage events (its `usage_events` rule)."""
    after = c.policy.categories[_CATEGORY].rules[usage.RULE].after
    now = c.clock.now()
    return (now - Duration.parse(after or "0d").before(now)).days


def check_day(c: Container, day: date) -> None:
    """DayRefused unless `day` is complete (UTC, by the container's clock) and still kept."""
    reason = rules.day_problem(day, today=_today(c), kept_days=kept_days(c))
    if reason is not None:
        raise DayRefused(reason)


def publish_day(c: Container, day: date, *, actor: Actor) -> Publication:
    """Compute, noise and send `day`'s aggregates; the publication as recorded.

    DayRefused, AnalyticsNotConfigured, BudgetExhausted (audited) or PublicationUnderWay
    before anything leaves; AnalyticsDeliveryFailed (audited, epsilon counted) after a POST.
    """
    check_day(c, day)
    if not c.settings.analytics_url:
        raise rules.AnalyticsNotConfigured()
    s = c.settings
    with c.uow(write=False) as uow:
        _ensure_budget(uow, day, actor=actor)
        found = aggregates.aggregate_day(
            uow, day, k=s.analytics_k, cap=s.analytics_cap, epsilon=s.analytics_epsilon
        )
    reserved = _reserve(c, found, actor=actor)
    if not found.rows:
        return _mark(c, reserved, found, sent=False, actor=actor)  # nothing noisy to send
    try:
        published = publish_aggregates(c, found.rows, actor=actor)
    except AnalyticsDeliveryFailed:
        _mark(c, reserved, found, sent=False, actor=actor, failed=True)
        raise
    except MiniMakerError:
        # Refused before the POST (policy, payload, URL): nothing left, nothing was spent. An
        # unexpected error keeps the reservation: whether the numbers left is not known.
        _release(c, reserved.id)
        raise
    if not published.sent:  # the URL went away meanwhile: nothing left
        _release(c, reserved.id)
        raise rules.AnalyticsNotConfigured()
    return _mark(c, reserved, found, sent=True, actor=actor)


def publish_due(c: Container) -> int:
    """Periodic duty: publish each complete day with events and no publication yet, oldest
    first, within the raw events' retention; nothing without MINIMAKER_ANALYTICS_URL."""
    if not c.settings.analytics_url:
        return 0  # nothing would leave: compute nothing, spend nothing
    today = _today(c)
    since = today - timedelta(days=kept_days(c) - 1)
    with c.uow(write=False) as uow:
        due = usage.days_with_events(uow, since, today)
        done = set(uow.session.scalars(select(Publication.day).where(Publication.day >= since)))
    published = 0
    for day in (d for d in due if d not in done):
        try:
            publish_day(c, day, actor=SYSTEM_WORKER)
        except PublicationUnderWay:
            continue  # another worker publishes it
        published += 1
    return published


def list_publications(c: Container, *, limit: int = 100) -> list[Publication]:
    """The latest publications, newest day first."""
    with c.uow(write=False) as uow:
        query = select(Publication).order_by(Publication.day.desc(), Publication.seq.desc())
        found = list(uow.session.scalars(query.limit(limit)))
        uow.session.expunge_all()  # kept as read: the read unit's rollback would expire them
        return found


def spent_on(c: Container, day: date) -> float:
    """The epsilon the day's publications have spent (failed POSTs included)."""
    with c.uow(write=False) as uow:
        return _spent(uow, day)


def _today(c: Container) -> date:
    return c.clock.now().astimezone(UTC).date()


def _spent(uow: UnitOfWork, day: date) -> float:
    total = uow.session.scalar(select(func.sum(Publication.epsilon)).where(Publication.day == day))
    return float(total or 0.0)


def _ensure_budget(uow: UnitOfWork, day: date, *, actor: Actor) -> None:
    """BudgetExhausted, with its refusal in the audit, if one more publication is too much."""
    s = uow.c.settings
    reason = rules.budget_problem(_spent(uow, day), s.analytics_epsilon, s.analytics_day_budget)
    if reason is not None:
        uow.audit_refusal(events.BUDGET_REFUSED, actor=actor, object=f"day:{day.isoformat()}")
        raise BudgetExhausted(day, reason)


def _reserve(c: Container, found: Aggregates, *, actor: Actor) -> Publication:
    """Put the publication on the day's budget (sent=False) before anything leaves."""
    try:
        with c.uow() as uow:
            _ensure_budget(uow, found.day, actor=actor)
            count = uow.session.scalar(
                select(func.count()).select_from(Publication).where(Publication.day == found.day)
            )
            row = Publication(
                day=found.day,
                seq=int(count or 0) + 1,
                epsilon=found.noise.epsilon,
                people_scale=found.noise.people_scale,
                events_scale=found.noise.events_scale,
                mechanism=found.noise.mechanism,
                k=found.k,
                cap=found.cap,
                rows=len(found.rows),
                suppressed=found.suppressed,
                published_at=c.clock.now(),
                sent=False,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.commit()
    except IntegrityError:
        # Another process took this slot of the day between our count and our insert.
        raise PublicationUnderWay(found.day) from None
    return row


def _mark(
    c: Container,
    reserved: Publication,
    found: Aggregates,
    *,
    sent: bool,
    actor: Actor,
    failed: bool = False,
) -> Publication:
    """Record how the reserved publication ended, audited with counts only."""
    with c.uow() as uow:
        row = uow.session.get_one(Publication, reserved.id)
        row.sent = sent
        what = (
            f"day:{found.day.isoformat()}:rows:{len(found.rows)}:suppressed:{found.suppressed}"
            f":epsilon:{found.noise.epsilon:g}"
        )
        uow.audit(events.DAY_FAILED if failed else events.DAY_PUBLISHED, actor=actor, object=what)
        uow.commit()
    if failed:
        log.warning("analytics: the POST of %s failed; its epsilon counts", found.day)
    return row


def _release(c: Container, publication_id: int) -> None:
    """Take back a reservation whose numbers never left."""
    with c.uow() as uow:
        uow.session.execute(delete(Publication).where(Publication.id == publication_id))
        uow.commit()
