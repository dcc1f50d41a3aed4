"""Art. 19 for the other two rights that change a recipient's copy: a restriction and an
erasure each tell every recipient of the subject's data, through real SMTP, and nobody else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from tests.browser import PASSWORD
from tests.conftest import signup_and_login
from tests.mailserver import Mailbox
from tests.rights.disclosures import FARM, PRINT_PARTNER, disclose, two_processors
from tests.rights.test_art19_corrections import settings, subject_id

__all__ = ["settings", "two_processors"]  # fixtures, used by name below


def told(mailbox: Mailbox, contact: str, what: str) -> list[str]:
    """The bodies of the notices of `what` that reached `contact`."""
    return [
        m.body
        for m in mailbox.received
        if contact in m.rcpt_tos and m.message["Subject"] == f"Data subject request: {what}"
    ]


def restrict(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/api/v1/privacy/requests", json={"type": "restriction"}, headers=headers)
    assert r.status_code in (201, 202), r.text


def erase(client: TestClient, headers: dict[str, str]) -> None:
    r = client.request("DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=headers)
    assert r.status_code in (200, 202), r.text


@pytest.mark.parametrize(("what", "act"), [("restriction", restrict), ("erasure", erase)])
def test_each_recipient_is_told_once_and_only_of_its_own_subject(
    client: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    two_processors: Any,
    what: str,
    act: Any,
) -> None:
    ada = signup_and_login(client, username="ada")
    bob = signup_and_login(client, username="bob")
    ada_id, bob_id = subject_id(client, ada), subject_id(client, bob)
    for processor in (PRINT_PARTNER, FARM):
        disclose(container, ada_id, processor["name"])
    act(client, bob)  # Bob's data went nowhere: nobody is told of his
    act(client, ada)
    worker.run_until_idle()
    for processor in (PRINT_PARTNER, FARM):
        (body,) = told(mailbox, processor["contact"], what)
        assert ada_id in body and bob_id not in body
        assert "Ada" not in body and "ada@example.org" not in body
