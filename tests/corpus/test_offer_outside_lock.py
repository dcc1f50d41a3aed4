"""Policy 9.2's offer in two steps: the anonymisation (`prepare`) runs outside every write unit,
so a delete or a retention batch never holds SQLite's write lock through face detection or a
model's re-export; the unit that deletes stages the copy (`stage`) or it is thrown away."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from PIL import Image
from skimage import data as samples
from sqlalchemy import func, select, text

from minimaker import bootstrap
from minimaker.corpus import service as corpus
from minimaker.corpus.tables import StagedCopy
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.operations import sweep
from minimaker.retention import service as retention
from minimaker.rights.objection import set_objections
from minimaker.rights.restriction import set_restriction
from minimaker.uploads import service as uploads
from minimaker.uploads.tables import Upload
from tests.corpus.test_corpus import _subject

#: How long a test waits for a copy to appear before it calls the step blocked.
WAIT_S = 20.0


def _large_photo() -> bytes:
    """A real 1024 px photo with a face: what the detector takes longest over."""
    buf = io.BytesIO()
    Image.fromarray(samples.astronaut()).resize((1024, 1024)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _upload(c: Container, user: str) -> tuple[str, str]:
    """The id and blob id of a photo the user stored."""
    up = uploads.create_upload(c, user_id=user, data=_large_photo())
    with c.sessions() as s:
        blob_id = s.scalar(select(Upload.blob_id).where(Upload.id == up.id))
    assert blob_id is not None
    return up.id, blob_id


def _blobs(c: Container) -> set[str]:
    return set(c.blobs.store.iter_ids())


def _staged(c: Container) -> set[str]:
    with c.sessions() as s:
        return set(s.scalars(select(StagedCopy.blob_id)))


def _uploads_left(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Upload)) or 0)


@contextmanager
def _writers_locked_out(c: Container, *, lock_rows: bool = True) -> Iterator[UnitOfWork]:
    """Another unit holding the write lock: SQLite's (BEGIN IMMEDIATE, a unit that writes).
    PostgreSQL has none: the tables a delete writes are locked against writers and (unless
    `lock_rows` is false: a sweep's finder locks its rows, SKIP LOCKED) against row locks,
    which a delete's write unit takes first; plain reads go on, as they do on SQLite."""
    with c.uow() as uow:
        if c.engine.dialect.name == "postgresql":
            mode = "EXCLUSIVE" if lock_rows else "SHARE"
            uow.session.execute(text(f"LOCK TABLE uploads, models, corpus_staged IN {mode} MODE"))
        yield uow


class _Step(threading.Thread):
    """A use case run in a thread of its own; what it raised, if anything."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except Exception as exc:  # handed to the test, which asserts on it
            self.error = exc

    def finish(self) -> Any:
        self.join(timeout=60)
        assert not self.is_alive(), "the step never finished"
        return self.result


def _wait_for_new_blobs(c: Container, before: set[str], n: int) -> set[str]:
    """The `n` blobs written since `before`; fails if they do not appear in time."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        new = _blobs(c) - before
        if len(new) >= n:
            return new
        time.sleep(0.02)
    raise AssertionError(f"{n} copies were not made while another unit held the write lock")


def test_a_users_delete_anonymises_while_another_unit_holds_the_write_lock(
    container: Container,
) -> None:
    c = container
    user = _subject(c, "ada")
    upload_id, _ = _upload(c, user)
    before = _blobs(c)
    with _writers_locked_out(c):
        delete = _Step(lambda: uploads.delete_upload(c, user_id=user, upload_id=upload_id))
        delete.start()
        # The copy is made while the delete cannot write: its detection holds no write lock.
        (copy,) = _wait_for_new_blobs(c, before, 1)
        assert _staged(c) == set() and _uploads_left(c) == 1  # nor has it deleted yet
    delete.finish()
    assert delete.error is None
    assert _staged(c) == {copy} and _uploads_left(c) == 0
    assert _blobs(c) == {copy}  # the original went after the commit


def test_a_models_re_export_runs_while_another_unit_holds_the_write_lock(
    container: Container, worker: Worker
) -> None:
    c = container
    user = _subject(c, "ada")
    upload_id, _ = _upload(c, user)
    model = generation.request_model(c, user_id=user, upload_id=upload_id)
    worker.run_until_idle()
    before = _blobs(c)
    with _writers_locked_out(c):
        delete = _Step(lambda: generation.delete_model(c, user_id=user, model_id=model.id))
        delete.start()
        (copy,) = _wait_for_new_blobs(c, before, 1)
        assert _staged(c) == set()
    delete.finish()
    assert delete.error is None
    assert _staged(c) == {copy}
    assert generation.list_models(c, user_id=user) == []


@pytest.mark.parametrize("arrives", ["objection", "restriction"])
def test_an_objection_between_prepare_and_stage_stages_nothing_and_leaves_no_blob(
    container: Container, arrives: str
) -> None:
    c = container
    user = _subject(c, "ada")
    _, original = _upload(c, user)
    copy = corpus.prepare(c, subject_id=user, kind="photo", blob_id=original)
    assert copy is not None and copy.blob_id in _blobs(c)
    if arrives == "objection":
        set_objections(c, user_id=user, objections={"training"})
    else:
        set_restriction(c, user_id=user, restricted=True)
    with c.uow() as uow:
        assert corpus.stage(uow, copy) is False
        uow.commit()
    assert _staged(c) == set()
    assert _blobs(c) == {original}  # the copy is gone, the original untouched


def test_a_deletion_that_rolls_back_leaves_no_staged_blob(container: Container) -> None:
    c = container
    user = _subject(c, "ada")
    _, original = _upload(c, user)
    copy = corpus.prepare(c, subject_id=user, kind="photo", blob_id=original)
    assert copy is not None
    with c.uow() as uow:
        assert corpus.stage(uow, copy) is True
        uow.session.flush()
        # The deletion fails here: the unit ends without its commit.
    assert _staged(c) == set()
    assert _blobs(c) == {original}


def test_a_photo_gone_before_the_delete_writes_answers_not_found_and_keeps_no_copy(
    container: Container,
) -> None:
    c = container
    user = _subject(c, "ada")
    upload_id, original = _upload(c, user)
    before = _blobs(c)
    with _writers_locked_out(c) as uow:
        # Another unit removes the photo (retention, a second click), committing only once
        # the delete has read it, made its copy and waits to write.
        uow.session.delete(uow.session.get(Upload, upload_id))
        uow.delete_blob_after_commit(original)
        uow.session.flush()
        delete = _Step(lambda: uploads.delete_upload(c, user_id=user, upload_id=upload_id))
        delete.start()
        _wait_for_new_blobs(c, before, 1)
        uow.commit()
    delete.finish()
    assert isinstance(delete.error, NotFound)
    assert _staged(c) == set() and _blobs(c) == set()


def _due_photos(c: Container, clock: ManualClock, user: str, n: int) -> list[tuple[str, str]]:
    photos = [_upload(c, user) for _ in range(n)]
    clock.advance(days=31)  # past the photos rule (30 days, no model made from them)
    return photos


def _photo_rule() -> list[Any]:
    return [e for e in bootstrap.expiries(bootstrap.corpus_offer()) if e.rule == "photos"]


def test_the_sweep_stages_one_copy_per_removed_photo_and_none_for_one_deleted_meanwhile(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    photos = _due_photos(c, clock, user, 3)
    (gone_id, gone_blob), *_ = photos
    sqlite = c.engine.dialect.name == "sqlite"
    before = _blobs(c)
    with _writers_locked_out(c, lock_rows=False) as uow:
        # Removed by another unit while the sweep prepares (it commits before the sweep's).
        uow.session.delete(uow.session.get(Upload, gone_id))
        uow.delete_blob_after_commit(gone_blob)
        uow.session.flush()
        run = _Step(lambda: retention.run(c, _photo_rule()))
        run.start()
        # SQLite's sweep copies all three under our lock (it sees our delete only once it
        # commits); PostgreSQL's skips the row our unit has locked (SKIP LOCKED) from the start.
        _wait_for_new_blobs(c, before, 3 if sqlite else 2)
        uow.commit()
    report = run.finish()
    assert run.error is None
    line = report.rules[0]
    assert (line.removed, line.offered) == (2, 2)
    staged = _staged(c)
    assert len(staged) == 2 and _uploads_left(c) == 0
    assert _blobs(c) == staged  # the third copy, of the photo removed meanwhile, is gone
    assert retention.run(c, _photo_rule()).removed == 0  # and a rerun finds nothing more


def test_a_sweep_racing_the_users_own_delete_keeps_exactly_one_copy(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    [(upload_id, _)] = _due_photos(c, clock, user, 1)
    run = _Step(lambda: retention.run(c, _photo_rule()))
    delete = _Step(lambda: uploads.delete_upload(c, user_id=user, upload_id=upload_id))
    run.start()
    delete.start()
    report = run.finish()
    delete.finish()
    assert run.error is None
    assert delete.error is None or isinstance(delete.error, NotFound)  # the sweep was first
    swept = report.rules[0].offered
    assert swept == (0 if delete.error is None else 1)
    staged = _staged(c)
    assert len(staged) == 1 and _uploads_left(c) == 0
    assert _blobs(c) == staged  # the loser's copy is gone


def test_the_stray_sweep_removes_a_prepared_copy_never_staged_after_its_grace(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    _, original = _upload(c, user)
    # The process dies between prepare and the deleting unit: nothing names the copy.
    copy = corpus.prepare(c, subject_id=user, kind="photo", blob_id=original)
    assert copy is not None and copy.blob_id is not None
    assert sweep.sweep_strays(c).orphans == 0  # within the grace: perhaps still in hand
    assert copy.blob_id in _blobs(c)
    clock.advance(seconds=c.settings.sweep_grace_s + 60)
    assert sweep.sweep_strays(c).orphans == 1
    assert _blobs(c) == {original}


def test_a_copy_older_than_half_the_sweep_grace_is_not_staged(
    container: Container, clock: ManualClock
) -> None:
    c = container
    user = _subject(c, "ada")
    _, original = _upload(c, user)
    copy = corpus.prepare(c, subject_id=user, kind="photo", blob_id=original)
    assert copy is not None
    # The stray sweep could take its blob before a row names it: it is not staged, and goes.
    clock.advance(seconds=c.settings.sweep_grace_s / 2 + 1)
    with c.uow() as uow:
        assert corpus.stage(uow, copy) is False
        uow.commit()
    assert _staged(c) == set() and _blobs(c) == {original}
