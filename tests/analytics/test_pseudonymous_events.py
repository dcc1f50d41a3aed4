"""Usage events are pseudonymous while their day key lives and anonymous after (policy 4.2,
7.3): no subject id or address on the row, found again only by their own subject."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from minimaker import bootstrap
from minimaker.entrypoints.worker import Worker
from minimaker.generation import usage
from minimaker.generation.tables import UsageEvent
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.retention import service as retention
from minimaker.rights import intake
from minimaker.rights.holdings import Held, held_about
from tests.retention.world import signup


def _events(c: Container, subject_id: str, n: int, *, days_ago: int = 0) -> None:
    with c.uow() as uow:
        at = c.clock.now() - timedelta(days=days_ago)
        for _ in range(n):
            usage.record(uow, subject_id=subject_id, event="model.generated", at=at)
        uow.commit()


def _archived(c: Container, subject_id: str) -> list[dict[str, str]]:
    """The usage section of the subject's access archive, as the archive builds it."""
    section = c.personal_data.get("usage_events").section  # type: ignore[union-attr]
    assert section is not None and section.exporter is not None
    with c.uow(write=False) as uow:
        return list(section.exporter(uow, subject_id).data)


def _count(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(UsageEvent)) or 0)


def test_a_stored_event_holds_no_subject_id_no_address_and_no_time_of_day(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada = signup(c, "ada")
    clock.advance(hours=13, minutes=7)
    _events(c, ada, 1)
    with c.sessions() as s:
        rows = [tuple(r) for r in s.execute(text("SELECT * FROM usage_events"))]
    assert len(rows) == 1
    raw = " ".join(str(v) for v in rows[0])
    assert ada not in raw and ada.upper() not in raw
    assert "192.0.2.1" not in raw  # the address ada signed in from
    with c.sessions() as s:
        stored = s.scalars(select(UsageEvent)).one()
    assert (stored.at.hour, stored.at.minute, stored.at.second) == (0, 0, 0)
    assert stored.at.date() == c.clock.now().date()


def test_the_access_archive_lists_the_subjects_own_events_and_no_one_elses(
    container: Container,
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    _events(c, ada, 2, days_ago=3)
    _events(c, ada, 1)
    _events(c, bob, 4)
    mine = _archived(c, ada)
    assert len(mine) == 3 and {e["event"] for e in mine} == {"model.generated"}
    assert [e["day"] for e in mine] == sorted(e["day"] for e in mine)
    assert len(_archived(c, bob)) == 4


def test_erasure_removes_the_subjects_events_and_leaves_everyone_elses(
    container: Container, worker: Worker
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    _events(c, ada, 2, days_ago=1)
    _events(c, bob, 3, days_ago=1)
    request = intake.submit(c, user_id=ada, type="erasure")
    worker.run_until_idle()
    assert intake.get_any(c, request_id=request.id).status == "completed"
    assert _count(c) == 3
    assert len(_archived(c, bob)) == 3


def test_once_the_day_key_is_destroyed_no_event_of_that_day_links_to_anyone(
    container: Container,
) -> None:
    c = container
    ada = signup(c, "ada")
    _events(c, ada, 2, days_ago=2)
    _events(c, ada, 1)
    old_day = (c.clock.now() - timedelta(days=2)).date()
    assert c.keys.destroy_day_keys([old_day]) == 1
    # The rows are still there (a restored backup, say) but nothing finds ada in them.
    assert _count(c) == 3 and len(_archived(c, ada)) == 1
    with c.uow() as uow:
        assert usage.forget(uow, ada) == 1
        uow.commit()
    assert _count(c) == 2
    assert old_day not in c.keys.day_keys()


def test_the_retention_rule_deletes_a_days_events_and_then_its_key(container: Container) -> None:
    c = container
    ada = signup(c, "ada")
    _events(c, ada, 3, days_ago=91)
    _events(c, ada, 1, days_ago=89)
    spent = (c.clock.now() - timedelta(days=91)).date()
    live = (c.clock.now() - timedelta(days=89)).date()
    assert {spent, live} <= set(c.keys.day_keys())
    rule = [e for e in bootstrap.expiries() if e.rule == "usage_events"]
    assert retention.run(c, rule).rules[0].removed == 3
    assert spent not in c.keys.day_keys() and live in c.keys.day_keys()
    assert _count(c) == 1 and len(_archived(c, ada)) == 1


def test_erasing_a_days_last_events_destroys_its_key_but_keeps_todays_and_shared_days(
    container: Container, worker: Worker
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    _events(c, ada, 2, days_ago=5)  # ada's alone: its key goes with her events
    _events(c, ada, 1, days_ago=3)
    _events(c, bob, 1, days_ago=3)  # shared with bob: its key is bob's too
    _events(c, ada, 1)  # today: the key of today's events to come stays
    alone, shared, today = ((c.clock.now() - timedelta(days=d)).date() for d in (5, 3, 0))
    request = intake.submit(c, user_id=ada, type="erasure")
    worker.run_until_idle()
    assert intake.get_any(c, request_id=request.id).status == "completed"
    keys = set(c.keys.day_keys())
    assert alone not in keys and {shared, today} <= keys
    assert _count(c) == 1 and len(_archived(c, bob)) == 1


def test_the_privacy_centre_counts_the_subjects_own_events_while_their_keys_live(
    container: Container,
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    _events(c, ada, 2, days_ago=4)
    _events(c, ada, 1)
    _events(c, bob, 5)
    assert Held(3, "usage events") in held_about(c, user_id=ada)
    assert Held(5, "usage events") in held_about(c, user_id=bob)
    c.keys.destroy_day_keys([(c.clock.now() - timedelta(days=4)).date()])
    assert Held(1, "usage event") in held_about(c, user_id=ada)  # the rest link to no one
