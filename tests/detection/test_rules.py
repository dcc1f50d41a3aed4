"""The stream rules: each fires on a crafted audit stream and stays quiet on a normal one, its
threshold read from the settings; a re-run over the same window opens nothing new; the duty
reads only the entries after the last one it read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.bootstrap import build
from minimaker.breach import events as breach_events
from minimaker.detection.rules import (
    Rule,
    WorkingHours,
    parse_days,
    windows_of,
)
from minimaker.detection.service import scan_once
from minimaker.detection.tables import DetectionState
from minimaker.kernel.actors import SYSTEM_AUTH, Actor
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from minimaker.staff import events as staff_events
from minimaker.staff.training import grant
from tests.detection.world import (
    TUESDAY_10,
    alerts,
    failed_sign_ins,
    member,
    reads,
    requests,
    run,
    subject_id,
    write,
)
from tests.rights.test_erasure import full_scans, statements_on

#: Small thresholds, so a crafted stream stays short; every rule still at its own setting.
SMALL = {
    "detection_subjects_threshold": 5,
    "detection_denied_threshold": 3,
    "detection_failed_account_threshold": 4,
    "detection_failed_total_threshold": 8,
    "detection_erasure_threshold": 4,
    "detection_export_threshold": 4,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TUESDAY_10)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=SMALL)


def with_settings(settings: Settings, clock: ManualClock, **changes: object) -> Container:
    return build(settings.model_copy(update=changes), clock=clock)


def normal_day(c: Container, clock: ManualClock) -> None:
    """A working day: support reads a few people's data and the queue, the officer works an
    incident, one mistyped password, a few requests."""
    sam, dora = member(c, "sam", "support"), member(c, "dora", "dpo")
    write(c, staff_events.SESSION_CREATED, sam)
    write(c, staff_events.QUEUE_VIEWED, sam, object="requests:3")
    reads(c, sam, [subject_id() for _ in range(4)])
    write(c, breach_events.REGISTER_VIEWED, dora, object="breach:register")
    write(c, staff_events.SUBJECT_DATA_READ, dora, subject=subject_id())
    failed_sign_ins(c, sam.id, 1)
    clock.advance(minutes=20)
    requests(c, "access", 3)
    requests(c, "erasure", 3)
    write(c, staff_events.ACCESS_DENIED, sam, object="breach:register")


def test_a_normal_day_opens_no_alert(container: Container, clock: ManualClock) -> None:
    normal_day(container, clock)
    assert run(container) == 0
    assert alerts(container) == []


def test_one_account_reading_many_subjects_opens_an_alert_naming_the_account_only(
    container: Container,
) -> None:
    sam = member(container, "sam", "support")
    people = [subject_id() for _ in range(5)]
    reads(container, sam, people)
    reads(container, sam, people[:2])  # the same people again count once
    assert run(container) == 1
    [found] = alerts(container, Rule.MANY_SUBJECTS)
    assert found.body == {"count": 5, "threshold": 5, "window_s": 3600, "staff_id": sam.id}
    assert found.scope == sam.id and found.status == "open"
    assert not any(p in str(found) for p in people)  # no subject id in the alert
    with container.sessions() as session:
        entry = session.execute(
            select(AuditEntry.actor, AuditEntry.object, AuditEntry.subject).where(
                AuditEntry.action == "detection:alert:opened"
            )
        ).one()
    assert entry.actor == "system:detection" and entry.subject is None
    assert entry.object.startswith("alert:") and entry.object.endswith(":many_subjects")


def test_four_subjects_stay_below_the_threshold(container: Container) -> None:
    reads(container, member(container, "sam", "support"), [subject_id() for _ in range(4)])
    run(container)
    assert alerts(container) == []


def forget(c: Container) -> None:
    """Forget how far the duty read: its next run reads the whole stream again."""
    with c.uow() as uow:
        uow.session.execute(DetectionState.__table__.delete())
        uow.commit()


def test_the_threshold_is_the_setting(
    container: Container, settings: Settings, clock: ManualClock
) -> None:
    reads(container, member(container, "sam", "support"), [subject_id() for _ in range(5)])
    stricter = with_settings(settings, clock, detection_subjects_threshold=6)
    try:
        run(stricter)
        assert alerts(stricter) == []
    finally:
        stricter.close()
    forget(container)  # the same stream, read again under the fixture's threshold of 5
    run(container)
    assert len(alerts(container, Rule.MANY_SUBJECTS)) == 1


def test_an_action_the_role_does_not_allow_opens_an_alert(container: Container) -> None:
    eve = member(container, "eve", "engineer")
    write(container, staff_events.SUBJECT_DATA_READ, eve, subject=subject_id())
    write(container, breach_events.REGISTER_VIEWED, eve, object="breach:register")
    run(container)
    [found] = alerts(container, Rule.OUTSIDE_ROLE)
    assert found.body["count"] == 2 and found.body["staff_id"] == eve.id


def test_actions_the_role_allows_are_quiet(container: Container) -> None:
    dora = member(container, "dora", "dpo")
    write(container, breach_events.REGISTER_VIEWED, dora, object="breach:register")
    write(container, staff_events.SUBJECT_DATA_READ, dora, subject=subject_id())
    run(container)
    assert alerts(container, Rule.OUTSIDE_ROLE) == []


def test_the_role_is_the_one_the_staff_table_holds(container: Container) -> None:
    sam = member(container, "sam", "support")
    grant(container, by=None, staff_id=sam.id, role="engineer")
    write(container, staff_events.SUBJECT_DATA_READ, sam, subject=subject_id())
    run(container)
    assert [a.scope for a in alerts(container, Rule.OUTSIDE_ROLE)] == [sam.id]


def test_an_account_no_one_holds_may_do_nothing(container: Container) -> None:
    ghost = Actor.staff(subject_id())
    write(container, staff_events.QUEUE_VIEWED, ghost, object="requests:0")
    run(container)
    assert [a.scope for a in alerts(container, Rule.OUTSIDE_ROLE)] == [ghost.id]


def test_repeated_refusals_open_an_alert(container: Container) -> None:
    sam = member(container, "sam", "support")
    write(container, staff_events.ACCESS_DENIED, sam, object="breach:register", times=2)
    run(container)
    assert alerts(container, Rule.ACCESS_DENIED) == []
    write(container, staff_events.ACCESS_DENIED, sam, object="breach:register")
    run(container)
    assert [a.body["count"] for a in alerts(container, Rule.ACCESS_DENIED)] == [3]


def test_staff_work_at_night_or_at_the_weekend_opens_an_alert(
    container: Container, clock: ManualClock
) -> None:
    sam = member(container, "sam", "support")
    write(container, staff_events.QUEUE_VIEWED, sam, object="requests:0")  # Tuesday 10:00
    run(container)
    assert alerts(container, Rule.OUTSIDE_HOURS) == []
    clock.advance(hours=11)  # 21:00
    write(container, staff_events.QUEUE_VIEWED, sam, object="requests:0")
    clock.advance(days=4, hours=-9)  # Saturday 12:00
    write(container, staff_events.QUEUE_VIEWED, sam, object="requests:0")
    run(container)
    assert [a.body["count"] for a in alerts(container, Rule.OUTSIDE_HOURS)] == [1, 1]


def test_the_working_hours_are_read_in_the_zone_set(settings: Settings, clock: ManualClock) -> None:
    clock.advance(hours=-3, minutes=-30)  # 06:30 UTC is 07:30 in Berlin (CET, UTC+1)
    for zone, fired in (("Europe/Berlin", 0), ("UTC", 1)):
        c = with_settings(settings, clock, detection_timezone=zone)
        try:
            sam = member(c, f"sam{fired}", "support")
            write(c, staff_events.QUEUE_VIEWED, sam, object="requests:0")
            run(c)
            assert len([a for a in alerts(c, Rule.OUTSIDE_HOURS) if a.scope == sam.id]) == fired
        finally:
            c.close()


def test_failed_sign_ins_of_one_account_open_an_alert(container: Container) -> None:
    sam = member(container, "sam", "support")
    failed_sign_ins(container, sam.id, 3)
    run(container)
    assert alerts(container) == []
    write(container, staff_events.SECOND_FACTOR_FAILED, SYSTEM_AUTH, object=f"staff:{sam.id}")
    run(container)
    [found] = alerts(container, Rule.FAILED_SIGN_INS_ACCOUNT)
    assert found.body == {"count": 4, "threshold": 4, "window_s": 900, "staff_id": sam.id}


def test_failed_sign_ins_across_accounts_open_one_alert_for_everyone(
    container: Container,
) -> None:
    failed_sign_ins(container, None, 5)  # names of nobody
    for i in range(3):
        failed_sign_ins(container, member(container, f"mem{i}", "support").id, 1)
    run(container)
    assert [(a.scope, a.body["count"]) for a in alerts(container)] == [("*", 8)]


def test_a_burst_of_erasure_requests_opens_an_alert(container: Container) -> None:
    requests(container, "erasure", 4)
    requests(container, "access", 2)
    requests(container, "portability", 1)
    run(container)
    assert [(a.rule, a.body["count"]) for a in alerts(container)] == [("erasure_burst", 4)]


def test_a_burst_of_export_requests_opens_an_alert(container: Container) -> None:
    requests(container, "access", 2)
    requests(container, "portability", 2)
    requests(container, "rectification", 5)
    run(container)
    assert [(a.rule, a.body["count"]) for a in alerts(container)] == [("export_burst", 4)]


def test_requests_spread_over_more_than_a_window_stay_quiet(
    container: Container, clock: ManualClock
) -> None:
    for _ in range(4):
        requests(container, "erasure", 1)
        clock.advance(minutes=45)  # never 4 within an hour
    run(container)
    assert alerts(container) == []


def test_a_rerun_over_the_same_window_opens_nothing_new(
    container: Container, clock: ManualClock
) -> None:
    requests(container, "erasure", 4)
    assert run(container) == 1
    requests(container, "erasure", 2)  # the same burst goes on
    clock.advance(minutes=10)
    requests(container, "erasure", 1)
    assert run(container) == 0
    forget(container)  # it reads the whole stream again
    assert run(container) == 0
    assert len(alerts(container)) == 1
    clock.advance(hours=2)  # a new burst, in a window of its own
    requests(container, "erasure", 4)
    assert run(container) == 1
    assert len(alerts(container, Rule.ERASURE_BURST)) == 2


def test_the_duty_reads_on_from_the_last_entry_it_read_in_batches(
    settings: Settings, clock: ManualClock
) -> None:
    c = with_settings(settings, clock, detection_batch=100)
    try:
        requests(c, "access", 150)  # past two batches
        run(c)
        with c.sessions() as session:
            state = session.get(DetectionState, 1)
            assert state is not None and state.last_seq > 150
            unread = session.scalars(
                select(AuditEntry.actor).where(AuditEntry.seq > state.last_seq)
            )
            assert set(unread) <= {"system:detection", "system:cli"}  # the duty's own entries
        assert [a.rule for a in alerts(c)] == ["export_burst"]
    finally:
        c.close()


def test_a_scan_reads_the_audit_log_by_its_indexes_only(container: Container) -> None:
    sam = member(container, "sam", "support")
    reads(container, sam, [subject_id() for _ in range(3)])
    failed_sign_ins(container, sam.id, 2)
    requests(container, "erasure", 2)
    with statements_on(container) as seen:
        scan_once(container)
    on_log = [(sql, params) for sql, params in seen if "audit_log" in sql]
    assert len(on_log) >= 4  # the new entries, a staff window, a sign-in and a request window
    assert {sql: full_scans(container, sql, params) for sql, params in on_log} == {
        sql: [] for sql, _ in on_log
    }


def test_a_burst_across_a_window_boundary_is_counted_whole() -> None:
    boundary = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)  # a window of 3600 s starts here
    before, after = boundary - timedelta(minutes=10), boundary + timedelta(minutes=10)
    shared = set(windows_of(before, 3600)) & set(windows_of(after, 3600))
    assert shared  # the window starting half an hour earlier holds both halves of the burst
    assert all(w.end - w.start == timedelta(hours=1) for w in shared)


def test_working_hours_and_days() -> None:
    hours = WorkingHours(7, 20, parse_days("mon,tue,wed,thu,fri"), UTC)
    assert not hours.outside(TUESDAY_10)
    assert hours.outside(TUESDAY_10.replace(hour=6, minute=59))
    assert hours.outside(TUESDAY_10.replace(hour=20))
    assert hours.outside(TUESDAY_10 + timedelta(days=4))  # Saturday
    assert not WorkingHours(0, 24, parse_days("mon,tue,wed,thu,fri,sat,sun"), UTC).outside(
        TUESDAY_10.replace(hour=23, minute=59)
    )
    with pytest.raises(ValueError, match="working days"):
        parse_days("monday")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"detection_timezone": "Mars/Olympus"}, "detection_timezone"),
        ({"detection_work_days": "monday"}, "detection_work_days"),
        ({"detection_work_start_hour": 20, "detection_work_end_hour": 8}, "end_hour"),
        ({"detection_subjects_threshold": 1}, "detection_subjects_threshold"),
        ({"detection_failed_window_s": 10}, "detection_failed_window_s"),
    ],
)
def test_bad_detection_settings_are_refused_naming_the_setting(
    changes: dict[str, object], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(**changes)
