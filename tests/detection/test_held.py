"""The rules over what is held: an audit chain that fails verification or is cut behind its
last checkpoint opens an incident (source detection_rule, by the system); a blob no row names
and a data key of no subject open alerts; each finding once; a sound installation is quiet."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.crypto.keys import generate_key
from minimaker.breach.tables import Incident, IncidentStep
from minimaker.detection.rules import Rule
from minimaker.detection.service import check_held
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.adapters.audit_helpers import cut_tail, tamper
from tests.detection.world import alerts, requests, run


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"detection_held_interval_s": 600.0, "sweep_grace_s": 60})


def incidents(c: Container) -> list[tuple[str, str | None, str]]:
    with c.sessions() as session:
        rows = session.scalars(select(Incident).order_by(Incident.opened_at))
        return [(r.source, r.opened_by, r.status) for r in rows]


def opened_by(c: Container) -> list[str]:
    """Who wrote each `breach:incident:opened` entry."""
    with c.sessions() as session:
        query = select(AuditEntry.actor).where(AuditEntry.action == "breach:incident:opened")
        return list(session.scalars(query))


def later(c: Container, clock: ManualClock) -> None:
    """Past the held checks' interval (and the sweep's grace, for strays)."""
    clock.advance(seconds=max(c.settings.detection_held_interval_s, c.settings.sweep_grace_s) + 60)


def test_a_sound_installation_is_quiet(container: Container, clock: ManualClock) -> None:
    requests(container, "access", 2)
    run(container)
    later(container, clock)
    run(container)
    assert alerts(container) == [] and incidents(container) == []


def test_an_edited_audit_entry_opens_an_incident_by_the_system(
    container: Container, clock: ManualClock
) -> None:
    requests(container, "access", 3)
    run(container)  # a verify that holds signs a checkpoint of these entries
    tamper(container.engine, "UPDATE audit_log SET actor = 'staff:9999' WHERE seq = 2")
    later(container, clock)
    run(container)
    [found] = alerts(container)
    assert (found.rule, found.status) == ("audit_chain", "escalated")
    assert found.body["findings"] >= 1 and found.body["broken"] >= 1
    assert incidents(container) == [("detection_rule", None, "open")]
    assert found.incident_id is not None
    assert opened_by(container) == ["system:detection"]
    with container.sessions() as session:
        steps = session.scalars(select(IncidentStep.kind)).all()
    assert steps == ["opened"]


def test_a_chain_cut_behind_its_last_checkpoint_opens_an_incident(
    container: Container, clock: ManualClock
) -> None:
    requests(container, "access", 3)
    run(container)
    requests(container, "access", 2)
    later(container, clock)
    run(container)  # a second checkpoint, further along
    cut_tail(container.engine, 3)  # the tail cut and the head moved back to match
    run(container)  # the log is shorter than what the duty read: verified at once
    [found] = alerts(container, Rule.AUDIT_CHAIN)
    assert found.body.get("truncated", 0) >= 1
    assert [i[0] for i in incidents(container)] == ["detection_rule"]


def test_a_finding_opens_one_incident_however_often_it_is_found(
    container: Container, clock: ManualClock
) -> None:
    requests(container, "access", 3)
    run(container)
    tamper(container.engine, "UPDATE audit_log SET object = 'x' WHERE seq = 1")
    for _ in range(3):
        later(container, clock)
        run(container)
    assert len(alerts(container, Rule.AUDIT_CHAIN)) == 1
    assert len(incidents(container)) == 1


def test_a_blob_no_row_names_opens_an_alert(container: Container, clock: ManualClock) -> None:
    run(container)
    container.blobs.put_bytes(generate_key(), b"nobody's ciphertext")
    later(container, clock)
    run(container)
    [found] = alerts(container)
    assert (found.rule, found.body["count"], found.status) == ("orphan_blobs", 1, "open")
    later(container, clock)
    run(container)  # the same finding: no second alert
    assert len(alerts(container)) == 1
    assert len(list(container.blobs.store.iter_ids())) == 1  # counted, never deleted


def test_a_data_key_of_no_subject_opens_an_alert(container: Container, clock: ManualClock) -> None:
    container.keys.create_subject_key("b" * 32, now=clock.now())
    later(container, clock)
    run(container)
    assert [(a.rule, a.body["count"]) for a in alerts(container)] == [("orphan_keys", 1)]
    assert "b" * 32 not in str(alerts(container))


def test_the_held_checks_run_at_most_every_interval(
    container: Container, clock: ManualClock
) -> None:
    container.blobs.put_bytes(generate_key(), b"nobody's ciphertext")
    clock.advance(seconds=120)  # past the sweep's grace of 60 s
    assert check_held(container) == 1  # the first check is due at once
    container.blobs.put_bytes(generate_key(), b"more of nobody's")
    clock.advance(seconds=120)
    assert check_held(container) == 0  # 120 s after the last: not due
    clock.advance(seconds=600)
    assert check_held(container) == 1  # two blobs now: a new finding
    assert [a.body["count"] for a in alerts(container)] == [1, 2]
