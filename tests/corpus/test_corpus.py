"""The corpus store (policy 9.2): who may enter it, when, and that nothing links it back."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from skimage import data as samples
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.corpus import service as corpus
from minimaker.corpus.tables import CorpusBatch, CorpusItem, StagedCopy
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import sweep
from minimaker.rights import erasure
from minimaker.rights.consent import set_consents
from minimaker.rights.objection import set_objections
from minimaker.rights.restriction import set_restriction
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.scan import scan_database


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of four: the rule is the same, the suite is faster than with twenty."""
    monkeypatch.setattr(corpus, "BATCH_MIN", 4)


def _subject(c: Container, username: str) -> str:
    return accounts.signup(
        c,
        name="Ada Lovelace",
        email=f"{username}@example.org",
        username=username,
        password="correct horse battery staple",
    ).id


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(samples.astronaut()).resize((256, 256)).save(buf, "JPEG")
    return buf.getvalue()


def _upload_and_delete(c: Container, user_id: str, data: bytes | None = None) -> tuple[str, str]:
    """The upload id and blob id of a photo the user stored and then deleted."""
    up = uploads.create_upload(c, user_id=user_id, data=data or photo_bytes())
    with c.sessions() as s:
        blob_id = s.scalar(select(uploads.Upload.blob_id).where(uploads.Upload.id == up.id))
    uploads.delete_upload(c, user_id=user_id, upload_id=up.id)
    assert blob_id is not None
    return up.id, blob_id


def _count(c: Container, table: type) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _fill_batch(c: Container, user_id: str, photos: int) -> None:
    for _ in range(photos):
        _upload_and_delete(c, user_id)


def test_a_deleted_photo_is_staged_then_admitted_in_a_batch(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    _fill_batch(c, user, corpus.BATCH_MIN - 1)
    assert corpus.admit_staged(c) == 0  # too few to hide among
    _fill_batch(c, user, 1)
    assert corpus.admit_staged(c) == corpus.BATCH_MIN
    assert (_count(c, StagedCopy), _count(c, CorpusItem)) == (0, corpus.BATCH_MIN)
    _fill_batch(c, user, corpus.BATCH_MIN)
    assert corpus.admit_staged(c) == 0  # a second batch the same day would date it finer
    clock.advance(seconds=corpus.BATCH_EVERY.total_seconds() + 1)
    assert corpus.admit_staged(c) == corpus.BATCH_MIN
    item = corpus.training_items(c)[0]
    assert item.month == f"{clock.now():%Y-%m}"
    assert Image.open(io.BytesIO(corpus.read_item(c, item.id))).format == "JPEG"


def test_nothing_links_a_corpus_item_to_its_subject(container: Container) -> None:
    c = container
    user = _subject(c, "ada")
    originals = [_upload_and_delete(c, user, _photo() if i == 0 else None) for i in range(4)]
    corpus.admit_staged(c)
    with c.sessions() as s:
        items = s.scalars(select(CorpusItem)).all()
        corpus_audit = s.scalars(select(AuditEntry).where(AuditEntry.action.like("corpus:%")))
        audit_objects = [e.object or "" for e in s.scalars(select(AuditEntry))]
        assert [(e.subject, e.object) for e in corpus_audit] == [(None, "items:4")]
    assert len(items) == 4
    needles = [user.encode()] + [v.encode() for pair in originals for v in pair]
    corpus_tables = {"corpus_items", "corpus_staged", "corpus_batches"}
    found = scan_database(c.engine, needles, set())
    assert corpus_tables.isdisjoint(found)
    stored = set(c.blobs.store.iter_ids())
    assert {blob for _, blob in originals}.isdisjoint(stored)  # the originals are gone
    for item in items:  # and no audit entry names an item or its blob
        assert not any(item.id in o or item.blob_id in o for o in audit_objects)


def test_an_objection_to_training_keeps_everything_of_theirs_out(container: Container) -> None:
    c = container
    user = _subject(c, "ada")
    set_objections(c, user_id=user, objections={"training"})
    _fill_batch(c, user, corpus.BATCH_MIN)
    assert (_count(c, StagedCopy), corpus.admit_staged(c), _count(c, CorpusItem)) == (0, 0, 0)


def test_a_restricted_subject_gives_nothing(container: Container) -> None:
    c = container
    user = _subject(c, "ada")
    up = uploads.create_upload(c, user_id=user, data=photo_bytes())
    set_restriction(c, user_id=user, restricted=True)
    blobs_before = set(c.blobs.store.iter_ids())
    with c.uow() as uow:
        blob_id = uploads.owned_upload(uow, user_id=user, upload_id=up.id).blob_id
    assert corpus.prepare(c, subject_id=user, kind="photo", blob_id=blob_id) is None
    uploads.delete_upload(c, user_id=user, upload_id=up.id)
    assert _count(c, StagedCopy) == 0
    assert set(c.blobs.store.iter_ids()) == blobs_before - {blob_id}  # no copy was written


def test_marketing_uses_only_items_of_those_who_consented(container: Container) -> None:
    c = container
    willing, unwilling = _subject(c, "ada"), _subject(c, "bob")
    set_consents(c, user_id=willing, consents={"marketing"})
    _fill_batch(c, willing, 3)
    _fill_batch(c, unwilling, corpus.BATCH_MIN)
    corpus.admit_staged(c)
    assert len(corpus.training_items(c)) == corpus.BATCH_MIN + 3
    shown = corpus.marketing_items(c, 100)
    assert len(shown) == 3 and all(item.marketing_allowed for item in shown)
    assert len(corpus.marketing_items(c, 2)) == 2


def test_erasing_the_subject_leaves_the_corpus_intact_and_readable(
    container: Container, worker: Worker
) -> None:
    c = container
    user = _subject(c, "ada")
    _fill_batch(c, user, corpus.BATCH_MIN)
    corpus.admit_staged(c)
    before = {i.id: corpus.read_item(c, i.id) for i in corpus.training_items(c)}
    c.keys.destroy_subject_key(user, now=c.clock.now())
    erasure.erase_rows(c, subject_id=user)
    assert not c.keys.has_subject_key(user)
    assert {i.id: corpus.read_item(c, i.id) for i in corpus.training_items(c)} == before


def test_an_undecodable_blob_is_not_offered_and_nothing_is_half_written(
    container: Container,
) -> None:
    c = container
    user = _subject(c, "ada")
    up = uploads.create_upload(c, user_id=user, data=photo_bytes())
    dek = c.keys.subject_key(user)
    with c.uow() as uow:
        blob_id = uploads.owned_upload(uow, user_id=user, upload_id=up.id).blob_id
    c.blobs.put(dek, io.BytesIO(b"no photo at all"), blob_id=blob_id)  # overwritten
    blobs_before = set(c.blobs.store.iter_ids())
    copy = corpus.prepare(c, subject_id=user, kind="photo", blob_id=blob_id)
    assert copy is not None and copy.blob_id is None
    assert set(c.blobs.store.iter_ids()) == blobs_before
    with c.uow() as uow:
        assert corpus.stage(uow, copy) is False
        uow.commit()
    with c.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action.like("corpus:%"))).all()
    assert [(e.action, e.subject, e.object) for e in audit] == [
        ("corpus:offer:undecodable", None, "photos:1")
    ]
    assert _count(c, StagedCopy) == 0
    uploads.delete_upload(c, user_id=user, upload_id=up.id)  # the deletion itself goes on
    assert uploads.list_uploads(c, user_id=user) == []


def test_the_stray_sweep_leaves_corpus_blobs_alone(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    _fill_batch(c, user, corpus.BATCH_MIN)
    corpus.admit_staged(c)
    clock.advance(seconds=c.settings.sweep_grace_s + 60)
    sweep.sweep_strays(c)
    assert [corpus.read_item(c, i.id) for i in corpus.training_items(c)]
    assert _count(c, CorpusBatch) == 1
