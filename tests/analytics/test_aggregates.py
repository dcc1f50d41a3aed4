"""Published usage aggregates never hold a cell below k, and two publications of a day differ
only by the declared noise (policy 4.2, 7.3; issue 10's "Must show")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import opendp.prelude as dp
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import minimaker
from minimaker.analytics import aggregates, events, rules, service
from minimaker.analytics.rules import BudgetExhausted, Cell
from minimaker.entrypoints.worker import Worker
from minimaker.generation import usage
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from minimaker.sharing.analytics import AnalyticsDeliveryFailed
from tests.analytics.world import (
    EVENT,
    people,
    publications,
    tail_bound,
    with_url,
    yesterday,
)
from tests.conftest import photo_bytes, signup_and_login
from tests.provider import Provider
from tests.sharing.archive import audit

#: Three public event types for the tests that need several cells in one day.
THREE = ("model.generated", "model.downloaded", "upload.created")


def _opendp_epsilon(people_scale: float, events_scale: float, *, cap: int, types: int) -> float:
    """What OpenDP's own privacy maps give for the declared sensitivities at these scales."""
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    people_part = dp.m.make_laplace(*space, scale=people_scale).map(types)
    events_part = dp.m.make_laplace(*space, scale=events_scale).map(cap * types)
    return float(people_part) + float(events_part)


def test_no_published_cell_counts_fewer_than_k_distinct_people(container: Container) -> None:
    c, day = container, yesterday(container)
    # Many events per person: the events count alone would pass k; people decide.
    for n, event in zip((9, 10, 30), THREE, strict=True):
        people(c, n, each=25, on=day, event=event)
    with c.uow(write=False) as uow:
        found = aggregates.aggregate_day(uow, day, k=10, cap=10, epsilon=1.0, types=THREE)
    assert sorted(r["event"] for r in found.rows) == sorted(THREE[1:])
    assert found.suppressed == 1
    assert all(r["people"] >= 10 and r["events"] >= 10 for r in found.rows)


def test_published_values_are_never_below_k_even_where_the_noise_goes_below() -> None:
    cell = [Cell(EVENT, people=10, events=10)]
    # People noise at scale 2 falls below 0 about 40% of the time: 300 draws go below k
    # with probability 1 - 0.6**300, unless the floor holds.
    values = [
        v
        for _ in range(300)
        for row in aggregates.release(
            cell, day=rules.parse_day("2026-06-01"), k=10, cap=10, epsilon=1.0, types=(EVENT,)
        ).rows
        for v in (row["people"], row["events"])
    ]
    assert min(values) >= 10


def test_two_publications_of_a_day_have_the_same_cells_and_differ_within_the_declared_noise(
    container: Container, provider: Provider
) -> None:
    c, day = container, yesterday(container)
    people(c, 30, each=50, on=day)  # true: 30 people, 30 x min(50, cap 10) = 300 events
    with_url(c, provider.url)
    service.publish_day(c, day, actor=SYSTEM_CLI)
    service.publish_day(c, day, actor=SYSTEM_CLI)
    first, second = provider.got
    assert [(r["day"], r["event"]) for r in first] == [(r["day"], r["event"]) for r in second]
    assert [(r["day"], r["event"]) for r in first] == [(day.isoformat(), EVENT)]
    recorded = publications(c)
    assert [p.sent for p in recorded] == [True, True]
    # 8 noisy values (2 publications x 2 values, each counted for both checks): with t from
    # the discrete Laplace tail (world.tail_bound), one |Z| >= t anywhere has probability
    # < 1e-9. Flooring at k is 1-Lipschitz, so |a - b| <= |Za| + |Zb| < 2t, |a - true| < t.
    for key, true, scale in (
        ("people", 30, recorded[0].people_scale),
        ("events", 300, recorded[0].events_scale),
    ):
        t = tail_bound(scale, 8)
        a, b = first[0][key], second[0][key]
        assert abs(a - b) < 2 * t, (key, a, b, t)
        assert abs(a - true) < t and abs(b - true) < t, (key, a, b, true, t)
        assert first[0][f"{key}_noise_scale"] == scale


def test_the_recorded_epsilon_is_what_opendp_maps_for_the_declared_sensitivity(
    container: Container, provider: Provider
) -> None:
    c, day = container, yesterday(container)
    people(c, 20, each=3, on=day)
    with_url(c, provider.url, analytics_epsilon=0.5, analytics_cap=7)
    done = service.publish_day(c, day, actor=SYSTEM_CLI)
    types = len(rules.PUBLISHED_EVENTS)
    expected = _opendp_epsilon(done.people_scale, done.events_scale, cap=7, types=types)
    assert done.epsilon == pytest.approx(expected, rel=1e-12)
    assert done.epsilon <= 0.5 + 1e-9 and done.epsilon == pytest.approx(0.5, rel=1e-3)
    assert (done.k, done.cap, done.mechanism) == (10, 7, "opendp.discrete_laplace")


def test_the_sensitivity_counts_every_event_type_a_person_can_appear_in() -> None:
    # One person can be in all three cells with up to cap events each: L1 = 3 and 3 x cap.
    noise = aggregates.calibrate(1.0, cap=10, types=3)
    expected = _opendp_epsilon(noise.people_scale, noise.events_scale, cap=10, types=3)
    assert noise.epsilon == pytest.approx(expected, rel=1e-12)
    assert noise.epsilon == pytest.approx(1.0, rel=1e-3)
    assert noise.events_scale >= 10 * noise.people_scale * 0.99


def test_a_publication_beyond_the_days_budget_is_refused_audited_and_sends_nothing(
    container: Container, provider: Provider
) -> None:
    c, day = container, yesterday(container)
    people(c, 12, each=2, on=day)
    with_url(c, provider.url, analytics_epsilon=1.0, analytics_day_budget=3.0)
    for _ in range(3):
        service.publish_day(c, day, actor=SYSTEM_CLI)
    with pytest.raises(BudgetExhausted, match="budget is 3"):
        service.publish_day(c, day, actor=SYSTEM_CLI)
    assert len(provider.got) == 3 and len(publications(c)) == 3
    assert service.spent_on(c, day) == pytest.approx(3.0, rel=1e-3)
    assert audit(c, str(events.BUDGET_REFUSED)) == [(None, f"day:{day.isoformat()}", "analytics")]
    # Another day has its own budget.
    people(c, 12, each=2, on=yesterday(c, 2))
    assert service.publish_day(c, yesterday(c, 2), actor=SYSTEM_CLI).sent


def test_the_payload_names_no_subject_and_no_pseudonym_and_the_audit_only_counts(
    container: Container, provider: Provider
) -> None:
    c, day = container, yesterday(container)
    ids = people(c, 15, each=4, on=day)
    with_url(c, provider.url)
    service.publish_day(c, day, actor=SYSTEM_CLI)
    sent = json.dumps(provider.got)
    key = c.keys.day_key(day)
    for subject_id in ids:
        assert subject_id not in sent and usage.pseudonym(key, subject_id) not in sent
    assert not re.search(r"[0-9a-f]{32}", sent)
    [(subject, what, purpose)] = audit(c, str(events.DAY_PUBLISHED))
    assert subject is None and purpose == "analytics"
    assert re.fullmatch(rf"day:{day.isoformat()}:rows:1:suppressed:0:epsilon:[0-9.]+", str(what))


def test_a_failed_post_keeps_its_epsilon_on_the_budget_and_says_so(
    container: Container, provider: Provider
) -> None:
    c, day = container, yesterday(container)
    people(c, 12, each=1, on=day)
    with_url(c, provider.url)
    provider.status = 500
    with pytest.raises(AnalyticsDeliveryFailed):
        service.publish_day(c, day, actor=SYSTEM_CLI)
    [row] = publications(c)
    assert not row.sent and row.epsilon == pytest.approx(1.0, rel=1e-3)
    assert len(audit(c, str(events.DAY_FAILED))) == 1
    assert audit(c, str(events.DAY_PUBLISHED)) == []


def test_without_an_analytics_url_nothing_is_computed_sent_or_spent(container: Container) -> None:
    c, day = container, yesterday(container)
    people(c, 12, each=1, on=day)
    with pytest.raises(rules.AnalyticsNotConfigured):
        service.publish_day(c, day, actor=SYSTEM_CLI)
    assert Worker(c).run_duties()["publish_analytics"] == 0
    assert publications(c) == [] and service.spent_on(c, day) == 0


def test_the_duty_publishes_each_complete_day_once_oldest_first_and_not_again(
    container: Container, provider: Provider
) -> None:
    c = container
    people(c, 11, each=1, on=yesterday(c, 3))
    people(c, 12, each=1, on=yesterday(c))
    people(c, 13, each=1, on=c.clock.now().date())  # today is not over: not published
    people(c, 14, each=1, on=yesterday(c, 95))  # past the raw events' 90 days: not published
    with_url(c, provider.url)
    assert Worker(c).run_duties()["publish_analytics"] == 2
    assert [rows[0]["day"] for rows in provider.got] == [
        yesterday(c, 3).isoformat(),
        yesterday(c).isoformat(),
    ]
    assert Worker(c).run_duties()["publish_analytics"] == 0
    assert len(provider.got) == 2 and len(publications(c)) == 2


def test_an_objection_to_analytics_keeps_the_subjects_new_events_out_of_every_count(
    container: Container, client: TestClient, worker: Worker, provider: Provider, clock: ManualClock
) -> None:
    c = container
    people(c, 9, each=1, on=c.clock.now().date())
    headers = signup_and_login(client)
    r = client.put(
        "/api/v1/privacy/preferences",
        json={"objections": {"training": False, "marketing": False, "analytics": True}},
        headers=headers,
    )
    assert r.status_code == 200
    upload = client.post(
        "/api/v1/uploads", files={"file": ("p.png", photo_bytes())}, headers=headers
    )
    model = client.post(f"/api/v1/uploads/{upload.json()['id']}/models", headers=headers)
    worker.run_until_idle()
    assert client.get(f"/api/v1/models/{model.json()['id']}", headers=headers).json()["status"] == (
        "done"
    )
    today = c.clock.now().date()
    clock.advance(days=1)
    with_url(c, provider.url)
    done = service.publish_day(c, today, actor=SYSTEM_CLI)
    # Her generation recorded nothing: 9 people, below k, so nothing was published at all.
    assert (done.rows, done.suppressed, done.sent, done.epsilon) == (0, 1, False, 0.0)
    assert provider.got == []


def test_every_event_type_the_code_records_is_in_the_public_list() -> None:
    # The key set is public only if the list is complete: a new `usage.record(event=...)`
    # fails here until it is declared (and so its cell is counted in the sensitivity).
    root = Path(minimaker.__file__).parent
    found = {
        m
        for path in root.rglob("*.py")
        for m in re.findall(r"usage\.record\([^)]*event=\"([^\"]+)\"", path.read_text(), re.S)
    }
    assert found and found <= set(rules.PUBLISHED_EVENTS)


@pytest.mark.parametrize(
    ("field", "value"),
    [("analytics_k", 9), ("analytics_cap", 0), ("analytics_epsilon", 0), ("analytics_k", "x")],
)
def test_settings_that_would_break_the_promise_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})  # type: ignore[arg-type]
