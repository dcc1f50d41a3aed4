"""A simulated breach end to end (issue 11, must show): a staff account is declared
compromised; scoping finds exactly the subjects it read; the Art. 33(3) report has every
field; every affected subject, and no one else, receives the notice through a real SMTP server
on loopback; the deadline is 72 hours after awareness to the minute."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from minimaker.breach.report import FIELDS
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.settings import Settings
from tests.breach.seeding import staff_breach
from tests.breach.world import DESCRIPTION
from tests.mailserver import Mailbox, delivering_to
from tests.staff.signing_in import staff_headers

BASE = "/api/v1/admin/incidents"
NOTICE = {
    "nature": "A support account's password was stolen and used to read some profiles.",
    "consequences": "Someone may know your name, email address and the photos you uploaded.",
    "measures": "We locked the account, signed out every session and reset its second factor.",
    "advice": "Be wary of emails that claim to come from us and ask for your password.",
}
REPORT = {
    "likely_consequences": "Phishing aimed at the people whose profiles were read.",
    "measures": "Account locked, sessions revoked, second factor reset, staff retrained.",
}
CIRCUMSTANCES = {
    "circumstances": {
        "identification": "maximum",
        "confidentiality": "unknown_recipients",
        "malicious": True,
    }
}


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings)


def _post(client: TestClient, path: str, body: dict[str, Any], headers: Any) -> Any:
    r = client.post(f"{BASE}{path}", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_a_compromised_staff_account_from_declaration_to_every_notice_delivered(
    client: TestClient, container: Container, clock: ManualClock, mailbox: Mailbox
) -> None:
    c = container
    w = staff_breach(c, clock)
    dpo = staff_headers(client, c)
    aware = clock.now() - timedelta(minutes=30, seconds=17)
    opened = {"aware_at": aware.isoformat(), "description": DESCRIPTION, "source": "staff_report"}
    iid = _post(client, "", opened, dpo)["id"]
    exposures = [{"kind": "staff_account", "start": w.since.isoformat(), "ref": w.sam}]
    scoped = _post(client, f"/{iid}/scope", {"exposures": exposures}, dpo)
    assert scoped["subjects"] == 2  # ada and bob: what sam read, not tia's cyd nor dee
    proposal = _post(client, f"/{iid}/assessment", CIRCUMSTANCES, dpo)
    assert proposal["notify_subjects"] is True and proposal["notify_authority"] is True
    _post(client, f"/{iid}/decision", {"outcome": "confirm"}, dpo)
    _post(client, f"/{iid}/report", REPORT, dpo)

    report = client.get(f"{BASE}/{iid}/report", headers=dpo).json()
    assert report["missing"] == [] and report["complete"] is True
    assert set(FIELDS) <= set(report)
    assert report["nature"] == DESCRIPTION
    assert report["dpo_contact"] == c.policy.controller.dpo
    assert (report["subjects"], report["records"]) == (2, scoped["records"])
    assert report["categories"] == scoped["categories"]
    assert report["likely_consequences"] == REPORT["likely_consequences"]
    assert report["measures"] == REPORT["measures"]
    assert report["delay_reason_required"] is False and report["delay_reason"] is None
    assert report["exposures"][0]["ref"] == w.sam
    assert datetime.fromisoformat(report["deadline_at"]) == aware + timedelta(hours=72)

    delivery = _post(client, f"/{iid}/notices", {"exposures": exposures, **NOTICE}, dpo)
    assert delivery == {"queued": 2, "sent": 0, "pending": 2, "failed": 0, "unreachable": 0}
    assert outbox.deliver_pending(c) == 2
    got = {m.rcpt_tos[0]: m for m in mailbox.received}
    assert set(got) == {"ada@example.org", "bob@example.org"}
    for message in got.values():
        assert message.message["Subject"] == "A security incident affects your personal data"
        assert all(part in message.body for part in NOTICE.values())
        assert str(c.policy.controller.dpo) in message.body
    after = client.get(f"{BASE}/{iid}/notices", headers=dpo).json()
    assert after == {"queued": 2, "sent": 2, "pending": 0, "failed": 0, "unreachable": 0}

    # Again: each subject is told once per incident.
    again = _post(client, f"/{iid}/notices", {"exposures": exposures, **NOTICE}, dpo)
    assert again["queued"] == 2 and outbox.deliver_pending(c) == 0
    assert len(mailbox.received) == 2

    shown = client.get(f"{BASE}/{iid}", headers=dpo).json()
    assert shown["deadline_at"] == report["deadline_at"]
    assert shown["minutes_left"] == 72 * 60 - 31  # 71 h 29 min 43 s left: to the minute
    kinds = [s["kind"] for s in shown["history"]]
    assert kinds == [
        "opened",
        "scoped",
        "assessed",
        "decided",
        "reported",
        "subjects_notified",
        "subjects_notified",
    ]
    assert shown["history"][-1]["body"] == {
        "subjects": 2,
        "queued": 0,
        "already": 2,
        "unreachable": 0,
    }
