"""Acknowledging a version twice at once (a double submit, two tabs) records it once, audits
it once and answers both with success: never a 500 from a primary-key collision.

Each acknowledgement runs in its own thread and its own unit of work, released together by a
barrier. On PostgreSQL they also meet just before their first write to the acknowledgements
table, so that each has read "not acknowledged yet" before either writes: the worst
interleaving, forced rather than hoped for. SQLite has one writer (BEGIN IMMEDIATE): the
second waits at its BEGIN and cannot get that far, so there only the start is shared.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.publication import events, notify, service
from minimaker.publication.service import AcknowledgementState
from minimaker.publication.tables import PolicyAcknowledgement
from tests.conftest import signup_and_login
from tests.publication.conftest import Reissue
from tests.sharing.archive import subject

SHIPPED_VERSION = "2025-01-27"
NEW = "2026-03-01"
_WRITES = ("INSERT INTO POLICY_ACKNOWLEDGEMENTS", "UPDATE POLICY_ACKNOWLEDGEMENTS")


def _at_once(c: Container, user_id: str, version: str) -> list[Any]:
    """Two acknowledgements at once, each in its thread; what each returned or raised."""
    start, meeting = threading.Barrier(2, timeout=20), threading.Barrier(2, timeout=20)
    racing, met = threading.local(), []
    meet = c.engine.dialect.name == "postgresql"

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        first_write = statement.lstrip().upper().startswith(_WRITES)
        if meet and getattr(racing, "on", False) and first_write and not racing.met:
            racing.met = True
            meeting.wait()  # both have read; neither has written
            met.append(True)

    results: list[Any] = [None, None]

    def run(i: int) -> None:
        racing.on, racing.met = True, False
        start.wait()
        try:
            results[i] = service.acknowledge(c, user_id=user_id, version=version)
        except Exception as exc:  # what the second caller got is under test
            results[i] = exc

    event.listen(c.engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    finally:
        event.remove(c.engine, "before_cursor_execute", hold)
    assert met == ([True, True] if meet else [])  # on PostgreSQL they really overlapped
    return results


def _rows(c: Container, user_id: str) -> list[tuple[str, bool]]:
    """The user's acknowledgement rows: (version, acknowledged)."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(PolicyAcknowledgement).where(PolicyAcknowledgement.subject_id == user_id)
        )
        return sorted((r.version, r.acknowledged_at is not None) for r in rows)


def _audited(c: Container, user_id: str) -> list[str | None]:
    """The objects of the user's acknowledgement audit entries."""
    with c.uow(write=False) as uow:
        query = select(AuditEntry.object).where(
            AuditEntry.action == str(events.ACKNOWLEDGED), AuditEntry.subject == user_id
        )
        return list(uow.session.scalars(query))


def _both_succeeded(results: list[Any], c: Container) -> None:
    assert all(isinstance(r, AcknowledgementState) for r in results), results
    assert {r.acknowledged_at for r in results} == {c.clock.now()}
    assert not any(r.required for r in results)


def test_two_acknowledgements_at_once_record_one_row_and_one_audit_entry(
    published: Container,
) -> None:
    ada = subject(published)
    results = _at_once(published, ada, SHIPPED_VERSION)
    _both_succeeded(results, published)
    assert _rows(published, ada) == [(SHIPPED_VERSION, True)]
    assert _audited(published, ada) == [f"version:{SHIPPED_VERSION}"]


def test_two_acknowledgements_at_once_of_a_version_asked_of_the_user_audit_it_once(
    published: Container, reissue: Reissue
) -> None:
    ada = subject(published)
    c2 = reissue(version=NEW, significant=True, changes="Clause 12.1 added.")
    assert service.publish_if_new(c2).new
    assert notify.notify_users(c2) == 1  # the walk asked Ada: her row exists, unacknowledged
    assert service.acknowledgement_owed(c2, user_id=ada)
    results = _at_once(c2, ada, NEW)
    _both_succeeded(results, c2)
    assert _rows(c2, ada) == [(NEW, True)]
    assert _audited(c2, ada) == [f"version:{NEW}"]
    assert not service.acknowledgement_owed(c2, user_id=ada)


@pytest.mark.parametrize("times", [2, 3])
def test_a_double_submit_through_the_api_succeeds_each_time_and_records_the_first(
    client: TestClient, published: Container, times: int
) -> None:
    headers = signup_and_login(client)
    answers = []
    for _ in range(times):
        r = client.post(
            "/api/v1/privacy/policy/acknowledgements",
            json={"version": SHIPPED_VERSION},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        answers.append(r.json())
        published.clock.advance(seconds=5)  # a later submit must not move the time
    assert all(a == answers[0] for a in answers)
    ada = client.get("/api/v1/me", headers=headers).json()["id"]
    with published.uow(write=False) as uow:
        count = uow.session.scalar(select(func.count()).select_from(PolicyAcknowledgement))
    assert count == 1
    assert _audited(published, ada) == [f"version:{SHIPPED_VERSION}"]
