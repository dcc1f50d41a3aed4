"""The retention engine: every rule of the policy swept by its mechanics, batch by batch.

Each batch is its own unit of work, audited inside it with counts only, so a crash loses at
most the batch in hand and a rerun finds what is left (what was removed is gone, what was not
is still past its cutoff): sweeps resume by being run again and are idempotent. Items of a
subject under a legal hold are skipped and counted as held. A dry run finds and counts the
same items and removes nothing.

Photos and models are copied for the corpus (policy 9.2) before their batch's unit, never
under its write lock: a read unit finds the batch and the copies are made; the write unit
finds it again and stages the copies of what it removes, no other (decision 0023).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_RETENTION
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.kernel.faults import crash_point
from minimaker.kernel.retention import Batch, Expiry, Found, Offer
from minimaker.policy import Policy
from minimaker.retention import events
from minimaker.retention.rules import ALL_RULES, Duration, Report, RuleReport
from minimaker.retention.tables import LegalHold

log = logging.getLogger("minimaker.retention")

#: Called after each batch (a progress bar; a test's interruption).
OnBatch = Callable[[RuleReport], None]


def mismatches(policy: Policy, expiries: Sequence[Expiry], settings: object) -> list[str]:
    """Every disagreement between the policy's timed rules and the code's mechanics."""
    timed = {
        (cat, name): rule.after
        for cat, category in policy.categories.items()
        for name, rule in category.rules.items()
        if rule.after is not None
    }
    declared = {e.key: e for e in expiries}
    problems = [
        f"rule {name} of {cat} has no mechanics in the code (a feature's expiry.py)"
        for cat, name in sorted(timed.keys() - declared.keys())
    ]
    problems += [
        f"the code sweeps rule {name} of {cat}, which the policy does not declare with after:"
        for cat, name in sorted(declared.keys() - timed.keys())
    ]
    now = datetime.now().astimezone()
    for key in sorted(timed.keys() & declared.keys()):
        floor = declared[key].floor
        duration = Duration.parse(str(timed[key]))
        if floor is not None and not duration.at_least(floor(settings), now=now):
            problems.append(
                f"rule {key[1]} of {key[0]} is shorter than the code needs ({floor(settings)})"
            )
    return problems


def wired(expiries: Sequence[Expiry], offer: Offer | None) -> tuple[Expiry, ...]:
    """The expiries with `offer` set on those that offer their items (photos, models)."""
    return tuple(replace(e, offer=offer) if e.offered_as else e for e in expiries)


def ordered(policy: Policy, expiries: Sequence[Expiry]) -> list[tuple[Expiry, Duration]]:
    """Each expiry with its duration from the policy, in the policy file's order."""
    by_key = {e.key: e for e in expiries}
    out = []
    for cat, category in policy.categories.items():
        for name, rule in category.rules.items():
            if rule.after is not None and (cat, name) in by_key:
                out.append((by_key[(cat, name)], Duration.parse(rule.after)))
    if len(out) != len(by_key):
        raise ConfigurationError("retention mechanics without a policy rule (see mismatches)")
    return out


def run(
    c: Container,
    expiries: Sequence[Expiry],
    *,
    dry_run: bool = False,
    rules: frozenset[str] | None = None,
    on_batch: OnBatch | None = None,
) -> Report:
    """Sweep every rule (or those named in `rules`) once; what was (or would be) removed."""
    report = Report(dry_run=dry_run)
    now = c.clock.now()
    for expiry, duration in ordered(c.policy, expiries):
        if rules is not None and expiry.rule not in rules:
            continue
        line = RuleReport(expiry.category, expiry.rule, expiry.what, duration.before(now))
        report.rules.append(line)
        _sweep(c, expiry, line, dry_run=dry_run, on_batch=on_batch)
    return report


def _sweep(
    c: Container, expiry: Expiry, line: RuleReport, *, dry_run: bool, on_batch: OnBatch | None
) -> None:
    after = None
    offer = None if dry_run else expiry.offer
    while True:
        # Policy 9.2: photos and models are copied for the corpus before the batch's write
        # unit, not under its lock (a batch's face detection would stall every writer).
        ahead = None if offer is None else _look_ahead(c, expiry, offer, line.cutoff, after)
        try:
            batch = _batch(c, expiry, line, after, dry_run=dry_run, ahead=ahead)
        finally:
            if ahead is not None and offer is not None:
                for copy in ahead.copies.values():  # of items this batch did not remove
                    offer.discard(c, copy)
        crash_point("retention.batch_committed")
        if on_batch is not None:
            on_batch(line)
        # After a look-ahead the next batch starts where it ended: an item only the write unit
        # found (moved up as another went meanwhile) has no copy yet, so it waits for that.
        resume = batch.resume_after if ahead is None else ahead.resume_after
        if resume is None:
            return
        after = resume


def _unwanted(uow: Any, offer: Offer, subjects: set[str], kind: str) -> set[str]:
    """Those of `subjects` of whom no copy is wanted (objected, restricted), asked once each."""
    if offer.wanted is None:
        return set()
    return {s for s in subjects if not offer.wanted(uow, s, kind)}


@dataclass
class _Ahead:
    """The batch's due items as found before its write unit, by key, with their copies."""

    copies: dict[Any, Any]
    resume_after: Any


def _look_ahead(c: Container, expiry: Expiry, offer: Offer, cutoff: datetime, after: Any) -> _Ahead:
    """The batch's due photos or models, copied outside any write unit (a read unit at most)."""
    with c.uow(write=False) as uow:
        batch = expiry.find(uow, cutoff, c.settings.retention_batch, after)
        subjects = {f.subject for f in batch.found if f.subject}
        held = holds(uow, sorted(subjects), expiry.rule)
        unwanted = _unwanted(uow, offer, subjects - held, str(expiry.offered_as))
    copies: dict[Any, Any] = {}
    for f in batch.found:
        if f.subject in held:
            continue
        named = f.subject not in unwanted and f.subject is not None and f.blob_id is not None
        copies[f.key] = (
            offer.prepare(c, subject_id=f.subject, kind=expiry.offered_as, blob_id=f.blob_id)
            if named
            else None
        )
    return _Ahead(copies, batch.resume_after)


def _batch(
    c: Container,
    expiry: Expiry,
    line: RuleReport,
    after: Any,
    *,
    dry_run: bool,
    ahead: _Ahead | None,
) -> Batch:
    """One batch in its unit of work: found again (what is still there is what it removes)."""
    with c.uow(write=not dry_run) as uow:
        batch = expiry.find(uow, line.cutoff, c.settings.retention_batch, after)
        held = holds(uow, [f.subject for f in batch.found if f.subject], expiry.rule)
        due = [f for f in batch.found if f.subject not in held]
        kept = len(batch.found) - len(due)
        line.held += kept
        line.batches += 1
        if ahead is not None:  # only what was copied ahead; the rest in the next batch
            due = [f for f in due if f.key in ahead.copies]
        if dry_run:
            line.removed += len(due)
        elif batch.found:
            line.offered += _stage(uow, expiry, due, ahead)
            removed = expiry.remove(uow, [f.key for f in due])
            line.removed += removed
            uow.audit(
                events.BATCH_SWEPT,
                actor=SYSTEM_RETENTION,
                object=f"{expiry.rule}:removed={removed}:held={kept}",
            )
            uow.commit()
    return batch


def _stage(uow: object, expiry: Expiry, due: Sequence[Found], ahead: _Ahead | None) -> int:
    """Policy 9.2: the copies of the items this unit removes, and only those, are staged (one
    the user deleted meanwhile was offered by that delete)."""
    if ahead is None or expiry.offer is None:
        return 0
    return sum(1 for f in due if expiry.offer.stage(uow, ahead.copies.pop(f.key)))


def holds(uow: object, subjects: Sequence[str], rule: str) -> set[str]:
    """Those of `subjects` under a legal hold of `rule` (or of every rule)."""
    if not subjects:
        return set()
    session = uow.session  # type: ignore[attr-defined]
    return set(
        session.scalars(
            select(LegalHold.subject_id).where(
                LegalHold.subject_id.in_(set(subjects)), LegalHold.rule.in_([rule, ALL_RULES])
            )
        )
    )


class ScheduledRetention:
    """The periodic duty: every rule swept at most every `retention_interval_s` (first at once)."""

    def __init__(self, expiries: Sequence[Expiry]) -> None:
        self.expiries = tuple(expiries)
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self, c: Container) -> int:
        # The container's clock, not the process's: rules are about calendar time, and a
        # test that moves the clock a year on sees every sweep that year would have run.
        now = c.clock.now()
        with self._lock:
            if self._last is not None and (now - self._last).total_seconds() < (
                c.settings.retention_interval_s
            ):
                return 0
            self._last = now
        return run(c, self.expiries).removed


def counts(report: Report) -> Mapping[str, int]:
    """Rule -> removed (or would be), for logs and tests."""
    return {r.rule: r.removed for r in report.rules}
