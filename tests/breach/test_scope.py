"""Scoping from the audit chain and the registry: a compromised staff account finds exactly the
subjects it read; a window its subjects; blobs their owners (policy 8; Art. 33(3)(a))."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from minimaker.breach.exposure import CategoryCount, Exposure, ExposureKind
from minimaker.breach.scope import scope
from minimaker.breach.scope_rows import count_rows
from minimaker.corpus.tables import StagedCopy
from minimaker.generation import usage as usage_events
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.uploads import service as uploads
from tests.breach.seeding import (
    staff_breach,
    staff_member,
    staff_reads,
    subject,
    upload,
)
from tests.conftest import photo_bytes


def _count(result: object, category: str) -> CategoryCount | None:
    found = [c for c in result.categories if c.category == category]  # type: ignore[attr-defined]
    return found[0] if found else None


def test_a_compromised_staff_account_scopes_exactly_the_subjects_it_read(
    container: Container, clock: ManualClock
) -> None:
    c = container
    w = staff_breach(c, clock)
    result = scope(c, [Exposure(ExposureKind.STAFF_ACCOUNT, start=w.since, ref=w.sam)])
    assert result.subject_ids == {w.ada, w.bob}
    assert _count(result, "account") is not None and _count(result, "account").subjects == 2
    photos = _count(result, "uploaded_image")
    assert photos == CategoryCount("uploaded_image", subjects=1, records=2)  # ada's two, not dee's
    assert result.encrypted_under_uncompromised_keys is False
    assert "decrypted" in result.encryption_note


def test_a_staff_account_scoped_from_after_its_reads_finds_no_one(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada = subject(c, "ada")
    sam = staff_member(c, "sam")
    staff_reads(c, "sam", [ada])
    clock.advance(minutes=5)
    later = clock.now()
    assert scope(c, [Exposure(ExposureKind.STAFF_ACCOUNT, start=later, ref=sam)]).subjects == 0
    before = later - timedelta(minutes=1)
    ended = scope(c, [Exposure(ExposureKind.STAFF_ACCOUNT, end=before, ref=sam)])
    assert ended.subject_ids == {ada}


def test_a_window_scopes_the_subjects_the_audit_names_in_it(
    container: Container, clock: ManualClock
) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    clock.advance(days=1)
    start = clock.now()
    upload(c, bob)
    clock.advance(minutes=10)
    end = clock.now()
    clock.advance(minutes=10)
    upload(c, ada)  # after the window
    result = scope(c, [Exposure(ExposureKind.WINDOW, start=start, end=end)])
    assert result.subject_ids == {bob}
    assert result.encrypted_under_uncompromised_keys is False


def test_blobs_scope_their_owners_and_a_corpus_or_unknown_blob_counts_for_no_one(
    container: Container,
) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    ada_blob, bob_blob = upload(c, ada, seed=1), upload(c, bob, seed=2)
    doomed = uploads.create_upload(c, user_id=bob, data=photo_bytes(seed=3))
    uploads.delete_upload(c, user_id=bob, upload_id=doomed.id)  # its copy goes to the corpus
    with c.sessions() as s:
        corpus_blob = s.scalar(select(StagedCopy.blob_id))
    assert corpus_blob is not None
    unknown = "f" * 32
    result = scope(c, [Exposure(ExposureKind.BLOBS, blob_ids=(ada_blob, corpus_blob, unknown))])
    assert result.subject_ids == {ada}
    assert result.categories == (CategoryCount("uploaded_image", 1, 1),)
    assert result.encrypted_under_uncompromised_keys is True
    assert any("non-personal" in n for n in result.notes)
    assert any("named by no row" in n for n in result.notes)
    assert bob_blob not in str(result.notes)


def test_the_database_location_scopes_every_subject_with_rows(container: Container) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    upload(c, bob)
    result = scope(c, [Exposure(ExposureKind.LOCATION, ref="database")])
    assert result.subject_ids == {ada, bob}
    assert _count(result, "uploaded_image") == CategoryCount("uploaded_image", 1, 1)
    assert result.encrypted_under_uncompromised_keys is True
    assert any("Not encrypted" in n for n in result.notes)  # honest about what is clear
    blobs = scope(c, [Exposure(ExposureKind.LOCATION, ref="blobs")])
    assert blobs.subject_ids == {bob}


def test_several_exposures_add_up_and_one_key_exposed_means_not_protected(
    container: Container,
) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    blob = upload(c, ada)
    result = scope(
        c,
        [
            Exposure(ExposureKind.BLOBS, blob_ids=(blob,)),
            Exposure(ExposureKind.KEY, ref=f"subject:{bob}"),
        ],
    )
    assert result.subject_ids == {ada, bob}
    assert result.encrypted_under_uncompromised_keys is False
    assert "data key was exposed" in result.encryption_note


def test_usage_events_are_counted_for_many_subjects_at_once_as_one_at_a_time(
    container: Container, clock: ManualClock
) -> None:
    c = container
    many = [uuid.uuid4().hex for _ in range(150)]  # over the one-at-a-time limit of 100
    with c.uow() as uow:
        for i, subject_id in enumerate(many):
            for days_ago in range(i % 3):
                at = clock.now() - timedelta(days=days_ago)
                usage_events.record(uow, subject_id=subject_id, event="page.viewed", at=at)
        usage_events.record(uow, subject_id="someone-else", event="page.viewed", at=clock.now())
        uow.commit()
    with c.uow(write=False) as uow:
        found = count_rows(uow, c.personal_data, many)
        one_by_one = {s: usage_events.count_of(uow, s) for s in many}
    assert found.records["usage_event"] == {s: n for s, n in one_by_one.items() if n}
    assert sum(found.records["usage_event"].values()) == 150  # 0 + 1 + 2 per three subjects
    assert not any("usage_events" in note for note in found.notes)
