"""Art. 19 on every correction path: a rectification request, PATCH /api/v1/me and the privacy
centre's form each tell every recipient of a copy, with the same notice, through real SMTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.settings import Settings
from tests.browser import api_headers, form_token, signed_in
from tests.conftest import signup_and_login
from tests.mailserver import Mailbox, Received, delivering_to
from tests.rights.disclosures import FARM, PRINT_PARTNER, disclose, two_processors

__all__ = ["two_processors"]  # the fixture, used by name below

Headers = dict[str, str]
#: The notice a recipient gets of a correction, as the rectification request sends it.
NOTICE_SUBJECT = "Data subject request: rectification"
CONTACTS = (PRINT_PARTNER["contact"], FARM["contact"])


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings)


def subject_id(client: TestClient, headers: Headers) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def notices(mailbox: Mailbox, contact: str) -> list[Received]:
    """What reached `contact` about a correction, by the SMTP envelope."""
    return [
        m
        for m in mailbox.received
        if contact in m.rcpt_tos and m.message["Subject"] == NOTICE_SUBJECT
    ]


def queued_notices(c: Container) -> int:
    with c.uow(write=False) as uow:
        query = select(func.count()).where(OutboxMessage.kind == "recipient_rectification")
        return int(uow.session.scalar(query) or 0)


def by_request(client: TestClient, headers: Headers, **fields: str) -> None:
    body = {"type": "rectification", "details": fields}
    r = client.post("/api/v1/privacy/requests", json=body, headers=headers)
    assert r.status_code in (201, 202), r.text


def by_patch(client: TestClient, headers: Headers, **fields: str) -> None:
    r = client.patch("/api/v1/me", json=fields, headers=headers)
    assert r.status_code == 200, r.text


def by_form(client: TestClient, headers: Headers, **fields: str) -> None:
    current = client.get("/api/v1/me", headers=headers).json()
    data = {k: current[k] for k in ("name", "email", "username")} | fields
    data["csrf"] = form_token(client, "/privacy")
    r = client.post("/privacy/profile", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text


PATHS = {"request": by_request, "patch": by_patch, "form": by_form}


@pytest.fixture
def ada(client: TestClient, container: Container, two_processors: Any) -> Headers:
    """Ada, signed in through the pages, whose data went to both processors."""
    signed_in(client, "ada")
    headers = api_headers(client, "ada")
    for processor in two_processors:
        disclose(container, subject_id(client, headers), processor["name"])
    return headers


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_correction_path_tells_each_recipient_once(
    client: TestClient, worker: Worker, mailbox: Mailbox, ada: Headers, path: str
) -> None:
    PATHS[path](client, ada, name="Ada King")
    worker.run_until_idle()
    assert client.get("/api/v1/me", headers=ada).json()["name"] == "Ada King"
    ada_id = subject_id(client, ada)
    for contact in CONTACTS:
        (notice,) = notices(mailbox, contact)
        # By pseudonymous id, nothing more: the recipient needs no name to find its copy.
        assert ada_id in notice.body and "rectification" in notice.body
        assert "Ada" not in notice.body and "ada@example.org" not in notice.body


def test_every_path_sends_the_same_notice_as_a_rectification_request(
    client: TestClient, worker: Worker, mailbox: Mailbox, ada: Headers
) -> None:
    for path, name in (("request", "Ada King"), ("patch", "Ada B"), ("form", "Ada C")):
        PATHS[path](client, ada, name=name)
        worker.run_until_idle()
    for contact in CONTACTS:
        told = notices(mailbox, contact)
        assert len(told) == 3
        assert len({(m.message["Subject"], m.body) for m in told}) == 1


def test_a_value_typed_again_unchanged_tells_nobody(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox, ada: Headers
) -> None:
    by_patch(client, ada, name="Ada Lovelace", username="ada")
    by_request(client, ada, email="ada@example.org")
    worker.run_until_idle()
    assert queued_notices(container) == 0
    assert notices(mailbox, CONTACTS[0]) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": 7}, 422),  # wrong type
        ({"email": "not an address"}, 422),  # malformed
        ({"name": "x" * 10_000}, 422),  # oversized
        ({"username": "bob"}, 409),  # someone else's username
        ({"name": "Ada King", "email": "bob@example.org"}, 409),  # half valid: nothing written
        ({"name": "Ada King", "role": "dpo"}, 422),  # a field that is not the profile's
    ],
)
def test_a_refused_patch_changes_nothing_and_tells_nobody(
    client: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    ada: Headers,
    body: dict[str, Any],
    status: int,
) -> None:
    signup_and_login(client, username="bob")
    r = client.patch("/api/v1/me", json=body, headers=ada)
    assert r.status_code == status, r.text
    worker.run_until_idle()
    me = client.get("/api/v1/me", headers=ada).json()
    assert (me["name"], me["email"], me["username"]) == ("Ada Lovelace", "ada@example.org", "ada")
    assert queued_notices(container) == 0
    assert all(notices(mailbox, contact) == [] for contact in CONTACTS)


def test_a_refused_form_changes_nothing_and_tells_nobody(
    client: TestClient, container: Container, worker: Worker, ada: Headers
) -> None:
    signup_and_login(client, username="bob")
    data = {"name": "Ada King", "email": "ada@example.org", "username": "bob"}
    data["csrf"] = form_token(client, "/privacy")
    r = client.post("/privacy/profile", data=data, follow_redirects=False)
    assert r.status_code == 409, r.text
    worker.run_until_idle()
    assert client.get("/api/v1/me", headers=ada).json()["name"] == "Ada Lovelace"
    assert queued_notices(container) == 0


def test_only_the_recipients_of_this_subjects_data_are_told(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox, two_processors: Any
) -> None:
    ada = signup_and_login(client, username="ada")
    bob = signup_and_login(client, username="bob")
    disclose(container, subject_id(client, ada), FARM["name"])
    disclose(container, subject_id(client, bob), PRINT_PARTNER["name"])
    by_patch(client, ada, name="Ada King")
    worker.run_until_idle()
    assert len(notices(mailbox, FARM["contact"])) == 1
    assert notices(mailbox, PRINT_PARTNER["contact"]) == []
