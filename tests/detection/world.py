"""What the detection tests share: a fixed working-day clock, audit entries written through the
app's own unit of work (real tags, real chain), and the alerts the duty opened."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from minimaker.detection import service as detection
from minimaker.detection.tables import DetectionAlert
from minimaker.kernel.actors import SYSTEM_AUTH, Actor
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.rights import events as rights_events
from minimaker.staff import events as staff_events
from tests.staff.signing_in import new_staff

#: Tuesday 1 December 2026, 10:00 UTC: within the default working hours.
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def subject_id() -> str:
    return uuid.uuid4().hex


def write(
    c: Container,
    tag: AuditTag,
    actor: Actor,
    *,
    subject: str | None = None,
    object: str | None = None,
    times: int = 1,
) -> None:
    """`times` entries of `tag`, each in a unit of its own, as a use case writes one."""
    for _ in range(times):
        with c.uow() as uow:
            uow.audit(tag, actor=actor, subject=subject, object=object)
            uow.commit()


def member(c: Container, username: str, role: str) -> Actor:
    """A staff account of `role` (created by the operator); its actor."""
    return Actor.staff(new_staff(c, username, role).id)


def reads(c: Container, actor: Actor, subjects: Iterable[str]) -> None:
    """The member reads each subject's data (the audit entry staff/subject_access writes)."""
    for subject in subjects:
        write(c, staff_events.SUBJECT_DATA_READ, actor, subject=subject, object="reason:x")


def failed_sign_ins(c: Container, staff_id: str | None, times: int) -> None:
    """Failed staff sign-ins as staff/service.py audits them (by id; None: a name of nobody)."""
    obj = f"staff:{staff_id}" if staff_id else None
    write(c, staff_events.LOGIN_FAILED, SYSTEM_AUTH, object=obj, times=times)


def requests(c: Container, kind: str, times: int) -> None:
    """Rights requests of `kind` received, each of another subject (rights/lifecycle.audit)."""
    for _ in range(times):
        subject = subject_id()
        write(
            c,
            rights_events.REQUEST_RECEIVED,
            Actor.subject(subject),
            subject=subject,
            object=f"request:{uuid.uuid4().hex}:{kind}",
        )


@dataclass(frozen=True)
class Seen:
    rule: str
    scope: str
    status: str
    body: dict[str, Any]
    incident_id: str | None


def run(c: Container) -> int:
    return detection.run_detection(c)


def alerts(c: Container, *rules: str) -> list[Seen]:
    """The alerts kept, oldest window first; only those of `rules` when named."""
    with c.sessions() as session:
        rows = session.scalars(select(DetectionAlert).order_by(DetectionAlert.window_start))
        found = [Seen(r.rule, r.scope, r.status, dict(r.body), r.incident_id) for r in rows]
    return [a for a in found if not rules or a.rule in rules]
