"""The incident register as its use cases run it: the 72-hour clock, steps audited with ids
only, sealed texts, and the rules of deciding and closing (Art. 33, 34; policy 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.breach import service as register
from minimaker.breach.assessment import Numbers
from minimaker.breach.exposure import CategoryCount, Exposure, ExposureKind, Scope
from minimaker.breach.tables import Incident, IncidentStep
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, NotFound, ValidationFailed
from minimaker.staff.rules import StaffForbidden
from tests.breach.world import (
    DESCRIPTION,
    PHASE_TEXT,
    REASON,
    audit_of,
    minute,
    officer,
    opened,
    photos_stolen,
)
from tests.scan import needles_for, scan_database, scan_files


def counts(c: Container) -> tuple[int, int]:
    with c.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Incident)) or 0,
            session.scalar(select(func.count()).select_from(IncidentStep)) or 0,
        )


def test_the_deadline_is_72_hours_after_awareness_to_the_minute(
    container: Container, clock: ManualClock
) -> None:
    who = officer(container)
    aware = minute(clock.now()) - timedelta(hours=5, minutes=30)
    clock.advance(seconds=-clock.now().second, microseconds=-clock.now().microsecond)
    made = register.open_incident(
        container, who, aware_at=aware, description=DESCRIPTION, source="user_report"
    )
    # Three days later, the same minute: aware 09:41 on the 2nd, due 09:41 on the 5th.
    assert made.deadline_at == aware + timedelta(hours=72)
    assert made.deadline_at.strftime("%H:%M") == aware.strftime("%H:%M")
    assert (made.deadline_at.date() - aware.date()).days == 3
    assert made.minutes_left == 66 * 60 + 30
    assert made.clock == "66 h 30 min left" and not made.overdue
    listed = register.list_incidents(container, who)
    shown = register.get_incident(container, who, made.id)
    for view in (listed[0], shown):
        assert view.deadline_at == aware + timedelta(hours=72)
        assert view.clock == "66 h 30 min left"


def test_past_the_deadline_an_incident_is_overdue_until_the_authority_is_told(
    container: Container, clock: ManualClock
) -> None:
    who = officer(container)
    made = opened(container, who, hours_ago=71)
    clock.advance(hours=1, minutes=5)
    late = register.get_incident(container, who, made.id)
    assert late.overdue and late.clock == "overdue by 0 h 05 min" and late.minutes_left == -5
    with pytest.raises(ValidationFailed, match="delay_reason"):
        register.add_phase(container, who, made.id, told_at=clock.now(), content=PHASE_TEXT)
    told = register.add_phase(
        container,
        who,
        made.id,
        told_at=clock.now(),
        content=PHASE_TEXT,
        delay_reason="the laptop's owner reported it only this morning",
    )
    assert not told.overdue and told.authority_told_at == clock.now()
    assert told.clock == "authority told after the 72 hours"


@pytest.mark.parametrize("ahead", [timedelta(minutes=1), timedelta(days=3)])
def test_an_awareness_time_in_the_future_is_refused_and_nothing_written(
    container: Container, ahead: timedelta
) -> None:
    who = officer(container)
    with pytest.raises(ValidationFailed, match="aware_at: must not be in the future"):
        register.open_incident(
            container,
            who,
            aware_at=container.clock.now() + ahead,
            description=DESCRIPTION,
            source="staff_report",
        )
    assert counts(container) == (0, 0)


@pytest.mark.parametrize(
    ("source", "processor", "field"),
    [
        ("processor_report", None, "processor"),  # Art. 33(2) names the processor
        ("staff_report", "no-such-processor", "processor"),
        ("rumour", None, "source"),
    ],
)
def test_a_bad_source_or_processor_is_refused(
    container: Container, source: str, processor: str | None, field: str
) -> None:
    who = officer(container)
    with pytest.raises(ValidationFailed) as caught:
        register.open_incident(
            container,
            who,
            aware_at=container.clock.now(),
            description=DESCRIPTION,
            source=source,
            processor=processor,
        )
    assert caught.value.field == field
    assert counts(container) == (0, 0)


def test_a_processors_report_names_one_of_the_policys_processors(container: Container) -> None:
    who = officer(container)
    made = register.open_incident(
        container,
        who,
        aware_at=container.clock.now(),
        description=DESCRIPTION,
        source="processor_report",
        processor="smtp-relay",
    )
    assert (made.source, made.processor) == ("processor_report", "smtp-relay")


def _walk(container: Container) -> str:
    """An incident through every step the register has today; its id."""
    who = officer(container)
    made = opened(container, who)
    register.add_phase(container, who, made.id, told_at=container.clock.now(), content=PHASE_TEXT)
    register.assess(container, made.id, *photos_stolen(), who)
    register.decide(
        container,
        who,
        made.id,
        outcome="override",
        notify_authority=True,
        notify_subjects=False,
        reason=REASON,
    )
    register.assess(container, made.id, *photos_stolen(encrypted=True), who)
    register.decide(container, who, made.id, outcome="confirm")
    register.close(container, who, made.id, note="Grace Hopper has her laptop back")
    return made.id


def test_each_step_is_audited_with_ids_only(container: Container) -> None:
    incident_id = _walk(container)
    trail = audit_of(container, incident_id)
    actions = [a for _, a, _ in trail if a != "breach:incident:viewed"]
    assert actions == [
        "breach:incident:opened",
        "breach:incident:phase",
        "breach:incident:assessed",
        "breach:incident:decided",
        "breach:incident:assessed",
        "breach:incident:decided",
        "breach:incident:closed",
    ]
    assert {actor for actor, _, _ in trail} == {f"staff:{officer_id(container)}"}
    assert {subject for _, _, subject in trail} == {None}


def officer_id(c: Container) -> str:
    with c.sessions() as session:
        return session.scalar(select(IncidentStep.staff_id).limit(1)) or ""


def test_what_staff_typed_is_nowhere_in_clear_but_reads_back_for_the_officer(
    container: Container,
) -> None:
    incident_id = _walk(container)
    container.engine.dispose()  # SQLite: the WAL folded into the file the scan reads
    needles = needles_for("Grace Hopper", "grace@example.org", "Rotterdam")
    assert scan_database(container.engine, needles, set()) == {}
    assert scan_files(container.settings.data_dir, needles, set()) == {}
    with container.sessions() as session:
        audit = [" ".join(map(str, row)) for row in session.execute(select(AuditEntry))]
    assert not any("Grace" in line or "example.org" in line for line in audit)
    shown = register.get_incident(container, officer(container, "otto"), incident_id)
    assert shown.description == DESCRIPTION
    assert shown.history[1].texts == {"content": PHASE_TEXT}
    assert shown.history[3].texts == {"reason": REASON}


def test_an_assessment_records_numbers_and_the_proposal_never_subject_ids(
    container: Container,
) -> None:
    who = officer(container)
    made = opened(container, who)
    numbers, circumstances = photos_stolen(encrypted=True)
    ids = frozenset({"a" * 32, "b" * 32})
    scope = Scope(
        exposures=(Exposure(ExposureKind.LOCATION, ref="backup:2026-03-01.tar"),),
        subject_ids=ids,
        categories=numbers.categories,
        encrypted_under_uncompromised_keys=True,
        encryption_note="sealed under master key 1, rotated before the theft",
        computed_at=container.clock.now(),
    )
    proposal = register.assess(container, made.id, scope, circumstances, who)
    assert (proposal.notify_subjects, proposal.exception) == (False, "Art. 34(3)(a)")
    step = register.get_incident(container, who, made.id).history[-1]
    assert step.kind == "assessed"
    assert (step.body["subjects"], step.body["records"]) == (2, 160)
    assert step.body["proposal"] == {
        "notify_authority": True,
        "notify_subjects": False,
        "exception": "Art. 34(3)(a)",
    }
    assert "a" * 32 not in str(step.body) and "b" * 32 not in str(step.body)


def test_an_assessment_names_only_policy_categories_each_once(container: Container) -> None:
    who = officer(container)
    made = opened(container, who)
    _, circumstances = photos_stolen()
    for bad in (
        (CategoryCount("diaries", 1, 1),),
        (CategoryCount("account", 1, 1), CategoryCount("account", 2, 2)),
    ):
        numbers = Numbers(bad, 1, False)
        with pytest.raises(ValidationFailed, match="categories"):
            register.assess(container, made.id, numbers, circumstances, who)
    assert register.get_incident(container, who, made.id).steps == 1


def test_an_override_needs_a_reason_and_a_change(container: Container) -> None:
    who = officer(container)
    made = opened(container, who)
    register.assess(container, made.id, *photos_stolen(), who)  # proposes telling both
    for kwargs, field in (
        ({"notify_authority": True, "notify_subjects": False}, "reason"),
        ({"notify_authority": True, "notify_subjects": False, "reason": "too short"}, "reason"),
        ({"notify_authority": True}, "notify_subjects"),
        ({"notify_authority": True, "notify_subjects": True, "reason": REASON}, "outcome"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            register.decide(container, who, made.id, outcome="override", **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
    with pytest.raises(ValidationFailed, match="override it instead"):
        register.decide(container, who, made.id, outcome="confirm", notify_subjects=False)
    assert register.get_incident(container, who, made.id).status == "assessed"
    done = register.decide(
        container,
        who,
        made.id,
        outcome="override",
        notify_authority=True,
        notify_subjects=False,
        reason=REASON,
    )
    assert (done.status, done.notify_authority, done.notify_subjects) == ("decided", True, False)


def test_a_decision_needs_an_assessment_and_closing_needs_a_decision(
    container: Container,
) -> None:
    who = officer(container)
    made = opened(container, who)
    with pytest.raises(Conflict, match="assess the incident"):
        register.decide(container, who, made.id, outcome="confirm")
    with pytest.raises(Conflict, match="record a decision"):
        register.close(container, who, made.id)
    register.assess(container, made.id, *photos_stolen(), who)
    with pytest.raises(Conflict, match="record a decision"):
        register.close(container, who, made.id)
    assert counts(container) == (1, 2)
    register.decide(container, who, made.id, outcome="confirm")
    closed = register.close(container, who, made.id)
    assert closed.status == "closed" and closed.closed_at == container.clock.now()


def test_a_closed_incident_takes_no_more_steps(container: Container) -> None:
    who = officer(container)
    made = opened(container, who)
    register.assess(container, made.id, *photos_stolen(), who)
    register.decide(container, who, made.id, outcome="confirm")
    register.close(container, who, made.id)
    with pytest.raises(Conflict, match="closed"):
        register.add_phase(
            container, who, made.id, told_at=container.clock.now(), content=PHASE_TEXT
        )
    with pytest.raises(Conflict, match="closed"):
        register.assess(container, made.id, *photos_stolen(), who)
    assert counts(container) == (1, 4)


def test_deciding_the_authority_need_not_be_told_stops_the_alarm(
    container: Container, clock: ManualClock
) -> None:
    who = officer(container)
    made = opened(container, who, hours_ago=80)
    assert register.get_incident(container, who, made.id).overdue
    numbers, circumstances = photos_stolen()
    register.assess(container, made.id, numbers, circumstances, who)
    done = register.decide(
        container,
        who,
        made.id,
        outcome="override",
        notify_authority=False,
        notify_subjects=False,
        reason="the photos were public portfolio images, no risk",
    )
    assert not done.overdue
    assert done.clock == "decided: the authority need not be told; the deadline has passed"


@pytest.mark.parametrize("bad", ["0" * 32, "not-an-id", "../etc"])
def test_an_unknown_incident_is_not_found(container: Container, bad: str) -> None:
    who = officer(container)
    with pytest.raises(NotFound):
        register.get_incident(container, who, bad)
    with pytest.raises(NotFound):
        register.add_phase(container, who, bad, told_at=container.clock.now(), content="x")


@pytest.mark.parametrize("role", ["admin", "support", "engineer"])
def test_only_the_officer_uses_the_register_and_refusals_are_audited(
    container: Container, role: str
) -> None:
    who = officer(container, "other", role)
    with pytest.raises(StaffForbidden):
        opened(container, who)
    with pytest.raises(StaffForbidden):
        register.list_incidents(container, who)
    with container.sessions() as session:
        denied = session.scalars(
            select(AuditEntry.object).where(AuditEntry.action == "staff:access:denied")
        ).all()
    assert denied == ["breach:register", "breach:register"]
    assert counts(container) == (0, 0)
