"""kill -9 at each step of an upload, a generation and an erasure, then a restart: nothing is
left behind (no temp file, no orphan blob, no half-written row) and the work is finished."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.job_queue import Job
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.generation.tables import ModelFile, ModelPreview
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.rights import intake
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from minimaker.uploads.tables import Upload
from tests.conftest import photo_bytes
from tests.crash.conftest import Step, assert_killed, assert_nothing_left_behind, restart

PASSWORD = "correct horse battery staple"


def _subject(c: Container, username: str) -> str:
    return accounts.signup(
        c,
        name=f"{username} Example",
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    ).id


def _count(c: Container, column: object, value: str) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).where(column == value)) or 0)


@pytest.mark.parametrize(
    "point",
    [
        "blob.temp_written",  # the ciphertext sits under a temp name
        "blob.renamed",  # the blob is in place, no committed row names it
        "upload.before_commit",  # the row is flushed, the transaction not committed
    ],
)
def test_an_upload_killed_at_any_step_leaves_nothing_and_can_be_made_again(
    container: Container, settings: Settings, step: Step, tmp_path: Path, point: str
) -> None:
    ada = _subject(container, "ada")
    photo = tmp_path / "photo.png"
    photo.write_bytes(photo_bytes())

    assert_killed(step("upload", ada, str(photo), crash_at=point))

    c = restart(settings)
    try:
        assert _count(c, Upload.owner_id, ada) == 0  # fully absent: it never committed
        assert_nothing_left_behind(c)
        assert list(c.blobs.store.iter_ids()) == []
        done = step("upload", ada, str(photo))  # and the service works as before
        assert done.returncode == 0, done.stderr[-2000:]
        assert _count(c, Upload.owner_id, ada) == 1
        assert_nothing_left_behind(c)
    finally:
        c.close()


@pytest.mark.parametrize(
    "point",
    [
        "generation.mid_job",  # the model is running, the mesh made, nothing stored
        "blob.temp_written",  # the first model file half-way into the store
        "generation.blob_written@2",  # two of three model files stored, no row commits them
        "generation.before_commit",  # every file stored, the rows flushed, no commit
    ],
)
def test_a_generation_killed_at_any_step_is_done_by_the_next_worker(
    container: Container, settings: Settings, step: Step, point: str
) -> None:
    ada = _subject(container, "ada")
    upload = uploads.create_upload(container, user_id=ada, data=photo_bytes())
    model = generation.request_model(container, user_id=ada, upload_id=upload.id)

    assert_killed(step("worker", crash_at=point))

    c = restart(settings)
    try:
        assert generation.get_model(c, user_id=ada, model_id=model.id).status == "done"
        assert _count(c, ModelFile.model_id, model.id) == 3
        with c.sessions() as s:
            (job,) = s.scalars(select(Job).where(Job.kind == "generate_model"))
            assert (job.status, job.attempts) == ("done", 2)  # the dead run, then this one
        assert_nothing_left_behind(c)
    finally:
        c.close()


def _erasure_ready(container: Container) -> tuple[str, str, set[str]]:
    """Ada with two photos and two models asks for erasure; Bob, untouched, has his own."""
    ada, bob = _subject(container, "ada"), _subject(container, "bob")
    for user, seed in ((ada, 1), (ada, 2), (bob, 3)):
        up = uploads.create_upload(container, user_id=user, data=photo_bytes(seed=seed))
        generation.request_model(container, user_id=user, upload_id=up.id)
    Worker(container).run_until_idle()
    request = intake.submit(container, user_id=ada, type="erasure")
    with container.sessions() as s:
        owned = s.scalars(select(Upload.blob_id).where(Upload.owner_id == bob))
        files = s.scalars(select(ModelFile.blob_id).where(ModelFile.owner_id == bob))
        shown = s.scalars(select(ModelPreview.blob_id).where(ModelPreview.owner_id == bob))
        bobs = {*owned, *files, *shown}
    # Ada's: 2 photos, 6 files, 2 previews
    assert len(set(container.blobs.store.iter_ids()) - bobs) == 10
    return ada, request.id, bobs


@pytest.mark.parametrize(
    ("point", "start"),
    [
        ("erasure.key_destroyed", True),  # the key is gone, every row and blob still there
        ("erasure.blob_deleted@3", True),  # 3 of 10 blobs deleted, the rows' unit not committed
        ("erasure.blob_deleted@3", False),  # the same, restarted as a worker only (no start-up)
        ("erasure.before_completion", True),  # all deleted, the request not yet completed
    ],
)
def test_an_erasure_killed_at_any_step_completes_with_nothing_of_the_subject_left(
    container: Container, settings: Settings, step: Step, point: str, start: bool
) -> None:
    ada, request_id, bobs = _erasure_ready(container)

    assert_killed(step("worker", crash_at=point))

    # Within the sweep's grace age: the erasure itself must have removed every blob.
    c = restart(settings, start=start, swept=False)
    try:
        assert intake.get_any(c, request_id=request_id).status == "completed"
        assert set(c.blobs.store.iter_ids()) == bobs  # 0 of Ada's blobs; all of Bob's
        assert _count(c, Upload.owner_id, ada) == 0
        assert not c.keys.has_subject_key(ada)
        assert_nothing_left_behind(c)
    finally:
        c.close()


def test_the_crash_hook_does_nothing_unless_its_point_is_named(
    settings: Settings, step: Step, tmp_path: Path
) -> None:
    c = build(settings, clock=ManualClock())
    try:
        ada = _subject(c, "ada")
        photo = tmp_path / "photo.png"
        photo.write_bytes(photo_bytes())
        done = step("upload", ada, str(photo), crash_at="no.such_point")
        assert done.returncode == 0, done.stderr[-2000:]
        assert _count(c, Upload.owner_id, ada) == 1
    finally:
        c.close()


def test_the_crash_hook_kills_the_process_the_kth_time_its_point_is_reached(
    crash_env: dict[str, str],
) -> None:
    code = (
        "from minimaker.kernel.faults import crash_point\n"
        "for i in range(5):\n"
        "    crash_point('other.point')\n"
        "    print(i, flush=True)\n"
        "    crash_point('the.point')\n"
    )
    env = {**crash_env, "MINIMAKER_CRASH_AT": "the.point@3"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert_killed(proc)
    assert proc.stdout.split() == ["0", "1", "2"]
