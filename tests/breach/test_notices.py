"""The notices to the people affected (Art. 34; policy 8.1): only on a decision to tell them,
only for the scope the officer saw, once per subject, retried by the outbox and sent again
when the outbox gave up; refused cleanly on bad input, with nothing queued."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.breach import notices
from minimaker.breach import service as register
from minimaker.breach.assessment import Circumstances, Identification
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.kernel.actors import StaffIdentity
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, ValidationFailed
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.settings import Settings
from tests.breach.seeding import StaffBreach, staff_breach
from tests.breach.test_scoped_incident import STOLEN_BY_UNKNOWN
from tests.breach.world import DESCRIPTION, officer
from tests.mailserver import Mailbox, delivering_to
from tests.staff.signing_in import identity, staff_headers

TEXT = notices.NoticeText(
    nature="A support account's password was stolen and used to read profiles.",
    consequences="Someone may know your name, email address and your photos.",
    measures="We locked the account and signed out every one of its sessions.",
    advice="Be wary of emails that claim to come from us and ask for a password.",
)


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return delivering_to(mailbox, settings)


def _decided(
    c: Container, w: StaffBreach, who: StaffIdentity, *, circumstances: Circumstances
) -> str:
    """An incident of sam's account, scoped, assessed and its proposal confirmed."""
    made = register.open_incident(
        c, who, aware_at=c.clock.now(), description=DESCRIPTION, source="staff_report"
    )
    exposure = Exposure(ExposureKind.STAFF_ACCOUNT, start=w.since, ref=w.sam)
    register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    register.assess(c, made.id, None, circumstances, who)
    register.decide(c, who, made.id, outcome="confirm")
    return made.id


def _exposures(w: StaffBreach) -> list[Exposure]:
    return [Exposure(ExposureKind.STAFF_ACCOUNT, start=w.since, ref=w.sam)]


def _queued(c: Container) -> int:
    with c.sessions() as s:
        kinds = OutboxMessage.kind.like(notices.KIND_PREFIX + "%")
        return int(s.scalar(select(func.count()).where(kinds)) or 0)


def test_a_message_the_outbox_gave_up_on_is_sent_again_and_a_refusal_is_retried(
    container: Container, clock: ManualClock, mailbox: Mailbox
) -> None:
    c = container
    w = staff_breach(c, clock)
    who = officer(c)
    iid = _decided(c, w, who, circumstances=STOLEN_BY_UNKNOWN)
    mailbox.refuse_rcpt = "550 5.1.1 no such mailbox"  # permanent: the outbox fails it
    notices.notify_subjects(c, who, iid, exposures=_exposures(w), text=TEXT)
    assert outbox.deliver_pending(c) == 0
    failed = notices.notice_delivery(c, who, iid)
    assert (failed.failed, failed.sent, failed.queued) == (2, 0, 2)
    mailbox.refuse_rcpt = "451 4.3.0 try again later"  # temporary: retried with backoff
    again = notices.notify_subjects(c, who, iid, exposures=_exposures(w), text=TEXT)
    assert (again.pending, again.failed) == (2, 2)
    assert outbox.deliver_pending(c) == 0 and mailbox.received == []
    mailbox.refuse_rcpt = None
    assert outbox.deliver_pending(c) == 0  # still in its backoff
    clock.advance(minutes=2)
    assert outbox.deliver_pending(c) == 2
    assert {m.rcpt_tos[0] for m in mailbox.received} == {"ada@example.org", "bob@example.org"}
    done = notices.notice_delivery(c, who, iid)
    assert (done.sent, done.pending, done.failed) == (2, 0, 2)


def test_an_erased_subject_is_counted_unreachable_and_sent_nothing(
    container: Container, clock: ManualClock, mailbox: Mailbox
) -> None:
    c = container
    w = staff_breach(c, clock)
    who = officer(c)
    iid = _decided(c, w, who, circumstances=STOLEN_BY_UNKNOWN)
    c.keys.destroy_subject_key(w.bob, now=c.clock.now())  # erased after the scoping
    found = notices.notify_subjects(c, who, iid, exposures=_exposures(w), text=TEXT)
    assert (found.queued, found.unreachable) == (1, 1)
    assert outbox.deliver_pending(c) == 1
    assert [m.rcpt_tos for m in mailbox.received] == [["ada@example.org"]]


def test_no_notice_without_a_decision_to_tell_or_for_another_scope(
    container: Container, clock: ManualClock
) -> None:
    c = container
    w = staff_breach(c, clock)
    low = Circumstances(Identification.NEGLIGIBLE)  # low severity: no one need be told
    who = officer(c)
    iid = _decided(c, w, who, circumstances=low)
    with pytest.raises(Conflict, match="not to tell"):
        notices.notify_subjects(c, who, iid, exposures=_exposures(w), text=TEXT)
    iid = _decided(c, w, who, circumstances=STOLEN_BY_UNKNOWN)
    wider = [Exposure(ExposureKind.LOCATION, ref="database")]  # all four, not the two scoped
    with pytest.raises(Conflict, match="find 4 people, the latest scoping 2"):
        notices.notify_subjects(c, who, iid, exposures=wider, text=TEXT)
    short = notices.NoticeText(**{**TEXT.__dict__, "advice": "too short"})
    with pytest.raises(ValidationFailed) as refused:
        notices.notify_subjects(c, who, iid, exposures=_exposures(w), text=short)
    assert refused.value.field == "advice"
    assert _queued(c) == 0
    steps = register.get_incident(c, who, iid).history
    assert "subjects_notified" not in [s.kind for s in steps]


BASE = "/api/v1/admin/incidents"
GOOD = {
    "nature": TEXT.nature,
    "consequences": TEXT.consequences,
    "measures": TEXT.measures,
    "advice": TEXT.advice,
}


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"exposures": []}, 422, "exposures"),
        ({"nature": "short"}, 422, "nature"),
        ({"advice": 7}, 422, "advice"),
        ({"measures": "m" * 4001}, 422, "measures"),
        ({"to": "everyone"}, 422, "to"),
        ({"exposures": [{"kind": "location", "ref": "attic"}]}, 422, "ref"),
    ],
)
def test_a_bad_notices_body_is_refused_and_nothing_is_queued(
    client: TestClient,
    container: Container,
    clock: ManualClock,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    c = container
    w = staff_breach(c, clock)
    dpo = staff_headers(client, c, "dora")
    iid = _decided(c, w, identity(c, "dora"), circumstances=STOLEN_BY_UNKNOWN)
    exposures = [{"kind": "staff_account", "start": w.since.isoformat(), "ref": w.sam}]
    body = {"exposures": exposures, **GOOD, **change}
    r = client.post(f"{BASE}/{iid}/notices", json=body, headers=dpo)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"].endswith(field)
    assert _queued(c) == 0


@pytest.mark.parametrize("role", ["admin", "support", "engineer"])
def test_another_role_or_an_unknown_incident_is_refused_notices(
    client: TestClient, container: Container, clock: ManualClock, role: str
) -> None:
    c = container
    w = staff_breach(c, clock)
    dpo = staff_headers(client, c, "dora")
    iid = _decided(c, w, identity(c, "dora"), circumstances=STOLEN_BY_UNKNOWN)
    exposures = [{"kind": "staff_account", "start": w.since.isoformat(), "ref": w.sam}]
    body = {"exposures": exposures, **GOOD}
    other = staff_headers(client, c, "una", role)
    r = client.post(f"{BASE}/{iid}/notices", json=body, headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "staff_forbidden"
    assert client.get(f"{BASE}/{iid}/notices", headers=other).status_code == 403
    r = client.post(f"{BASE}/{'0' * 32}/notices", json=body, headers=dpo)
    assert r.status_code == 404
    assert client.get(f"{BASE}/not-an-id/notices", headers=dpo).status_code == 404
    assert _queued(c) == 0
