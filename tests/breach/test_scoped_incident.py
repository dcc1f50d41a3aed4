"""Scoping feeds the register (issue 11, items 2 -> 3): a compromised staff account and a stolen
backup scoped into their incidents, assessed from the scoped numbers; no subject id kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.breach import service as register
from minimaker.breach.assessment import Circumstances, Confidentiality, Identification
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.tables import Incident, IncidentStep
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict
from tests.breach.seeding import (
    staff_breach,
    staff_member,
    staff_reads,
    stolen_backup,
    subject,
    upload,
)
from tests.breach.world import DESCRIPTION, officer
from tests.scan import find_in_bytes, needles_for
from tests.staff.signing_in import client_container, staff_headers

STOLEN_BY_UNKNOWN = Circumstances(
    Identification.MAXIMUM, confidentiality=Confidentiality.UNKNOWN_RECIPIENTS, malicious=True
)


def _last_audit_seq(c: Container) -> int:
    with c.sessions() as session:
        return session.scalar(select(func.max(AuditEntry.seq))) or 0


def ids_in_register(c: Container, ids: list[str], *, audit_after: int) -> list[str]:
    """Where any of `ids` is found in the raw rows of the register's tables and of the audit
    entries written since `audit_after` (every column, as bytes)."""
    needles = needles_for(*ids)
    hits: list[str] = []
    with c.engine.connect() as conn:
        for table in ("incidents", "incident_steps"):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                hits += [f"{table}: {h}" for h in find_in_bytes(_raw(row), needles, set())]
        audit = select(AuditEntry.__table__).where(AuditEntry.seq > audit_after)
        entries = list(conn.execute(audit))
        hits += [f"audit: {h}" for row in entries for h in find_in_bytes(_raw(row), needles, set())]
    assert entries, "the steps were audited"
    return hits


def _raw(row: object) -> bytes:
    values = [v for v in row if v is not None]  # type: ignore[attr-defined]
    return b"\x00".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in values
    )


def test_a_compromised_staff_account_is_scoped_into_its_incident_and_assessed(
    container: Container, clock: ManualClock
) -> None:
    c = container
    w = staff_breach(c, clock)
    ada, bob, cyd, dee, sam, since = w.ada, w.bob, w.cyd, w.dee, w.sam, w.since
    who = officer(c)
    before = _last_audit_seq(c)
    aware = clock.now() - timedelta(minutes=30, seconds=17)
    made = register.open_incident(
        c, who, aware_at=aware, description=DESCRIPTION, source="staff_report"
    )
    exposure = Exposure(ExposureKind.STAFF_ACCOUNT, start=since, ref=sam)
    found = register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    assert found.subject_ids == {ada, bob}  # for the caller (the notices), not kept
    scoped = register.get_incident(c, who, made.id).history[-1]
    assert scoped.kind == "scoped" and scoped.staff_id == who.id
    assert scoped.body["exposures"] == [
        {"kind": "staff_account", "start": since.isoformat(), "end": None, "ref": sam, "blobs": 0}
    ]
    assert scoped.body["subjects"] == 2
    per = {x["category"]: (x["subjects"], x["records"]) for x in scoped.body["categories"]}
    assert per["account"][0] == 2 and per["uploaded_image"] == (1, 2)  # ada's two, not dee's
    assert scoped.body["encrypted_under_uncompromised_keys"] is False
    assert "decrypted" in scoped.body["encryption_note"]
    proposal = register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    assert (proposal.notify_authority, proposal.notify_subjects) == (True, True)
    shown = register.get_incident(c, who, made.id)
    assessed = shown.history[-1]
    assert assessed.body["scoped_seq"] == scoped.seq
    assert assessed.body["categories"] == scoped.body["categories"]
    assert assessed.body["subjects"] == 2 and assessed.body["records"] == scoped.body["records"]
    assert shown.deadline_at.tzinfo is not None
    assert shown.deadline_at == aware + timedelta(hours=72)
    assert shown.minutes_left == 72 * 60 - 31  # 71 h 29 min 43 s: to the minute
    assert ids_in_register(c, [ada, bob, cyd, dee], audit_after=before) == []


def test_a_stolen_backup_made_before_a_rotation_is_assessed_under_the_34_3_a_exception(
    container: Container, clock: ManualClock, tmp_path: Path
) -> None:
    c = container
    stolen = tmp_path / "stolen.tar"
    ada, bob, cyd = stolen_backup(c, clock, stolen)
    who = officer(c)
    before = _last_audit_seq(c)
    made = register.open_incident(
        c, who, aware_at=clock.now(), description=DESCRIPTION, source="staff_report"
    )
    exposure = Exposure(ExposureKind.LOCATION, ref=f"backup:{stolen}")
    found = register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    assert found.subject_ids == {ada, bob}
    scoped = register.get_incident(c, who, made.id).history[-1]
    assert scoped.body["exposures"][0]["ref"] == f"backup:{stolen}"
    assert scoped.body["subjects"] == 2
    assert scoped.body["encrypted_under_uncompromised_keys"] is True
    assert "rotated 1 time(s) since the backup" in scoped.body["encryption_note"]
    proposal = register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    assert proposal.level.value == "high"  # high enough that the subjects would be told...
    assert proposal.notify_subjects is False  # ...but for the encryption
    assert proposal.exception == "Art. 34(3)(a)"
    assert any("Art. 34(3)(a)" in r for r in proposal.reasons)
    assert ids_in_register(c, [ada, bob, cyd], audit_after=before) == []


def test_a_subject_key_exposure_is_kept_without_the_subject_id(container: Container) -> None:
    c = container
    ada = subject(c, "ada")
    who = officer(c)
    before = _last_audit_seq(c)
    made = register.open_incident(
        c, who, aware_at=c.clock.now(), description=DESCRIPTION, source="user_report"
    )
    exposure = Exposure(ExposureKind.KEY, ref=f"subject:{ada}")
    register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    scoped = register.get_incident(c, who, made.id).history[-1]
    assert scoped.body["exposures"][0]["ref"] == "subject:*"
    assert scoped.body["subjects"] == 1
    assert ids_in_register(c, [ada], audit_after=before) == []


def test_assessing_with_no_numbers_needs_a_scoping_and_a_closed_incident_takes_none(
    container: Container,
) -> None:
    c = container
    subject(c, "ada")
    who = officer(c)
    made = register.open_incident(
        c, who, aware_at=c.clock.now(), description=DESCRIPTION, source="staff_report"
    )
    with pytest.raises(Conflict, match="scope the incident"):
        register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    exposure = Exposure(ExposureKind.LOCATION, ref="database")
    register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    register.decide(c, who, made.id, outcome="confirm")
    register.close(c, who, made.id)
    steps = register.get_incident(c, who, made.id).steps
    with pytest.raises(Conflict, match="closed"):
        register.scope_incident(c, incident_id=made.id, exposures=[exposure], actor=who)
    assert register.get_incident(c, who, made.id).steps == steps


# Over HTTP ----------------------------------------------------------------------------------

BASE = "/api/v1/admin/incidents"
CIRCUMSTANCES = {
    "circumstances": {
        "identification": "maximum",
        "confidentiality": "unknown_recipients",
        "malicious": True,
    }
}


def _opened(client: TestClient, headers: dict[str, str]) -> str:
    aware = client_container(client).clock.now().isoformat()
    body = {"aware_at": aware, "description": DESCRIPTION, "source": "staff_report"}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_officer_scopes_over_http_and_assesses_from_the_scoping(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    upload(c, ada)
    sam = staff_member(c, "sam")
    since = clock.now()
    staff_reads(c, "sam", [ada, bob])
    clock.advance(minutes=5)
    dpo = staff_headers(client, c)
    iid = _opened(client, dpo)
    r = client.post(f"{BASE}/{iid}/assessment", json=CIRCUMSTANCES, headers=dpo)
    assert r.status_code == 409 and "scope the incident" in r.json()["error"]["message"]
    exposures = [{"kind": "staff_account", "start": since.isoformat(), "ref": sam}]
    r = client.post(f"{BASE}/{iid}/scope", json={"exposures": exposures}, headers=dpo)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["subjects"] == 2 and answer["encrypted_under_uncompromised_keys"] is False
    photos = [x for x in answer["categories"] if x["category"] == "uploaded_image"]
    assert photos == [{"category": "uploaded_image", "subjects": 1, "records": 1}]
    assert ada not in r.text and bob not in r.text
    partial = {**CIRCUMSTANCES, "subjects": 2}
    r = client.post(f"{BASE}/{iid}/assessment", json=partial, headers=dpo)
    assert r.status_code == 422 and r.json()["error"]["field"] == "categories"
    r = client.post(f"{BASE}/{iid}/assessment", json=CIRCUMSTANCES, headers=dpo)
    assert r.status_code == 200, r.text
    shown = client.get(f"{BASE}/{iid}", headers=dpo).json()
    assert [s["kind"] for s in shown["history"]] == ["opened", "scoped", "assessed"]
    assert shown["history"][2]["body"]["scoped_seq"] == 2
    assert ada not in str(shown) and bob not in str(shown)


@pytest.mark.parametrize("role", ["admin", "support", "engineer"])
def test_every_other_role_is_refused_scoping_with_403(
    client: TestClient, container: Container, role: str
) -> None:
    iid = _opened(client, staff_headers(client, container))
    other = staff_headers(client, container, "sam", role)
    body = {"exposures": [{"kind": "location", "ref": "database"}]}
    r = client.post(f"{BASE}/{iid}/scope", json=body, headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "staff_forbidden"
    assert _rows(container) == (1, 1)


NOW = "2026-01-01T10:00:00Z"


@pytest.mark.parametrize(
    ("exposures", "field"),
    [
        ([], "exposures"),
        ([{"kind": "location", "ref": "database"}] * 17, "exposures"),
        ([{"kind": "laptop"}], "exposures.0.kind"),
        ([{"kind": "location", "ref": "database", "who": 1}], "exposures.0.who"),
        ([{"kind": "location", "ref": 7}], "exposures.0.ref"),
        ([{"kind": "location", "ref": "x" * 1025}], "exposures.0.ref"),
        ([{"kind": "location", "ref": "attic"}], "ref"),
        ([{"kind": "staff_account", "ref": "sam"}], "ref"),
        ([{"kind": "key", "ref": "subject:ada"}], "ref"),
        ([{"kind": "window"}], "start"),
        ([{"kind": "window", "start": "2026-01-01T10:00:00"}], "exposures.0.start"),
        ([{"kind": "window", "start": "yesterday"}], "exposures.0.start"),
        ([{"kind": "window", "start": NOW, "end": "2025-12-31T10:00:00Z"}], "end"),
        ([{"kind": "window", "start": "2999-01-01T00:00:00Z"}], "start"),
        ([{"kind": "blobs"}], "blob_ids"),
        ([{"kind": "blobs", "blob_ids": ["XYZ"]}], "exposures.0.blob_ids.0"),
        ([{"kind": "location", "ref": "database", "blob_ids": ["a" * 32]}], "blob_ids"),
    ],
)
def test_bad_exposures_are_422_naming_the_field_and_nothing_is_written(
    client: TestClient, container: Container, exposures: list[Any], field: str
) -> None:
    dpo = staff_headers(client, container)
    iid = _opened(client, dpo)
    r = client.post(f"{BASE}/{iid}/scope", json={"exposures": exposures}, headers=dpo)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert _rows(container) == (1, 1)


def test_unknown_incident_staff_or_backup_and_a_closed_incident_are_refused(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    subject(container, "ada")
    dpo = staff_headers(client, container)
    database = {"exposures": [{"kind": "location", "ref": "database"}]}
    for unknown in ("0" * 32, "not-an-id"):
        assert client.post(f"{BASE}/{unknown}/scope", json=database, headers=dpo).status_code == 404
    iid = _opened(client, dpo)
    nobody = {"exposures": [{"kind": "staff_account", "ref": "0" * 32}]}
    r = client.post(f"{BASE}/{iid}/scope", json=nobody, headers=dpo)
    assert r.status_code == 404 and "staff" in r.json()["error"]["message"]
    missing = {"exposures": [{"kind": "location", "ref": f"backup:{tmp_path / 'none.tar'}"}]}
    assert client.post(f"{BASE}/{iid}/scope", json=missing, headers=dpo).status_code == 400
    assert _rows(container) == (1, 1)
    assert client.post(f"{BASE}/{iid}/scope", json=database, headers=dpo).status_code == 200
    for path, body in (
        ("assessment", CIRCUMSTANCES),
        ("decision", {"outcome": "confirm"}),
        ("close", {}),
    ):
        assert client.post(f"{BASE}/{iid}/{path}", json=body, headers=dpo).status_code == 200
    r = client.post(f"{BASE}/{iid}/scope", json=database, headers=dpo)
    assert r.status_code == 409 and "closed" in r.json()["error"]["message"]
    assert _rows(container) == (1, 5)


def _rows(c: Container) -> tuple[int, int]:
    with c.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Incident)) or 0,
            session.scalar(select(func.count()).select_from(IncidentStep)) or 0,
        )
