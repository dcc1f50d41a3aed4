"""Every processing names a purpose from the policy; every personal row carries a category."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.accounts.tables import User
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.bootstrap import personal_data
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.kernel.personal_data import PersonalTable
from minimaker.policy import load_policy
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


def test_every_category_a_declaration_names_is_a_category_of_the_policy() -> None:
    declared = {d.category for d in personal_data().personal}
    assert declared <= set(load_policy().categories)


def test_every_personal_row_carries_its_subject_and_a_policy_category(
    client: TestClient, worker: Worker, container: Container
) -> None:
    _use_the_product(client, worker)
    with container.sessions() as s:
        (user_id,) = s.scalars(select(User.id)).all()
    # A table with a category column stores, on each row, the category it is declared with.
    stamped = [d for d in container.personal_data.personal if "category" in columns_of(d)]
    assert {d.name for d in stamped} >= {"users", "uploads", "models", "usage_events"}
    seen = 0
    with container.sessions() as s:
        for d in stamped:
            for row in s.scalars(select(d.table)):
                assert row.category == d.category, d.name
                if isinstance(d.owner, str):
                    assert getattr(row, d.owner) == user_id, d.name
                seen += 1
    assert seen >= 4


def columns_of(d: PersonalTable) -> set[str]:
    return set(d.table.__table__.columns.keys())
