"""Access and portability over HTTP: request, fulfil, download; ownership, state and expiry."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.rights.tables import Archive, RightsRequest
from tests.conftest import photo_bytes, signup_and_login
from tests.rights.test_access import validate
from tests.scan import needles_for

Headers = dict[str, str]


def _upload(client: TestClient, headers: Headers, data: bytes) -> str:
    r = client.post(
        "/api/v1/uploads", files={"file": ("p.jpg", data, "image/jpeg")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _request(client: TestClient, headers: Headers, kind: str) -> str:
    r = client.post("/api/v1/privacy/requests", json={"type": kind}, headers=headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _fulfilled(client: TestClient, worker: Worker, headers: Headers, kind: str) -> str:
    request_id = _request(client, headers, kind)
    worker.run_until_idle()
    r = client.get(f"/api/v1/privacy/requests/{request_id}", headers=headers)
    assert r.json()["status"] == "completed", r.json()
    assert re.fullmatch(r"[0-9a-f]{32}", r.json()["result_ref"])
    return request_id


def _download(client: TestClient, headers: Headers, request_id: str) -> zipfile.ZipFile:
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers["content-disposition"] == (
        f'attachment; filename="minimaker-{_kind(r)}-{request_id}.zip"'
    )
    return zipfile.ZipFile(io.BytesIO(r.content))


def _kind(r: object) -> str:
    disposition = r.headers["content-disposition"]  # type: ignore[attr-defined]
    return "access" if "-access-" in disposition else "portability"


def test_access_request_over_http_yields_a_zip_of_all_the_subjects_data(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client, username="ada", name="Ada Lovelace")
    photo = photo_bytes(fmt="JPEG", seed=11)
    upload_id = _upload(client, headers, photo)
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    request_id = _fulfilled(client, worker, headers, "access")
    zf = _download(client, headers, request_id)
    assert {"index.html", "data.json", f"photos/{upload_id}.jpg"} <= set(zf.namelist())
    assert zf.read(f"photos/{upload_id}.jpg") == photo
    for fmt in ("stl", "glb", "obj"):
        served = client.get(f"/api/v1/models/{model_id}/content?format={fmt}", headers=headers)
        assert zf.read(f"models/{model_id}.{fmt}") == served.content
    doc = json.loads(zf.read("data.json"))
    assert (doc["profile"]["name"], doc["profile"]["email"]) == ("Ada Lovelace", "ada@example.org")
    assert len(doc["sessions"]) == 1
    page = zf.read("index.html").decode()
    for section in (
        "Ada Lovelace",
        "ada@example.org",
        "Purposes and lawful bases",
        "contract (Art. 6(1)(b))",
        "Categories of data and retention periods",
        "Until the user deletes them or the account.",
        "Recipients</h3><p>Nobody: our disclosure log records no disclosure",
        "Who accessed or changed your data, and when",
        "Source of the data",
        "Transfers outside the EU",
        "nothing is transferred outside the EU",
        "Automated decision-making",
        "Art. 22",
        "Portability (Art. 20)",
        "Art. 77",
        f'<img src="photos/{upload_id}.jpg"',
    ):
        assert section in page, section


def test_index_html_escapes_markup_in_the_subjects_name(client: TestClient, worker: Worker) -> None:
    name = "<script>alert(1)</script>"
    headers = signup_and_login(client, username="mallory", name=name)
    page = _download(client, headers, _fulfilled(client, worker, headers, "access"))
    html = page.read("index.html").decode()
    assert name not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert json.loads(page.read("data.json"))["profile"]["name"] == name


def test_portability_zip_has_a_schema_its_json_matches_and_the_original_files(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    photo = photo_bytes(fmt="PNG", seed=4)
    upload_id = _upload(client, headers, photo)
    zf = _download(client, headers, _fulfilled(client, worker, headers, "portability"))
    schema = json.loads(zf.read("schema.json"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert client.get("/api/v1/privacy/portability-schema.json").json() == schema
    doc = json.loads(zf.read("data.json"))
    validate(doc, schema)
    (listed,) = doc["photos"]
    assert listed["id"] == upload_id and zf.read(listed["file"]) == photo
    assert doc["profile"]["email"] == "ada@example.org"


def test_another_users_request_id_answers_exactly_like_a_missing_one(
    client: TestClient, worker: Worker
) -> None:
    owner = signup_and_login(client, username="ada")
    request_id = _fulfilled(client, worker, owner, "access")
    other = signup_and_login(client, username="eve")
    theirs = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=other)
    missing = client.get(f"/api/v1/privacy/requests/{'0' * 32}/download", headers=other)
    malformed = client.get("/api/v1/privacy/requests/..%2Fetc/download", headers=other)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert malformed.status_code == 404


def test_download_needs_a_signed_in_subject(client: TestClient, worker: Worker) -> None:
    headers = signup_and_login(client)
    request_id = _fulfilled(client, worker, headers, "access")
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download")
    assert r.status_code == 401


def test_download_before_completion_is_a_conflict(client: TestClient) -> None:
    headers = signup_and_login(client)
    request_id = _request(client, headers, "portability")
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_ready"


def test_a_request_that_makes_no_archive_has_nothing_to_download(
    client: TestClient, worker: Worker
) -> None:
    headers = signup_and_login(client)
    r = client.post(
        "/api/v1/privacy/requests",
        json={"type": "objection", "details": {"purposes": ["marketing"]}},
        headers=headers,
    )
    worker.run_until_idle()
    download = client.get(f"/api/v1/privacy/requests/{r.json()['id']}/download", headers=headers)
    assert download.status_code == 404


def _sign_in_again(client: TestClient, username: str) -> Headers:
    form = {"username": username, "password": "correct horse battery staple"}
    r = client.post("/api/v1/auth/token", data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_download_after_expiry_is_gone_and_the_blob_is_deleted(
    client: TestClient, worker: Worker, container: Container, clock: ManualClock
) -> None:
    headers = signup_and_login(client)
    _upload(client, headers, photo_bytes(fmt="JPEG"))
    request_id = _fulfilled(client, worker, headers, "access")
    with container.sessions() as s:
        blob_id = s.scalar(select(Archive.blob_id).where(Archive.request_id == request_id))
    assert blob_id is not None
    blob_file = container.settings.blob_dir / blob_id[:2] / blob_id
    assert blob_file.is_file()
    clock.advance(days=8)
    headers = _sign_in_again(client, "ada")
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 410  # past expiry, even before the sweep ran
    assert worker.run_duties()["retention"] >= 1  # the archives rule among others
    assert not blob_file.exists()
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "archive_expired"


def test_archives_and_their_downloads_are_audited_without_personal_data(
    client: TestClient, worker: Worker, container: Container
) -> None:
    # Every value is checked, the username too: none of these can occur in the hex ids,
    # tags and purposes an entry is made of (each has letters past "f"), so a hit is a leak.
    person = ("Zoltan Quirkwood", "zoltan.quirk@example.org", "zoltan_quirk")
    headers = signup_and_login(client, username=person[2], email=person[1], name=person[0])
    request_id = _fulfilled(client, worker, headers, "access")
    _download(client, headers, request_id)
    with container.sessions() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("rights:archive:%"))
        ).all()
    assert [e.action for e in entries] == ["rights:archive:created", "rights:archive:downloaded"]
    needles = needles_for(*person)
    for e in entries:
        row = " ".join(str(v) for v in (e.actor, e.subject, e.object, e.purpose)).encode()
        assert not any(n in row for n in needles), row


@pytest.mark.parametrize(
    "body",
    [
        {"type": "everything"},
        {"type": 15},
        {"type": None},
        {},
        {"type": "access", "details": "all of it"},
        {"type": "access", "details": ["all"]},
        {"type": "access", "details": 1},
        {"type": "access", "unknown": True},
    ],
)
def test_bad_request_input_is_refused_and_queues_nothing(
    client: TestClient, container: Container, body: dict[str, object]
) -> None:
    headers = signup_and_login(client)
    r = client.post("/api/v1/privacy/requests", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_failed"
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RightsRequest)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0
