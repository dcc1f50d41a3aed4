"""Erasure as a use case: what goes, what stays, races with running work, retries, replays."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event, func, insert, inspect, select, text

from minimaker.accounts import service as accounts
from minimaker.accounts.tables import LoginFailure, PasswordReset, User
from minimaker.adapters import audit_chain as audit
from minimaker.adapters import job_queue as queue
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.generation import usage
from minimaker.generation.export import FORMATS, export_mesh
from minimaker.generation.preview import model_pngs
from minimaker.generation.relief import relief_from_image
from minimaker.generation.tables import Model3D, ModelFile, ModelPreview
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import InvalidCredentials
from minimaker.kernel.purposes import Purpose
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.publication import service as publication
from minimaker.retention import holds
from minimaker.retention.tables import InactivityNotice, LegalHold
from minimaker.rights import erasure, intake
from minimaker.rights.consent import set_consents
from minimaker.rights.fulfil import Work
from minimaker.rights.objection import set_objections
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import Archive, RightsRequest, VerificationToken
from minimaker.sharing import service as sharing
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.rights.disclosures import PRINT_PARTNER, policy_naming

PASSWORD = "correct horse battery staple"


@dataclass
class Subject:
    id: str
    username: str
    upload_id: str
    model_id: str


def make_subject(c: Container, worker: Worker, username: str, *, seed: int) -> Subject:
    """A signed-in subject with a photo, a generated model, an objection and a consent."""
    profile = accounts.signup(
        c,
        name=f"{username} Example",
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    )
    accounts.login(c, login=username, password=PASSWORD, client_ip="192.0.2.1")
    up = uploads.create_upload(c, user_id=profile.id, data=photo_bytes(seed=seed))
    model = generation.request_model(c, user_id=profile.id, upload_id=up.id)
    worker.run_until_idle()
    set_objections(c, user_id=profile.id, objections={"marketing"})
    # A consent row too, so erasure is shown to take the consents table with it.
    set_consents(c, user_id=profile.id, consents={"marketing"})
    return Subject(profile.id, username, up.id, model.id)


def erase_now(c: Container, worker: Worker, subject_id: str) -> str:
    """Ask for erasure as the subject and let the real worker fulfil it; the request id."""
    request = intake.submit(c, user_id=subject_id, type="erasure")
    worker.run_until_idle()
    return request.id


def count(c: Container, column: Any, value: str) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).where(column == value)) or 0)


def per_subject(c: Container) -> list[Any]:
    """The owner column of every declared table where no row may name an erased subject."""
    return [
        getattr(d.table, d.owner)
        for d in c.personal_data.personal
        if isinstance(d.owner, str) and (not d.rows_survive or d.owner in d.scrub)
    ]


def rows_of(c: Container, subject_id: str) -> dict[str, int]:
    return {str(col): count(c, col, subject_id) for col in per_subject(c)}


def release_holds_of(c: Container, subject_id: str) -> None:
    """Release the subject's legal holds: while one stands, their erasure waits, held
    (tests/retention/test_hold_and_erasure.py). The late-writer test below shows that an
    erasure deletes a hold row all the same, one that comes too late to stop it."""
    for hold in holds.list_holds(c):
        if hold.subject_id == subject_id:
            holds.release_hold(c, hold_id=hold.id, actor=SYSTEM_CLI)


def blobs_of(c: Container, subject_id: str) -> set[str]:
    """Every blob a declared table's rows of the subject name."""
    with c.sessions() as s:
        return {
            blob_id
            for d in c.personal_data.with_blobs()
            for column in d.blobs
            for blob_id in s.scalars(
                select(getattr(d.table, column)).where(getattr(d.table, str(d.owner)) == subject_id)
            )
        }


def add_rows_no_api_writes_yet(c: Container, subject_id: str) -> None:
    """An archive (with its blob), a disclosure, a token, sent and failed mail, a job due later,
    an acknowledgement of the policy in force."""
    publication.publish_if_new(c)
    publication.acknowledge(c, user_id=subject_id, version=c.policy.version)
    with c.uow() as uow:
        dek = uow.keys.subject_key(subject_id)
        blob = c.blobs.put_bytes(dek, b"an archive of everything")
        uow.wrote_blob(blob.blob_id)
        request = intake.create_request(
            uow,
            subject_id=subject_id,
            type=RequestType.ACCESS,
            details=None,
            channel="email",
            actor=SYSTEM_CLI,
            verified=False,
        )
        now = c.clock.now()
        uow.session.add_all(
            [
                Archive(
                    id=uuid.uuid4().hex,
                    subject_id=subject_id,
                    request_id=request.id,
                    kind="access",
                    blob_id=blob.blob_id,
                    size_bytes=blob.ciphertext_size,
                    created_at=now,
                    expires_at=now + timedelta(days=7),
                ),
                VerificationToken(
                    token_hash=uuid.uuid4().hex * 2,
                    request_id=request.id,
                    expires_at=now + timedelta(days=1),
                ),
                usage.event_row(uow.keys, subject_id=subject_id, event="page.viewed", at=now),
                # Retention: a legal hold and an inactivity warning.
                LegalHold(
                    id=uuid.uuid4().hex,
                    subject_id=subject_id,
                    rule="photos",
                    reason="litigation",
                    reference="CASE-1",
                    set_by="system:cli",
                    set_at=now,
                ),
                InactivityNotice(
                    subject_id=subject_id, token_hash=uuid.uuid4().hex * 2, warned_at=now
                ),
                # Accounts: a password-reset link asked for.
                PasswordReset(
                    id=uuid.uuid4().hex,
                    user_id=subject_id,
                    token_hash=uuid.uuid4().hex * 2,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                ),
            ]
        )
        # A disclosure as the service makes one: to a processor the policy names.
        with policy_naming(c, PRINT_PARTNER):
            share = sharing.Share(
                PRINT_PARTNER["name"], Purpose.SERVICE, ("generated_model",), {}, subject_id
            )
            sharing.record(uow, sharing.clear(uow, share, actor=SYSTEM_CLI), actor=SYSTEM_CLI)
        for status in ("sent", "failed"):
            message = outbox.queue_message(
                uow,
                subject_id=subject_id,
                to="someone@example.org",
                kind="notice",
                subject="s",
                body="b",
            )
            uow.session.flush()
            uow.session.get_one(OutboxMessage, message).status = status
        queue.enqueue(
            uow.session,
            kind="generate_model",
            payload={"model_id": uuid.uuid4().hex},
            subject_id=subject_id,
            now=now + timedelta(days=1),  # not due yet: stays queued
        )
        uow.commit()


def test_erasure_deletes_every_row_and_blob_of_the_subject_and_nothing_of_anyone_else(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    bob = make_subject(c, worker, "bob", seed=2)
    for s in (ada, bob):
        add_rows_no_api_writes_yet(c, s.id)
    bob_rows = rows_of(c, bob.id)
    assert len(bob_rows) >= 10 and all(bob_rows.values())  # every table has rows to keep
    ada_blobs, bob_blobs = blobs_of(c, ada.id), blobs_of(c, bob.id)
    assert len(ada_blobs) == 1 + len(FORMATS) + 1 + 1  # photo, model files, preview, archive
    release_holds_of(c, ada.id)  # bob's hold stays: it changes nothing for her

    erase_now(c, worker, ada.id)

    assert set(rows_of(c, ada.id).values()) == {0}
    stored = set(c.blobs.store.iter_ids())
    assert not ada_blobs & stored
    assert bob_blobs <= stored
    assert rows_of(c, bob.id) == bob_rows
    with c.sessions() as s:
        requests = select(RightsRequest.id).where(RightsRequest.subject_id == ada.id)
        assert not s.scalars(
            select(VerificationToken).where(VerificationToken.request_id.in_(requests))
        ).all()
        mail = s.execute(
            select(OutboxMessage.kind, OutboxMessage.status).where(
                OutboxMessage.subject_id == ada.id
            )
        ).all()
        # Only the confirmation is left: sent or failed mail went with the subject.
        assert [m.kind for m in mail] == [erasure.CONFIRMATION]
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 0
        bob_jobs = s.scalars(select(Job.status).where(Job.subject_id == bob.id)).all()
        assert queue.QUEUED in bob_jobs  # another subject's queued work is not touched
    audit.verify(c.engine)


def test_erasure_forgets_the_keyed_hashes_of_the_subjects_failed_logins(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    for login in ("ada", "ADA@example.org"):
        with pytest.raises(InvalidCredentials):
            accounts.login(c, login=login, password="not the password", client_ip="192.0.2.9")
    with c.sessions() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 4  # account + IP
    erase_now(c, worker, ada.id)
    with c.sessions() as s:
        # The per-IP counters are not the subject's: they stay for their short window.
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 2


def test_a_generation_running_while_its_subject_is_erased_stops_cleanly_and_leaves_nothing(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    model = generation.request_model(c, user_id=ada.id, upload_id=ada.upload_id)
    job = queue.claim(c.engine, worker="test", now=clock.now(), lease_s=600)
    assert job is not None and job.payload == {"model_id": model.id}
    # Phase one of the real handler: the photo is read and decrypted, the job is running.
    loaded = generation._load_for_generation(c, job)
    assert loaded is not None

    # The subject is erased while the mesh is being made (the job's lease keeps it claimed).
    request_id = erase_now(c, worker, ada.id)
    assert intake.get_any(c, request_id=request_id).status == "completed"

    # Phase two of the same job, with real outputs: it finds the model gone and stops.
    with Image.open(io.BytesIO(loaded.photo)) as img:
        mesh = relief_from_image(img, loaded.params)
    outputs, pngs = {f: export_mesh(mesh, f) for f in FORMATS}, model_pngs(mesh, "relief")
    generation._store_generation(c, job, loaded, outputs, pngs)

    with c.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ModelFile)) == 0
        assert s.scalar(select(func.count()).select_from(ModelPreview)) == 0
        assert s.get(Model3D, model.id) is None
        left = s.get(Job, job.id)
        assert left is None or left.status in (queue.DONE, queue.CANCELLED)
        assert not s.scalars(select(Job).where(Job.status == queue.FAILED)).all()
    assert list(c.blobs.store.iter_ids()) == []
    assert worker.run_until_idle() == 0  # nothing left to retry


def test_a_generation_that_reaches_its_second_phase_after_the_key_went_stores_nothing(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    model = generation.request_model(c, user_id=ada.id, upload_id=ada.upload_id)
    job = queue.claim(c.engine, worker="test", now=clock.now(), lease_s=600)
    assert job is not None
    loaded = generation._load_for_generation(c, job)
    assert loaded is not None
    # The erasure has destroyed the key but not yet deleted the rows (it crashed in between).
    c.keys.destroy_subject_key(ada.id, now=clock.now())
    before = set(c.blobs.store.iter_ids())
    with Image.open(io.BytesIO(loaded.photo)) as img:
        mesh = relief_from_image(img, loaded.params)
    outputs, pngs = {f: export_mesh(mesh, f) for f in FORMATS}, model_pngs(mesh, "relief")
    generation._store_generation(c, job, loaded, outputs, pngs)
    assert set(c.blobs.store.iter_ids()) == before
    with c.sessions() as s:
        assert not s.scalars(select(ModelFile).where(ModelFile.model_id == model.id)).all()
        assert not s.scalars(select(ModelPreview).where(ModelPreview.model_id == model.id)).all()
        assert s.get_one(Job, job.id).status == queue.DONE


def test_a_second_erasure_request_completes_cleanly_without_a_second_confirmation(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    first = intake.submit(c, user_id=ada.id, type="erasure")
    second = intake.submit(c, user_id=ada.id, type="erasure", details={"reason": "twice"})
    worker.run_until_idle()
    for request in (first, second):
        row = intake.get_any(c, request_id=request.id)
        assert row.status == "completed"
    with c.sessions() as s:
        assert not s.scalars(select(Job).where(Job.status == queue.FAILED)).all()
        assert s.get_one(RightsRequest, second.id).details_enc is None
        kinds = s.scalars(select(OutboxMessage.kind).where(OutboxMessage.subject_id == ada.id))
        assert list(kinds) == [erasure.CONFIRMATION]
    files = [f.message_id for f in outbox.overview(c).files]
    assert len(files) == 1
    assert "To: ada@example.org" in outbox.show_file(c, message_id=files[0])
    audit.verify(c.engine)


def test_a_crash_after_the_key_was_destroyed_is_finished_by_the_jobs_retry(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    request = intake.submit(c, user_id=ada.id, type="erasure")
    c.keys.destroy_subject_key(ada.id, now=c.clock.now())  # as if (c) ran, then the crash
    worker.run_until_idle()
    assert intake.get_any(c, request_id=request.id).status == "completed"
    assert count(c, User.id, ada.id) == 0
    assert list(c.blobs.store.iter_ids()) == []


def test_replaying_the_ledger_erases_subjects_whose_rows_came_back_then_does_nothing(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    bob = make_subject(c, worker, "bob", seed=2)
    bob_blobs = blobs_of(c, bob.id)
    # Rows of an erased subject, as a restored backup brings them back: the ledger knows.
    c.keys.destroy_subject_key(ada.id, now=c.clock.now())

    assert erasure.replay_ledger(c) == 1
    assert set(rows_of(c, ada.id).values()) == {0}
    assert set(c.blobs.store.iter_ids()) == bob_blobs
    assert erasure.replay_ledger(c) == 0
    with c.sessions() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.subject == ada.id))
        assert "subject:erasure:replayed" in list(actions)
    audit.verify(c.engine)


def test_the_erased_subject_cannot_sign_in_and_the_other_still_can(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    make_subject(c, worker, "bob", seed=2)
    erase_now(c, worker, ada.id)
    with pytest.raises(InvalidCredentials):
        accounts.login(c, login="ada", password=PASSWORD, client_ip="192.0.2.1")
    assert accounts.login(c, login="bob", password=PASSWORD, client_ip="192.0.2.1").token


@contextmanager
def statements_on(c: Container) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT, UPDATE and DELETE the data database runs while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE") and not many:
            seen.append((sql, params))

    event.listen(c.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(c.engine, "before_cursor_execute", record)


def full_scans(c: Container, sql: str, params: Any) -> list[str]:
    """The plan steps of `sql` that read a whole table (with no index able to serve it)."""
    with c.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            return [row[3] for row in plan if str(row[3]).startswith("SCAN ")]
        # PostgreSQL picks a sequential scan for tiny tables; forbid it to see whether an
        # index could serve the statement at all.
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.exec_driver_sql("EXPLAIN " + sql, params).scalars().all()
        conn.rollback()
        return [line for line in plan if "Seq Scan" in line]


def test_every_statement_of_an_erasure_and_a_replay_is_served_by_an_index(
    container: Container, worker: Worker
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    add_rows_no_api_writes_yet(c, ada.id)
    release_holds_of(c, ada.id)
    work = Work(uuid.uuid4().hex, ada.id, RequestType.ERASURE, {})
    with statements_on(c) as seen:
        erasure.erase(c, work)
        erasure.replay_ledger(c)
    assert len(seen) > 15
    scans = {sql: full_scans(c, sql, params) for sql, params in seen}
    # Deleting a photo makes the database SET NULL models.upload_id: indexed, so no scan.
    found = {(sql, step) for sql, plan in scans.items() for step in plan}
    assert found == set()


def test_models_upload_id_is_indexed_so_deleting_a_photo_reads_no_other_models(
    container: Container,
) -> None:
    indexes = inspect(container.engine).get_indexes("models")
    assert any(ix["column_names"][:1] == ["upload_id"] for ix in indexes)


def test_an_erasure_whose_file_cannot_be_deleted_stays_open_and_completes_once_it_can(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    bob = make_subject(c, worker, "bob", seed=2)
    ada_blobs, bob_blobs = blobs_of(c, ada.id), blobs_of(c, bob.id)
    stuck = sorted(ada_blobs)[1]
    # A file the store cannot delete (unlink refuses a directory, even to root): a store
    # fault, as a read-only mount or an S3 outage gives.
    path = c.settings.blob_dir / stuck[:2] / stuck
    path.unlink()
    (path / "keep").mkdir(parents=True)
    request = intake.submit(c, user_id=ada.id, type="erasure")

    worker.run_until_idle()

    assert intake.get_any(c, request_id=request.id).status == "in_progress"
    assert count(c, User.id, ada.id) == 1  # the rows stay: they say which files are Ada's
    assert not c.keys.has_subject_key(ada.id)  # the key went first: nothing is readable
    with c.sessions() as s:
        job = s.scalars(select(Job).where(Job.kind == "fulfil_request")).one()
        assert (job.status, job.last_error) == (
            queue.QUEUED,
            "erasure unfinished: 1 of 5 files could not be deleted yet; it is retried",
        )
    for _ in range(4):  # however often the store fails, the erasure is never given up
        clock.advance(hours=2)
        worker.run_until_idle()
        assert intake.get_any(c, request_id=request.id).status == "in_progress"

    (path / "keep").rmdir()
    path.rmdir()  # the store works again
    clock.advance(hours=2)
    worker.run_until_idle()

    assert intake.get_any(c, request_id=request.id).status == "completed"
    assert set(rows_of(c, ada.id).values()) == {0}
    assert set(c.blobs.store.iter_ids()) == bob_blobs
    audit.verify(c.engine)


def test_an_erasure_that_finds_rows_of_the_subject_left_is_retried_before_it_completes(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    c = container
    ada = make_subject(c, worker, "ada", seed=1)
    fired: list[bool] = []

    def late_writer(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        # A row of the subject written in the erasure's own transaction after its table's
        # deletion ran, as a racing writer would leave one: the last probe must see it.
        if sql.lstrip().upper().startswith("DELETE FROM LEGAL_HOLDS") and not fired:
            fired.append(True)
            conn.execute(
                insert(LegalHold).values(
                    id=uuid.uuid4().hex,
                    subject_id=ada.id,
                    rule="photos",
                    reason="litigation",
                    reference="CASE-2",
                    set_by="system:cli",
                    set_at=c.clock.now(),
                )
            )

    event.listen(c.engine, "after_cursor_execute", late_writer)
    try:
        request = intake.submit(c, user_id=ada.id, type="erasure")
        worker.run_once()
    finally:
        event.remove(c.engine, "after_cursor_execute", late_writer)

    assert fired
    assert intake.get_any(c, request_id=request.id).status == "in_progress"
    with c.sessions() as s:
        job = s.scalars(select(Job).where(Job.kind == "fulfil_request")).one()
        assert job.last_error is not None
        assert "rows of the subject are still there" in job.last_error
    clock.advance(hours=1)  # its backoff over
    worker.run_until_idle()
    assert intake.get_any(c, request_id=request.id).status == "completed"
    assert set(rows_of(c, ada.id).values()) == {0}
    assert count(c, LegalHold.subject_id, ada.id) == 0
