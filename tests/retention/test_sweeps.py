"""Time travel: each rule removes exactly what is past its cutoff; interrupted sweeps,
dry runs, legal holds and the corpus seam."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from minimaker import bootstrap
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.corpus import service as corpus
from minimaker.generation import usage as usage_events
from minimaker.generation.tables import UsageEvent
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.retention import Offer
from minimaker.mail import folder
from minimaker.retention import holds
from minimaker.retention import service as retention
from minimaker.rights.objection import set_objections
from minimaker.settings import Settings
from tests.retention.world import Pair, build_world, keys_left, signup


class Interrupted(Exception):
    pass


@pytest.fixture
def small_batches(settings: Settings, clock: ManualClock) -> Iterator[Container]:
    """A container whose sweeps take two items per unit of work."""
    c = bootstrap.build(settings.model_copy(update={"retention_batch": 2}), clock=clock)
    try:
        yield c
    finally:
        c.close()


def _blobs(c: Container) -> set[str]:
    return set(c.blobs.store.iter_ids())


def _assert_only_outside_went(c: Container, pairs: dict[str, Pair]) -> None:
    stored = _blobs(c)
    for rule, pair in pairs.items():
        assert keys_left(c, pair) == {pair.inside}, rule
        for blobs in (pair.blobs, pair.previews):
            if blobs:
                assert blobs[0] not in stored and blobs[1] in stored, rule
    files = folder.folder_mailer(c)
    assert not files.path_of(pairs["mail_files"].outside).exists()
    assert files.path_of(pairs["mail_files"].inside).exists()


def test_each_rule_removes_exactly_what_is_past_its_cutoff(container: Container) -> None:
    c = container
    pairs = build_world(c, signup(c, "ada"))
    report = retention.run(c, bootstrap.expiries())
    removed = retention.counts(report)
    assert {rule: removed[rule] for rule in pairs} == dict.fromkeys(pairs, 1)
    assert removed["warn_inactive"] == removed["erase_inactive"] == 0
    _assert_only_outside_went(c, pairs)
    # Audited with counts only: no subject on the sweep's entries.
    with c.sessions() as s:
        swept = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention:rule:swept"))
        entries = list(swept)
    assert {e.object.split(":")[0] for e in entries} >= set(pairs)
    assert all(e.subject is None for e in entries)
    # Run again: nothing more is due, nothing else goes.
    assert retention.run(c, bootstrap.expiries()).removed == 0


def test_a_dry_run_removes_nothing_and_counts_what_a_run_removes(container: Container) -> None:
    c = container
    pairs = build_world(c, signup(c, "ada"))
    blobs = _blobs(c)
    dry = retention.run(c, bootstrap.expiries(), dry_run=True)
    for pair in pairs.values():
        assert keys_left(c, pair) == {pair.outside, pair.inside}
    assert _blobs(c) == blobs
    assert retention.counts(dry) == retention.counts(retention.run(c, bootstrap.expiries()))


def _events(c: Container, subject_id: str, n: int, *, days_ago: int) -> None:
    now = c.clock.now()
    from datetime import timedelta

    with c.uow() as uow:
        for _ in range(n):
            at = now - timedelta(days=days_ago)
            usage_events.record(uow, subject_id=subject_id, event="page.viewed", at=at)
        uow.commit()


def _event_count(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(UsageEvent)) or 0)


def test_a_sweep_interrupted_between_batches_and_rerun_ends_as_one_clean_run(
    small_batches: Container,
) -> None:
    c = small_batches
    ada = signup(c, "ada")
    _events(c, ada, 7, days_ago=91)
    _events(c, ada, 2, days_ago=89)
    batches = 0

    def crash_after_two(line: Any) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Interrupted

    usage = [e for e in bootstrap.expiries() if e.rule == "usage_events"]
    with pytest.raises(Interrupted):
        retention.run(c, usage, on_batch=crash_after_two)
    assert _event_count(c) == 9 - 4  # two batches of two committed, then the crash
    report = retention.run(c, usage)
    assert report.rules[0].removed == 3 and _event_count(c) == 2
    assert retention.run(c, usage).removed == 0  # idempotent: the same state as one clean run


def test_a_held_subject_keeps_their_data_and_the_report_says_so(container: Container) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    for subject in (ada, bob):
        _events(c, subject, 2, days_ago=91)
    hold = holds.set_hold(
        c,
        subject_id=ada,
        rule="usage_events",
        reason="litigation",
        reference="CASE-17",
        actor=SYSTEM_CLI,
    )
    usage = [e for e in bootstrap.expiries() if e.rule == "usage_events"]
    report = retention.run(c, usage)
    assert (report.rules[0].removed, report.rules[0].held) == (2, 2)
    with c.uow(write=False) as uow:
        left = (len(usage_events.events_of(uow, ada)), len(usage_events.events_of(uow, bob)))
    assert left == (2, 0) and _event_count(c) == 2
    holds.release_hold(c, hold_id=hold.id, actor=SYSTEM_CLI)
    assert retention.run(c, usage).rules[0].removed == 2
    with c.sessions() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"retention:hold:set", "retention:hold:released"} <= actions


def test_a_hold_on_every_rule_keeps_everything_of_that_subject(container: Container) -> None:
    c = container
    ada = signup(c, "ada")
    pairs = build_world(c, ada)
    holds.set_hold(
        c, subject_id=ada, rule="*", reason="regulator", reference="DPA/2026/4", actor=SYSTEM_CLI
    )
    report = retention.run(c, bootstrap.expiries())
    held = {r.rule: r.held for r in report.rules}
    # Everything of ada's is held; failed-login counters (no one's) and staff sessions go.
    not_hers = ("login_failures", "staff_sessions")
    for rule, pair in pairs.items():
        expected = {pair.inside} if rule in not_hers else {pair.outside, pair.inside}
        assert keys_left(c, pair) == expected, rule
        assert held[rule] == (0 if rule in not_hers else 1), rule


def test_photos_and_models_are_offered_before_they_go(
    settings: Settings, clock: ManualClock
) -> None:
    offered: list[tuple[str, str, str]] = []

    def prepare(c: Container, *, subject_id: str, kind: str, blob_id: str) -> tuple[str, ...]:
        assert c.blobs.store.exists(blob_id)  # still there: offered before removal
        return (subject_id, kind, blob_id)

    def stage(uow: Any, copy: tuple[str, str, str]) -> bool:
        offered.append(copy)
        return True

    def discard(c: Container, copy: object) -> None:
        raise AssertionError("every item found was removed: no copy is thrown away")

    c = bootstrap.build(settings, clock=clock)
    try:
        ada = signup(c, "ada")
        pairs = build_world(c, ada)
        report = retention.run(c, bootstrap.expiries(Offer(prepare, stage, discard)))
    finally:
        c.close()
    photo, model = pairs["photos"].blobs, pairs["models"].blobs
    assert photo and model
    assert sorted(offered) == sorted([(ada, "photo", photo[0]), (ada, "model", model[0])])
    assert {r.rule: r.offered for r in report.rules if r.offered} == {"photos": 1, "models": 1}


def test_a_batch_asks_once_per_subject_whether_a_copy_is_wanted(container: Container) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    for subject in (ada, bob):
        build_world(c, subject)
    set_objections(c, user_id=ada, objections={"training"})
    asked: list[tuple[str, str]] = []
    prepared: list[str] = []

    def wanted(uow: Any, subject_id: str, kind: str) -> bool:
        asked.append((subject_id, kind))
        return corpus.wanted(uow, subject_id, kind)

    def prepare(c: Container, *, subject_id: str, kind: str, blob_id: str) -> None:
        prepared.append(subject_id)

    offer = Offer(prepare, lambda uow, copy: False, lambda c, copy: None, wanted=wanted)
    report = retention.run(c, bootstrap.expiries(offer), rules=frozenset({"photos", "models"}))
    assert {r.rule: r.removed for r in report.rules} == {"photos": 2, "models": 2}
    # One question per subject and kind in the batch; no copy begun of the one who objected.
    assert sorted(asked) == sorted((s, k) for s in (ada, bob) for k in ("photo", "model"))
    assert prepared == [bob, bob]
