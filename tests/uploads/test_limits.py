"""Upload limits (policy 3.6): the storage quota, the decoded size of one image, the decode
budget of the whole process, and an upload racing its owner's erasure. Each refusal is a
clear 4xx/503 that writes nothing: no row, no blob, no temp file."""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from minimaker.adapters.blobs import EncryptedBlobs, StoredBlob
from minimaker.kernel.container import Container
from minimaker.kernel.errors import QuotaExceeded
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from minimaker.uploads.decode_budget import DECODE_BUDGET
from tests.conftest import photo_bytes, signup_and_login
from tests.uploads.test_api import _counts, _upload

PHOTO = photo_bytes()  # 48 x 32 RGB PNG


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "storage_quota_bytes": 2 * len(PHOTO) + 100,
            "max_image_decoded_bytes": 48 * 32 * 4,  # one RGB photo of PHOTO's size
        }
    )


def _files_on_disk(c: Container) -> list[Path]:
    """Every file under the blob directory: blobs, and any temp file a writer left."""
    return sorted(p for p in c.settings.blob_dir.rglob("*") if p.is_file())


def _grey_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    ramp = np.linspace(0, 255, width * height).reshape(height, width).astype(np.uint8)
    Image.fromarray(ramp).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_upload_over_the_storage_quota_is_refused_with_413_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    for seed in (1, 2):
        assert _upload(client, headers, photo_bytes(seed=seed)).status_code == 201
    before, files = _counts(container), _files_on_disk(container)
    r = _upload(client, headers, photo_bytes(seed=3))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "quota_exceeded"
    assert _counts(container) == before
    assert _files_on_disk(container) == files


def test_deleting_a_photo_makes_room_again_and_quotas_are_per_subject(
    client: TestClient, container: Container
) -> None:
    ada = signup_and_login(client, username="ada")
    bob = signup_and_login(client, username="bob")
    first = _upload(client, ada, photo_bytes(seed=1)).json()["id"]
    assert _upload(client, ada, photo_bytes(seed=2)).status_code == 201
    assert _upload(client, ada, photo_bytes(seed=3)).status_code == 413
    # another subject's quota is their own
    assert _upload(client, bob, photo_bytes(seed=3)).status_code == 201
    assert client.delete(f"/api/v1/uploads/{first}", headers=ada).status_code == 204
    assert _upload(client, ada, photo_bytes(seed=3)).status_code == 201


def test_an_image_whose_header_promises_too_much_memory_is_refused_with_413(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    before = _counts(container)
    # 49 x 32 RGB decodes to 49 * 32 * 4 bytes (Pillow keeps RGB in four bytes a pixel)
    r = _upload(client, headers, photo_bytes(width=49))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "image_decodes_too_large"
    assert str(49 * 32 * 4) in r.json()["error"]["message"]
    assert _counts(container) == before
    # four times the pixels in one band decode to no more than the limit: accepted
    assert _upload(client, headers, _grey_png(96, 64)).status_code == 201


def test_an_upload_waits_a_bounded_time_for_the_decode_budget_then_gets_503(
    client: TestClient, container: Container
) -> None:
    container.settings.decode_wait_s = 0.3
    headers = signup_and_login(client)
    before = _counts(container)
    capacity = container.settings.decode_budget_bytes
    held, release = threading.Event(), threading.Event()

    def hold_everything() -> None:  # another decode holding the whole budget
        with DECODE_BUDGET.hold(capacity, capacity=capacity, wait_s=0):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_everything)
    holder.start()
    try:
        assert held.wait(5)
        r = _upload(client, headers, PHOTO)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "busy"
        assert int(r.headers["Retry-After"]) >= 1
        assert _counts(container) == before
    finally:
        release.set()
        holder.join()
    assert _upload(client, headers, PHOTO).status_code == 201


def test_concurrent_uploads_never_decode_more_than_the_budget_at_once(
    container: Container, client: TestClient
) -> None:
    signup_and_login(client)
    user_id = client.get("/api/v1/me", headers=signup_and_login(client, username="eve")).json()[
        "id"
    ]
    big = _grey_png(1500, 1500)  # 2.25 MB decoded, a few KB as PNG
    s = container.settings
    s.max_image_decoded_bytes = 1500 * 1500
    s.decode_budget_bytes = 2 * 1500 * 1500  # room for two at once
    s.decode_wait_s = 60.0
    s.storage_quota_bytes = 10**9
    DECODE_BUDGET.high_water = 0
    failures: list[BaseException] = []

    def upload() -> None:
        try:
            uploads.create_upload(container, user_id=user_id, data=big)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _counts(container)[0] == 8
    assert 1500 * 1500 <= DECODE_BUDGET.high_water <= s.decode_budget_bytes
    assert DECODE_BUDGET.in_use == 0


class _EraseAfterWrite(EncryptedBlobs):
    """The blob store as an erasure racing an upload meets it: the subject's key is
    destroyed (erasure's first step) just after the photo's blob is written."""

    def __init__(self, inner: EncryptedBlobs, c: Container, subject_id: str) -> None:
        super().__init__(inner.store)
        self._c, self._subject_id = c, subject_id

    def put(self, dek, src, *, blob_id=None):  # type: ignore[no-untyped-def]
        stored: StoredBlob = super().put(dek, src, blob_id=blob_id)
        self._c.keys.destroy_subject_key(self._subject_id, now=self._c.clock.now())
        return stored


def _user_id(client: TestClient, headers: dict[str, str]) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def test_an_upload_after_its_owners_key_was_destroyed_gets_410_and_no_integrity_alarm(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    headers = signup_and_login(client)
    user_id = _user_id(client, headers)
    before, files = _counts(container), _files_on_disk(container)
    container.keys.destroy_subject_key(user_id, now=container.clock.now())
    with caplog.at_level(logging.WARNING):
        r = _upload(client, headers, PHOTO)
    assert r.status_code == 410, r.text
    assert r.json()["error"]["code"] == "subject_erased"
    assert _counts(container) == before
    assert _files_on_disk(container) == files
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_an_upload_whose_owner_is_erased_before_it_commits_gets_410_and_leaves_no_blob(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    headers = signup_and_login(client)
    user_id = _user_id(client, headers)
    before, files = _counts(container), _files_on_disk(container)
    container.blobs = _EraseAfterWrite(container.blobs, container, user_id)
    with caplog.at_level(logging.WARNING):
        r = _upload(client, headers, PHOTO)
    assert r.status_code == 410, r.text
    assert _counts(container) == before
    assert _files_on_disk(container) == files
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_two_uploads_at_once_cannot_both_take_the_last_room_in_the_quota(
    client: TestClient, container: Container
) -> None:
    user_id = _user_id(client, signup_and_login(client))
    container.settings.storage_quota_bytes = len(PHOTO) + len(PHOTO) // 2  # room for one
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def upload(seed: int) -> None:
        start.wait()
        try:
            uploads.create_upload(container, user_id=user_id, data=photo_bytes(seed=seed))
            outcomes.append("stored")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in (1, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "stored"]
    assert _counts(container)[0] == 1
    assert len(_files_on_disk(container)) == 1
