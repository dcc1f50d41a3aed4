"""The sweep, backups and restores on an S3 bucket (a real SeaweedFS): they reach the blobs
only through the BlobStore protocol, so they work there as on the local directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from minimaker.accounts import service as accounts
from minimaker.adapters.blobs import new_blob_id
from minimaker.adapters.blobs_s3 import S3BlobStore
from minimaker.bootstrap import build
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import selfcheck_checks, sweep
from minimaker.operations.backup import create_backup
from minimaker.operations.restore import restore_backup
from minimaker.operations.selfcheck_checks import Status
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.seaweed import SeaweedS3


@pytest.fixture
def s3_container(settings: Settings, seaweed: SeaweedS3, clock: ManualClock) -> Iterator[Container]:
    """The test's container with its blobs on a prefix of their own in the bucket."""
    values = settings.model_dump(
        exclude={"blob_region", "blob_url", "s3_access_key", "s3_secret_key"}
    )
    on_s3 = Settings(
        **values,
        blob_url=seaweed.url(f"ops-{new_blob_id()[:12]}"),
        s3_access_key=SecretStr(seaweed.access_key),
        s3_secret_key=SecretStr(seaweed.secret_key),
    )
    c = build(on_s3, clock=clock)
    assert isinstance(c.blobs.store, S3BlobStore)
    try:
        yield c
    finally:
        c.close()


def _photo(c: Container) -> tuple[str, str]:
    """A subject with one photo: (subject id, the photo's blob id)."""
    ada = accounts.signup(
        c, name="Ada Example", email="ada@example.org", username="ada", password="long enough pw"
    ).id
    uploads.create_upload(c, user_id=ada, data=photo_bytes())
    [blob_id] = list(c.blobs.store.iter_ids())
    return ada, blob_id


def test_the_sweep_aborts_dead_uploads_and_removes_orphans_from_the_bucket(
    s3_container: Container, clock: ManualClock
) -> None:
    c = s3_container
    ada, named = _photo(c)
    orphan = c.blobs.put_bytes(c.keys.subject_key(ada), b"a photo never committed").blob_id
    store = c.blobs.store
    assert isinstance(store, S3BlobStore)
    dead = store.open_write(new_blob_id())
    dead.__enter__().write(b"x" * (store.part_size + 1))  # a part uploaded, then it died

    assert sweep.sweep_strays(c) == sweep.SweepReport()  # younger than the grace age: kept
    clock.advance(seconds=c.settings.sweep_grace_s + 300)
    assert sweep.sweep_strays(c) == sweep.SweepReport(temps=1, orphans=1)

    assert list(c.blobs.store.iter_ids()) == [named]
    assert orphan != named
    assert sweep.count_orphans(c) == 0


def test_a_backup_of_a_bucket_restores_its_blobs_byte_for_byte(
    s3_container: Container, tmp_path: Path
) -> None:
    c = s3_container
    ada, blob_id = _photo(c)
    before = c.blobs.read_bytes(c.keys.subject_key(ada), blob_id)
    report = create_backup(c, tmp_path / "backup.tar")
    assert report.blobs == 1
    stray = c.blobs.put_bytes(c.keys.subject_key(ada), b"written after the backup").blob_id
    assert c.blobs.store.delete(blob_id)

    restored = restore_backup(c, tmp_path / "backup.tar")

    assert restored.blobs == 1
    assert c.blobs.read_bytes(c.keys.subject_key(ada), blob_id) == before
    assert not c.blobs.store.exists(stray)  # not in the backup, named by no record: removed


def test_the_selfcheck_looks_for_no_blob_directory_when_the_blobs_are_in_a_bucket(
    s3_container: Container,
) -> None:
    c = s3_container
    assert not c.settings.blob_dir.exists()
    check = selfcheck_checks.data_dirs(c.settings)
    assert check.status is Status.PASS, check.message
    assert "blob dir" not in check.message
