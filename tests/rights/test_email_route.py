"""The email route completes every request type (issue 8, item 1; policy 6, 13), over HTTP,
with the mail read from a real SMTP server on loopback.

- access and portability asked by email: the completion mail carries a single-use, expiring
  download link; an anonymous browser downloads the archive with it, once;
- rectification asked by email: the confirmation page asks what to correct.

The public form for people who cannot sign in is in test_public_form.py.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.rights import access
from minimaker.rights.tables import ArchiveLink, RightsRequest, VerificationToken
from minimaker.settings import Settings
from tests.conftest import signup_and_login
from tests.mailserver import Mailbox, Received, delivering_to
from tests.rights.test_public_intake import UNKNOWN_TOKENS
from tests.scan import needles_for, scan_database

PUBLIC_URL = "https://privacy.example.org"
ASK = "/api/v1/privacy/requests/public"
ADA, BEA, NOBODY = "ada@example.org", "bea@example.org", "nobody.here@example.org"
DONE_SUBJECT = "Your privacy request is done"
CONFIRM_SUBJECT = "Confirm your privacy request"
HTML = {"Accept": "text/html,application/xhtml+xml"}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings, public_url=PUBLIC_URL)


@pytest.fixture
def anonymous(client: TestClient) -> Iterator[TestClient]:
    """A browser that never signed in: its own cookie jar, no bearer token."""
    with TestClient(client.app, base_url="https://testserver") as browser:
        yield browser


def mails(mailbox: Mailbox, subject: str, to: str) -> list[Received]:
    return [m for m in mailbox.received if m.message["Subject"] == subject and m.rcpt_tos == [to]]


def link_in(message: Received, route: str) -> str:
    """The path of the emailed link to `route` (its host is the public URL)."""
    found = re.search(
        re.escape(PUBLIC_URL) + rf"(/api/v1/privacy/{route}/[A-Za-z0-9_-]+)", message.body
    )
    assert found, message.body
    return found.group(1)


def ask_and_confirm(
    client: TestClient, worker: Worker, mailbox: Mailbox, email: str, kind: str, **form: str
) -> str:
    """Ask by email for `kind`, confirm by the link mailed to `email`: the request's id."""
    before = len(mails(mailbox, CONFIRM_SUBJECT, email))
    assert client.post(ASK, json={"email": email, "type": kind}).status_code == 202
    worker.run_until_idle()
    message = mails(mailbox, CONFIRM_SUBJECT, email)[before]
    done = client.post(link_in(message, "verify"), data=form or None)
    assert done.status_code == 200, done.text
    return str(done.json()["id"])


def download_link(
    client: TestClient, worker: Worker, mailbox: Mailbox, email: str, kind: str
) -> tuple[str, str]:
    """An emailed request fulfilled: (the download link's path, the request id)."""
    request_id = ask_and_confirm(client, worker, mailbox, email, kind)
    worker.run_until_idle()
    [done] = [m for m in mails(mailbox, DONE_SUBJECT, email) if request_id in m.body]
    return link_in(done, "download"), request_id


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def link_downloads(c: Container) -> list[tuple[str, str | None, str | None]]:
    """(actor, subject, object) of every archive download in the audit log."""
    with c.uow(write=False) as uow:
        query = select(AuditEntry.actor, AuditEntry.subject, AuditEntry.object).where(
            AuditEntry.action == "rights:archive:downloaded"
        )
        return [tuple(row) for row in uow.session.execute(query)]  # type: ignore[misc]


def count(c: Container, table: Any) -> int:
    with c.uow(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(table)) or 0


# --- access and portability: the download link ----------------------------------------------


@pytest.mark.parametrize("kind", ["access", "portability"])
def test_an_emailed_archive_request_is_downloaded_once_with_the_link_in_the_completion_mail(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    kind: str,
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, request_id = download_link(client, worker, mailbox, ADA, kind)

    # Opening the link (a person, or a mail scanner's prefetch) downloads and uses nothing.
    for _ in range(2):
        page = anonymous.get(path)
        assert page.status_code == 200
        assert f'<form method="post" action="{path}">' in page.text
        assert ">Download</button>" in page.text
        assert page.headers["cache-control"] == "no-store"
    assert link_downloads(container) == []

    got = anonymous.post(path)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="minimaker-{kind}-{request_id}.zip"'
    )
    assert got.headers["cache-control"] == "private, no-store"
    data = json.loads(unzip(got.content)["data.json"])
    assert ADA in json.dumps(data) and "ada" in json.dumps(data)

    again = anonymous.post(path)
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "link_gone"
    assert "already used" in again.json()["error"]["message"]
    assert anonymous.get(path).status_code == 410
    [(actor, subject, what)] = link_downloads(container)
    # Ids and fixed words only, so nothing of the person can be in them (a substring check for
    # "ada" failed on a random hex id that happened to hold it).
    assert subject is not None and re.fullmatch(r"[0-9a-f]{32}", subject)
    assert actor == f"subject:{subject}"
    assert what is not None and re.fullmatch(rf"archive:[0-9a-f]{{32}}:{kind}:link", what)


def test_the_link_is_stored_as_its_hash_only(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, _ = download_link(client, worker, mailbox, ADA, "access")
    token = path.rsplit("/", 1)[1]
    assert scan_database(container.engine, needles_for(token), set()) == {}
    with container.uow(write=False) as uow:
        [stored] = uow.session.scalars(select(ArchiveLink.token_hash)).all()
    assert len(stored) == 64 and stored != token


def test_an_expired_download_link_is_gone_and_downloads_nothing(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    clock: ManualClock,
    worker: Worker,
    mailbox: Mailbox,
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, _ = download_link(client, worker, mailbox, ADA, "access")
    clock.advance(days=container.settings.archive_ttl_days)
    page = anonymous.get(path)
    assert page.status_code == 410
    assert "expired" in page.text
    refused = anonymous.post(path)
    assert refused.status_code == 410
    assert "expired" in refused.json()["error"]["message"]
    assert link_downloads(container) == []


def test_the_link_dies_with_the_archive_the_expiry_duty_deleted(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    clock: ManualClock,
    worker: Worker,
    mailbox: Mailbox,
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, _ = download_link(client, worker, mailbox, ADA, "portability")
    clock.advance(days=container.settings.archive_ttl_days, seconds=1)
    assert access.expire_archives(container) == 1
    refused = anonymous.post(path, headers=HTML)
    assert refused.status_code == 410
    assert "archive was deleted" in refused.text
    assert refused.headers["content-type"].startswith("text/html")


def test_an_erasure_deletes_the_link(
    client: TestClient,
    anonymous: TestClient,
    worker: Worker,
    mailbox: Mailbox,
    container: Container,
) -> None:
    headers = signup_and_login(client, username="ada", email=ADA)
    path, _ = download_link(client, worker, mailbox, ADA, "access")
    erased = client.request("DELETE", "/api/v1/me", headers=headers, json={"password": PASSWORD})
    assert erased.status_code == 202
    worker.run_until_idle()
    assert count(container, ArchiveLink) == 0
    assert anonymous.get(path).status_code == 404
    assert anonymous.post(path).status_code == 404


def test_each_link_downloads_its_own_request_and_no_other_token_does(
    client: TestClient, anonymous: TestClient, worker: Worker, mailbox: Mailbox
) -> None:
    signup_and_login(client, username="ada", email=ADA, name="Ada Lovelace")
    signup_and_login(client, username="bea", email=BEA, name="Bea Tester")
    ada_path, _ = download_link(client, worker, mailbox, ADA, "access")
    bea_path, bea_request = download_link(client, worker, mailbox, BEA, "access")
    assert ada_path != bea_path
    # The confirmation link of Bea's request is no download link, for it or any other.
    [confirmation] = mails(mailbox, CONFIRM_SUBJECT, BEA)
    verify_token = link_in(confirmation, "verify").rsplit("/", 1)[1]
    assert anonymous.post(f"/api/v1/privacy/download/{verify_token}").status_code == 404

    bea = anonymous.post(bea_path)
    assert bea.status_code == 200
    assert bea_request in bea.headers["content-disposition"]
    text = json.dumps(json.loads(unzip(bea.content)["data.json"]))
    assert BEA in text and ADA not in text and "Ada Lovelace" not in text
    assert anonymous.post(ada_path).status_code == 200  # Bea's use did not spend Ada's link


@pytest.mark.parametrize("token", UNKNOWN_TOKENS)
def test_an_unknown_or_malformed_download_link_is_not_found_and_changes_nothing(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    token: str,
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, _ = download_link(client, worker, mailbox, ADA, "access")
    for method in ("GET", "POST"):
        r = anonymous.request(method, f"/api/v1/privacy/download/{token}")
        assert r.status_code == 404, (method, r.text)
    assert link_downloads(container) == []
    assert anonymous.post(path).status_code == 200  # the real link is untouched


def test_a_request_made_in_the_app_gets_no_link_in_its_mail(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    headers = signup_and_login(client, username="ada", email=ADA)
    made = client.post("/api/v1/privacy/requests", headers=headers, json={"type": "access"})
    assert made.status_code == 202
    worker.run_until_idle()
    [done] = mails(mailbox, DONE_SUBJECT, ADA)
    assert "/download/" not in done.body
    assert count(container, ArchiveLink) == 0


# --- rectification: the correction stated behind the link ------------------------------------


def rectification_link(client: TestClient, worker: Worker, mailbox: Mailbox) -> tuple[str, str]:
    """Ada asks by email for a rectification: (the confirmation link's path, the request id)."""
    assert client.post(ASK, json={"email": ADA, "type": "rectification"}).status_code == 202
    worker.run_until_idle()
    [message] = mails(mailbox, CONFIRM_SUBJECT, ADA)
    path = link_in(message, "verify")
    found = re.search(r"request ([0-9a-f]{32})", message.body)
    assert found
    return path, found.group(1)


def test_an_emailed_rectification_states_its_correction_and_the_account_shows_it(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
) -> None:
    headers = signup_and_login(client, username="ada", email=ADA)
    path, request_id = rectification_link(client, worker, mailbox)
    page = anonymous.get(path)
    assert page.status_code == 200
    for name in ("name", "email", "username"):
        assert f'name="{name}"' in page.text
    done = anonymous.post(path, headers=HTML, data={"name": "Ada King", "email": ""})
    assert done.status_code == 200, done.text
    assert "Request confirmed" in done.text
    # Sealed into the request under Ada's key: nothing readable of the correction is stored.
    assert scan_database(container.engine, needles_for("Ada King"), set()) == {}

    worker.run_until_idle()
    final = client.get(f"/api/v1/privacy/requests/{request_id}", headers=headers).json()
    assert final["status"] == "completed"
    me = client.get("/api/v1/me", headers=headers).json()
    assert (me["name"], me["email"], me["username"]) == ("Ada King", ADA, "ada")


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "details"),
        ({"name": "   ", "email": "", "username": ""}, "details"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "ada@example.org\nBcc: eve@example.org"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Ada\u202eKing"}, "name"),
        ({"username": "a" * 33}, "username"),
        ({"username": "no spaces allowed"}, "username"),
    ],
)
def test_a_rectification_confirmed_without_a_valid_correction_is_422_and_the_link_still_works(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    worker: Worker,
    mailbox: Mailbox,
    form: dict[str, str],
    field: str,
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    path, request_id = rectification_link(client, worker, mailbox)
    api = anonymous.post(path, data=form or None)
    assert api.status_code == 422, api.text
    assert api.json()["error"]["field"] == field
    page = anonymous.post(path, headers=HTML, data=form or None)
    assert page.status_code == 422
    assert 'role="alert"' in page.text and 'name="name"' in page.text  # the form, again
    with container.uow(write=False) as uow:
        row = uow.session.get(RightsRequest, request_id)
        assert row is not None and (row.status, row.details_enc) == ("received", None)
        assert uow.session.scalars(select(VerificationToken.used_at)).one() is None
    assert "fulfil_request" not in _job_kinds(container)

    assert anonymous.post(path, data={"username": "ada.king"}).status_code == 200


def _job_kinds(c: Container) -> set[str]:
    with c.uow(write=False) as uow:
        return set(uow.session.scalars(select(Job.kind)))
