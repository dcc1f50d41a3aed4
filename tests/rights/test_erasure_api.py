"""Erasure over HTTP, end to end: afterwards nothing of the subject is readable anywhere."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import Image
from sqlalchemy import Engine, select

from minimaker.accounts import service as accounts
from minimaker.adapters import audit_chain as audit
from minimaker.adapters.keystore import ErasureRecord, KeyBase
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.mail.outbox import show_file
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import erasure, intake
from minimaker.rights.tables import RightsRequest
from tests.conftest import signup_and_login
from tests.scan import needles_for, scan_database, scan_files, windows

#: The key store's list of whom to erase again (in the same database on PostgreSQL).
LEDGER = ErasureRecord.__tablename__
#: The key store's own tables: the subject's key, whose erasure is the first step.
KEY_STORE = set(KeyBase.metadata.tables)


def records(c: Container) -> set[str]:
    """Where a subject's pseudonymous id may remain after erasure: each declared with why."""
    registry = c.personal_data
    # Rows an erasure keeps on purpose and that still name the subject (requests, mail)...
    kept = {
        d.name
        for d in registry.personal
        if d.rows_survive and isinstance(d.owner, str) and d.owner not in d.scrub
    }
    # ...and tables declared not personal with their reason (the audit log, Art. 5(2)).
    return kept | {d.name for d in registry.not_personal} | {LEDGER}


@dataclass
class Person:
    """A subject as the tests know them: what they typed, what they uploaded, what they own."""

    name: str
    email: str
    username: str
    seed: int
    password: str = "correct horse battery staple"
    id: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    photos: dict[str, bytes] = field(default_factory=dict)  # upload id -> bytes sent
    models: list[str] = field(default_factory=list)

    def needles(self) -> list[bytes]:
        return needles_for(self.email, self.name, self.username)

    def photo_windows(self) -> set[bytes]:
        return set().union(*(windows(p) for p in self.photos.values()))


def noisy_photo(seed: int) -> bytes:
    """A high-entropy JPEG, so any 32-byte window of it is unique to it."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def sign_in(client: TestClient, person: Person) -> int:
    r = client.post(
        "/api/v1/auth/token", data={"username": person.username, "password": person.password}
    )
    if r.status_code == 200:
        person.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return r.status_code


def populate(client: TestClient, worker: Worker, person: Person, *, photos: int = 2) -> Person:
    """Sign up, upload noisy photos and make a model of the first (run by the real worker)."""
    r = client.post(
        "/api/v1/auth/signup",
        json={
            "name": person.name,
            "email": person.email,
            "username": person.username,
            "password": person.password,
        },
    )
    assert r.status_code == 201, r.text
    person.id = r.json()["id"]
    assert sign_in(client, person) == 200
    for i in range(photos):
        data = noisy_photo(person.seed * 100 + i)
        up = client.post(
            "/api/v1/uploads", files={"file": ("p.jpg", data, "image/jpeg")}, headers=person.headers
        )
        assert up.status_code == 201, up.text
        person.photos[up.json()["id"]] = data
    first = next(iter(person.photos))
    model = client.post(f"/api/v1/uploads/{first}/models", headers=person.headers)
    assert model.status_code == 202, model.text
    person.models.append(model.json()["id"])
    worker.run_until_idle()
    got = client.get(f"/api/v1/models/{person.models[0]}", headers=person.headers).json()
    assert got["status"] == "done", got
    return person


def use_every_right(client: TestClient, worker: Worker, person: Person) -> None:
    """Objections, requests with sealed details, an archive if it exists, then a restriction."""
    put = client.put(
        "/api/v1/privacy/preferences",
        json={"objections": {"training": True, "marketing": True, "analytics": False}},
        headers=person.headers,
    )
    assert put.status_code == 200, put.text
    requests = [
        {"type": "objection", "details": {"purposes": ["analytics"]}},
        {"type": "access"},
        {"type": "restriction"},
    ]
    for body in requests:
        r = client.post("/api/v1/privacy/requests", json=body, headers=person.headers)
        assert r.status_code == 202, r.text
        worker.run_until_idle()


def ada_and_grace(client: TestClient, worker: Worker) -> tuple[Person, Person]:
    ada = populate(
        client,
        worker,
        Person("Augusta Ada Byronova", "ada.byronova@example.org", "analyticalengine", seed=1815),
    )
    use_every_right(client, worker, ada)
    grace = populate(
        client,
        worker,
        Person("Grace Brewster Hopperova", "grace.hopperova@example.org", "cobolmother", seed=1906),
    )
    return ada, grace


def rows_naming(engine: Engine, subject_id: str) -> set[str]:
    """Tables where any value of any row contains the subject's pseudonymous id."""
    return set(scan_database(engine, [subject_id.encode()], set()))


def scan_stores(data_dir: Path, needles: list[bytes], photo: set[bytes]) -> dict[str, list[str]]:
    """Every file under the data directory (databases, WAL, blobs, key store, the outbox
    folder's mail), read raw, with no exception."""
    return scan_files(data_dir, needles, photo)


def assert_nothing_readable_left(c: Container, person: Person) -> None:
    """No trace of the person's name, email, username or photos, in any table or file."""
    needles, photo = person.needles(), person.photo_windows()
    assert scan_database(c.engine, needles, photo) == {}
    assert scan_database(c.key_engine, needles, photo) == {}
    assert scan_stores(c.settings.data_dir, needles, photo) == {}
    assert not c.keys.has_subject_key(person.id)
    assert rows_naming(c.engine, person.id) <= records(c)
    assert rows_naming(c.key_engine, person.id) <= records(c)


def assert_intact(client: TestClient, person: Person) -> None:
    """The person can sign in, and every photo and model decrypts to what they sent."""
    assert sign_in(client, person) == 200
    for upload_id, data in person.photos.items():
        r = client.get(f"/api/v1/uploads/{upload_id}/content", headers=person.headers)
        assert r.status_code == 200
        assert r.content == data
    for model_id in person.models:
        r = client.get(
            f"/api/v1/models/{model_id}/content", params={"format": "stl"}, headers=person.headers
        )
        assert r.status_code == 200
        assert len(r.content) > 84


def delete_me(client: TestClient, headers: dict[str, str], password: object = None) -> Response:
    """DELETE /api/v1/me, with `{"password": ...}` as its body unless `password` is None."""
    body = None if password is None else {"password": password}
    return client.request("DELETE", "/api/v1/me", json=body, headers=headers)


def ask_for_erasure(client: TestClient, person: Person, how: str) -> dict[str, object]:
    if how == "privacy request":
        r = client.post(
            "/api/v1/privacy/requests",
            json={"type": "erasure", "password": person.password},
            headers=person.headers,
        )
    else:
        r = delete_me(client, person.headers, person.password)
    assert r.status_code == 202, r.text
    body: dict[str, object] = r.json()
    assert body["type"] == "erasure"
    assert body["status"] == "verified"
    return body


@pytest.mark.parametrize("how", ["privacy request", "delete the account"])
def test_erasure_leaves_no_readable_trace_of_the_subject_and_spares_everyone_else(
    client: TestClient, worker: Worker, container: Container, how: str
) -> None:
    ada, grace = ada_and_grace(client, worker)
    old_headers = dict(ada.headers)
    had = rows_naming(container.engine, ada.id)
    # Every table that named her is declared, and most of them are to be emptied of her.
    assert had <= container.personal_data.names | KEY_STORE
    # There was something to erase (usage events name her only by a day's pseudonym).
    assert len(had - records(container)) >= 8
    request = ask_for_erasure(client, ada, how)
    worker.run_until_idle()

    assert_nothing_readable_left(container, ada)
    audit.verify(container.engine)
    assert erasure.replay_ledger(container) == 0  # nothing left that a restart would redo
    # The erased subject is gone for the service too: no sign-in, no live session.
    assert sign_in(client, ada) == 401
    assert client.get("/api/v1/me", headers=old_headers).status_code == 401
    assert_intact(client, grace)
    # The request stays as a pseudonymous record, with no personal data in it.
    with container.uow(write=False) as uow:
        row = uow.session.get(RightsRequest, str(request["id"]))
        assert row is not None
        assert (row.status, row.details_enc) == ("completed", None)
        others = uow.session.scalars(
            select(RightsRequest).where(RightsRequest.subject_id == ada.id)
        ).all()
        assert all(r.details_enc is None for r in others)
        # The confirmation was queued before the key went, and was delivered after it.
        mail = uow.session.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status).where(
                OutboxMessage.subject_id == ada.id
            )
        ).all()
    assert [(m.kind, m.status) for m in mail] == [(erasure.CONFIRMATION, "sent")]
    # Sealed in the folder (the scans above read it raw); the operator can still open it.
    delivered = show_file(container, message_id=mail[0].id)
    assert f"To: {ada.email}" in delivered
    assert "erased" in delivered
    assert not list(container.settings.outbox_dir.iterdir())  # shown once, then removed


def test_the_erased_subjects_ids_answer_like_anyone_elses_missing_objects(
    client: TestClient, worker: Worker
) -> None:
    ada, grace = ada_and_grace(client, worker)
    ask_for_erasure(client, ada, "privacy request")
    worker.run_until_idle()
    assert sign_in(client, grace) == 200
    for upload_id in ada.photos:
        r = client.get(f"/api/v1/uploads/{upload_id}/content", headers=grace.headers)
        assert r.status_code == 404
    r = client.get(f"/api/v1/models/{ada.models[0]}", headers=grace.headers)
    assert r.status_code == 404


def test_deleting_the_account_needs_a_signed_in_subject(client: TestClient) -> None:
    assert client.delete("/api/v1/me").status_code == 401
    r = client.delete("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_an_erasure_request_appears_in_the_subjects_list_until_it_is_fulfilled(
    client: TestClient, worker: Worker
) -> None:
    ada = populate(
        client, worker, Person("Ida Rhodesova", "ida.rhodesova@example.org", "rhodesida", 7)
    )
    request = ask_for_erasure(client, ada, "delete the account")
    listed = client.get("/api/v1/privacy/requests", headers=ada.headers).json()
    assert [(r["id"], r["type"]) for r in listed] == [(request["id"], "erasure")]
    worker.run_until_idle()
    assert client.get("/api/v1/privacy/requests", headers=ada.headers).status_code == 401


# --- proof of the person ------------------------------------------------------------------


PW = "correct horse battery staple"


@pytest.fixture
def ada_signed_in(client: TestClient, container: Container) -> dict[str, str]:
    """Ada, signed in on `client` (a known device from then on); her bearer headers."""
    return signup_and_login(client, username="ada")


def erasure_requests(container: Container) -> list[str]:
    with container.sessions() as session:
        return list(session.scalars(select(RightsRequest.id)).all())


@pytest.mark.parametrize(
    ("password", "status", "says"),
    [
        (None, 403, "your current password is required"),
        ("", 403, "your current password is required"),
        ("not the password at all", 403, "the password is not correct"),
    ],
    ids=["no body", "empty", "wrong"],
)
def test_deleting_the_account_without_the_right_password_is_refused_and_asks_nothing(
    client: TestClient,
    container: Container,
    ada_signed_in: dict[str, str],
    password: str | None,
    status: int,
    says: str,
) -> None:
    r = delete_me(client, ada_signed_in, password)
    assert r.status_code == status, r.text
    assert says in r.text and "nothing was changed" in r.text
    assert erasure_requests(container) == []
    assert client.get("/api/v1/me", headers=ada_signed_in).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"type": "erasure"},
        {"type": "erasure", "password": ""},
        {"type": "erasure", "password": "not the password at all"},
        {"type": "erasure", "details": {"password": PW}},
    ],
    ids=["no password", "empty", "wrong", "password hidden in details"],
)
def test_an_erasure_asked_as_a_privacy_request_also_needs_the_password(
    client: TestClient, container: Container, ada_signed_in: dict[str, str], body: object
) -> None:
    r = client.post("/api/v1/privacy/requests", json=body, headers=ada_signed_in)
    assert r.status_code == 403, r.text
    assert "nothing was changed" in r.text
    assert erasure_requests(container) == []
    # Other requests ask no password: they destroy nothing.
    access = client.post("/api/v1/privacy/requests", json={"type": "access"}, headers=ada_signed_in)
    assert access.status_code == 202, access.text


@pytest.mark.parametrize(
    "body",
    [{}, {"password": 42}, {"password": ["x"]}, {"password": "x", "also": 1}, "a string"],
    ids=["no password", "a number", "a list", "an extra field", "not an object"],
)
def test_a_malformed_proof_is_refused_and_asks_nothing(
    client: TestClient, container: Container, ada_signed_in: dict[str, str], body: object
) -> None:
    r = client.request("DELETE", "/api/v1/me", json=body, headers=ada_signed_in)
    assert r.status_code in (403, 422), r.text
    assert erasure_requests(container) == []


def test_wrong_passwords_to_delete_count_as_failed_sign_ins_of_the_account(
    client: TestClient, container: Container, ada_signed_in: dict[str, str]
) -> None:
    limit = container.settings.login_max_failures
    # A thief with Ada's bearer token, on a client of their own, guesses her password.
    with TestClient(client.app, base_url="https://testserver") as thief:
        for _ in range(limit):
            assert delete_me(thief, ada_signed_in, "a guess at it").status_code == 403
        refused = delete_me(thief, ada_signed_in, PW)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        signed_in = thief.post("/api/v1/auth/token", data={"username": "ada", "password": PW})
        assert signed_in.status_code == 429
    assert erasure_requests(container) == []
    # Ada's own client signed in before: the guesses of others do not lock her out.
    assert delete_me(client, ada_signed_in, PW).status_code == 202


def test_asking_again_while_an_erasure_is_open_answers_with_that_one_request(
    client: TestClient, container: Container, ada_signed_in: dict[str, str]
) -> None:
    answers = [delete_me(client, ada_signed_in, PW) for _ in range(3)]
    assert [a.status_code for a in answers] == [202] * 3
    ids = {a.json()["id"] for a in answers}
    by_request = client.post(
        "/api/v1/privacy/requests", json={"type": "erasure", "password": PW}, headers=ada_signed_in
    )
    assert by_request.status_code == 202
    assert ids == {by_request.json()["id"]}
    assert erasure_requests(container) == list(ids)


def test_concurrent_asks_for_erasure_open_one_request(
    container: Container, ada_signed_in: dict[str, str]
) -> None:
    user_id = client_user(container, ada_signed_in)
    with ThreadPoolExecutor(4) as pool:
        asks = [
            pool.submit(intake.submit, container, user_id=user_id, type="erasure") for _ in range(4)
        ]
        ids = {a.result().id for a in asks}
    assert len(ids) == 1
    assert erasure_requests(container) == list(ids)


def client_user(container: Container, headers: dict[str, str]) -> str:
    return str(accounts.authenticate(container, headers["Authorization"].split()[1]))
