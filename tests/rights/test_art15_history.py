"""Art. 15 in full, over HTTP: the access archive says who accessed or changed the data and
when (the subject as "you", staff by role, MiniMaker by component) and who received it (the
disclosure log), and never names a member of staff."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from tests.conftest import signup_and_login
from tests.rights.disclosures import PRINT_PARTNER, disclose, policy_naming
from tests.staff.signing_in import api_sign_in, ready_staff

Headers = dict[str, str]
STAFF_PASSWORD = "staff password for tests"
OFFICER, SUPPORT = "grace-officer", "sam-support"


def me(client: TestClient, headers: Headers) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def staff_member(client: TestClient, c: Container, username: str, role: str) -> tuple[str, Headers]:
    """A staff member of `role`, signed in over HTTP: (staff id, headers)."""
    made = ready_staff(c, username, role, password=STAFF_PASSWORD)
    return made.id, api_sign_in(client, username, STAFF_PASSWORD)


def request(client: TestClient, headers: Headers, body: dict[str, Any]) -> str:
    r = client.post("/api/v1/privacy/requests", json=body, headers=headers)
    assert r.status_code in (201, 202), r.text
    return str(r.json()["id"])


def archive(client: TestClient, worker: Worker, headers: Headers) -> zipfile.ZipFile:
    """Ask for access over HTTP, let the worker build it, download it over HTTP."""
    request_id = request(client, headers, {"type": "access"})
    worker.run_until_idle()
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 200, r.text
    return zipfile.ZipFile(io.BytesIO(r.content))


def seen(history: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["by"], e["action"]) for e in history}


@pytest.fixture
def lived(client: TestClient, container: Container, worker: Worker) -> dict[str, Any]:
    """Ada's data seen by two members of staff, corrected by her, disclosed to a processor."""
    ada = signup_and_login(client, username="ada")
    officer_id, officer = staff_member(client, container, OFFICER, "dpo")
    support_id, support = staff_member(client, container, SUPPORT, "support")
    objection = request(client, ada, {"type": "objection"})
    for headers in (officer, support):
        r = client.get(f"/api/v1/admin/requests/{objection}", headers=headers)
        assert r.status_code == 200, r.text
    assert client.patch("/api/v1/me", json={"name": "Ada King"}, headers=ada).status_code == 200
    bob = signup_and_login(client, username="bob")
    assert client.patch("/api/v1/me", json={"name": "Bob B"}, headers=bob).status_code == 200
    with policy_naming(container, PRINT_PARTNER):
        disclose(container, me(client, ada), PRINT_PARTNER["name"], categories=["account"])
        zf = archive(client, worker, ada)
    return {"zip": zf, "staff_ids": (officer_id, support_id), "ada": me(client, ada)}


def test_the_archive_lists_who_accessed_or_changed_the_data_and_when(
    lived: dict[str, Any],
) -> None:
    doc = json.loads(lived["zip"].read("data.json"))
    history = doc["history"]
    assert seen(history) >= {
        ("you", "account:profile:corrected"),
        ("you", "rights:request:received"),
        ("staff: the privacy officer", "staff:request:viewed"),
        ("staff: support staff", "staff:request:viewed"),
        ("MiniMaker (rights)", "rights:request:in_progress"),
    }
    # Only Ada's own entries: Bob's correction is his, not hers.
    assert [e["action"] for e in history].count("account:profile:corrected") == 1
    assert all(e["by"] != "another user" for e in history)
    for entry in history:
        assert datetime.fromisoformat(entry["at"]).tzinfo is not None
        assert entry["purpose"] in {"service", "security"}
    when = [datetime.fromisoformat(e["at"]) for e in history]
    assert when == sorted(when)  # oldest first
    page = lived["zip"].read("index.html").decode()
    assert "Who accessed or changed your data, and when" in page
    assert "staff: the privacy officer" in page and "account:profile:corrected" in page


def test_no_member_of_staff_is_named_anywhere_in_the_archive(lived: dict[str, Any]) -> None:
    zf = lived["zip"]
    everything = b"".join(zf.read(name) for name in zf.namelist())
    for needle in (OFFICER, SUPPORT, *lived["staff_ids"]):
        assert needle.encode() not in everything, needle
    assert b"staff: the privacy officer" in everything  # the role stands in for the person


def test_the_recipients_are_the_disclosure_log(lived: dict[str, Any]) -> None:
    doc = json.loads(lived["zip"].read("data.json"))
    (told,) = doc["information"]["recipients"]
    assert (told["recipient"], told["purposes"], told["categories"]) == (
        "print-partner",
        ["service"],
        ["account"],
    )
    datetime.fromisoformat(told["first_disclosed"])
    assert doc["information"]["recipients_note"].startswith("Everyone our disclosure log")
    page = lived["zip"].read("index.html").decode()
    assert "print-partner" in page


def test_with_no_disclosure_the_archive_says_nobody_received_the_data(
    client: TestClient, worker: Worker
) -> None:
    ada = signup_and_login(client, username="ada")
    doc = json.loads(archive(client, worker, ada).read("data.json"))
    assert doc["information"]["recipients"] == []
    assert doc["information"]["recipients_note"].startswith("Nobody: our disclosure log")
    assert "none" not in json.dumps(doc["information"]["recipients"])
