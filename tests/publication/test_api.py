"""The policy API: the version in force with its history, older versions, acknowledgements;
every bad input a clear 4xx that writes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.kernel.container import Container
from minimaker.publication import service
from minimaker.publication.tables import PolicyAcknowledgement
from tests.conftest import signup_and_login
from tests.publication.conftest import NEW_CLAUSE, Reissue, browser_for

SHIPPED_VERSION = "2025-01-27"
NEW = "2026-03-01"


def acknowledgements(c: Container) -> int:
    with c.uow(write=False) as uow:
        query = select(func.count()).select_from(PolicyAcknowledgement)
        return int(uow.session.scalar(query) or 0)


def test_the_policy_serves_the_version_in_force_with_what_changed_and_the_history(
    published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version=NEW, significant=True, changes="Clause 12.1 added.")
    service.publish_if_new(c2)
    with browser_for(c2) as api:
        r = api.get("/api/v1/privacy/policy")
    assert r.status_code == 200
    body = r.json()
    assert (body["version"], body["significant"], body["changes"]) == (
        NEW,
        True,
        "Clause 12.1 added.",
    )
    assert NEW_CLAUSE in body["text"]
    assert body["published_at"] is not None
    assert [v["version"] for v in body["versions"]] == [NEW, SHIPPED_VERSION]
    assert body["versions"][1]["significant"] is False
    assert body["acknowledgement"] is None  # nobody signed in
    assert set(body) >= {"version", "effective", "text", "purposes", "categories"}


def test_an_older_version_is_served_as_it_was_published(
    published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version=NEW, significant=False, changes="Clause 12.1 added.")
    service.publish_if_new(c2)
    with browser_for(c2) as api:
        old = api.get(f"/api/v1/privacy/policy/versions/{SHIPPED_VERSION}").json()
        new = api.get(f"/api/v1/privacy/policy/versions/{NEW}").json()
    assert old["text"] == published.policy_doc.text and NEW_CLAUSE not in old["text"]
    assert old["source"] == published.policy_doc.source
    assert (old["current"], new["current"]) == (False, True)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/privacy/policy/versions/2024-01-01", 404),  # well formed, never published
        ("/api/v1/privacy/policy/versions/..%2Fetc", 404),  # a path, matching no route
        ("/api/v1/privacy/policy/versions/2025%2001%2027", 422),  # not a version string
        ("/api/v1/privacy/policy/versions/" + "x" * 65, 422),  # oversized
        ("/api/v1/privacy/policy/versions/%00", 422),  # a control character
        ("/api/v1/privacy/policy/versions/", 404),  # no version at all
    ],
)
def test_an_unknown_or_malformed_version_is_a_clear_4xx(
    client: TestClient, published: Container, path: str, status: int
) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_a_signed_in_caller_is_told_whether_an_acknowledgement_is_owed(
    client: TestClient, published: Container
) -> None:
    headers = signup_and_login(client)
    body = client.get("/api/v1/privacy/policy", headers=headers).json()
    assert body["acknowledgement"] == {"required": False, "acknowledged_at": None}
    bad = client.get("/api/v1/privacy/policy", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401  # a token given must be a live one


def test_acknowledging_the_version_in_force_is_recorded_with_its_time(
    client: TestClient, published: Container
) -> None:
    headers = signup_and_login(client)
    r = client.post(
        "/api/v1/privacy/policy/acknowledgements",
        json={"version": SHIPPED_VERSION},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["required"] is False
    assert datetime.fromisoformat(r.json()["acknowledged_at"]) == published.clock.now()
    state = client.get("/api/v1/privacy/policy", headers=headers).json()["acknowledgement"]
    assert state["acknowledged_at"] == r.json()["acknowledged_at"]
    assert acknowledgements(published) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"version": "2024-01-01"}, 409),  # not the version in force
        ({"version": 20250127}, 422),  # wrong type
        ({"version": ["2025-01-27"]}, 422),  # wrong type
        ({"version": ""}, 422),  # empty
        ({"version": "x" * 10_000}, 422),  # oversized
        ({}, 422),  # missing
        ({"version": "2025-01-27", "subject_id": "someone-else"}, 422),  # not a field
    ],
)
def test_a_bad_acknowledgement_is_refused_and_writes_nothing(
    client: TestClient, published: Container, body: dict[str, Any], status: int
) -> None:
    headers = signup_and_login(client)
    r = client.post("/api/v1/privacy/policy/acknowledgements", json=body, headers=headers)
    assert r.status_code == status, r.text
    assert acknowledgements(published) == 0


def test_an_older_version_cannot_be_acknowledged_once_a_new_one_is_in_force(
    client: TestClient, published: Container, reissue: Reissue
) -> None:
    signup_and_login(client)
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    with browser_for(c2) as api:
        headers = signup_and_login(api, username="grace")
        r = api.post(
            "/api/v1/privacy/policy/acknowledgements",
            json={"version": SHIPPED_VERSION},
            headers=headers,
        )
    assert r.status_code == 409
    assert NEW in r.json()["error"]["message"]
    assert acknowledgements(c2) == 0


def test_acknowledging_needs_a_signed_in_caller(client: TestClient, published: Container) -> None:
    r = client.post("/api/v1/privacy/policy/acknowledgements", json={"version": SHIPPED_VERSION})
    assert r.status_code == 401
    assert acknowledgements(published) == 0


def test_nothing_to_acknowledge_before_the_version_in_force_is_published(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    r = client.post(
        "/api/v1/privacy/policy/acknowledgements",
        json={"version": SHIPPED_VERSION},
        headers=headers,
    )
    assert r.status_code == 404
    assert acknowledgements(container) == 0
    assert client.get("/api/v1/privacy/policy").json()["published_at"] is None
