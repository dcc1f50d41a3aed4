"""Every processing names a purpose from the policy; every personal row carries a category."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.accounts.tables import User
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.generation.tables import Model3D, UsageEvent
from minimaker.kernel.container import Container
from minimaker.policy import load_policy
from minimaker.uploads.tables import Upload
from tests.conftest import photo_bytes, signup_and_login


def _use_the_product(client: TestClient, worker: Worker) -> None:
    headers = signup_and_login(client)
    up = client.post("/api/v1/uploads", files={"file": ("p.png", photo_bytes())}, headers=headers)
    model = client.post(f"/api/v1/uploads/{up.json()['id']}/models", headers=headers).json()
    worker.run_until_idle()
    client.get(f"/api/v1/models/{model['id']}/content?format=stl", headers=headers)
    client.patch("/api/v1/me", json={"name": "Ada King"}, headers=headers)
    client.post("/api/v1/auth/token", data={"username": "ada", "password": "wrong password"})


def test_every_audit_entry_names_a_purpose_the_policy_declares(
    client: TestClient, worker: Worker, container: Container
) -> None:
    _use_the_product(client, worker)
    purposes = set(load_policy().purposes)
    with container.sessions() as s:
        entries = s.scalars(select(AuditEntry)).all()
    assert len(entries) >= 7
    assert {e.purpose for e in entries} <= purposes
    assert all(e.purpose for e in entries)
    # Actions follow source:object:verb, so the log reads the same everywhere.
    assert all(len(e.action.split(":")) == 3 for e in entries)


def test_every_personal_row_carries_its_subject_and_a_policy_category(
    client: TestClient, worker: Worker, container: Container
) -> None:
    _use_the_product(client, worker)
    categories = set(load_policy().categories)
    with container.sessions() as s:
        users = s.scalars(select(User)).all()
        rows = [*s.scalars(select(Upload)), *s.scalars(select(Model3D))]
        events = s.scalars(select(UsageEvent)).all()
    assert users and rows and events
    assert {u.category for u in users} <= categories
    for row in rows:
        assert row.category in categories
        assert row.owner_id == users[0].id
    for event in events:
        assert event.category in categories
        assert event.subject_id == users[0].id
