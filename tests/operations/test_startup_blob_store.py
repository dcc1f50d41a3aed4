"""Start-up checks the blob store it is given: a bucket that does not exist or refuses our
keys, or a directory that cannot be written, stops `serve` and `worker` saying which; a store
that does not answer yet does not (the process starts unready and serves once it answers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minimaker.adapters.blobs import LocalBlobStore
from minimaker.adapters.blobs_s3 import S3BlobStore
from minimaker.adapters.s3_location import S3Location
from minimaker.kernel.errors import ConfigurationError, StorageUnavailable
from minimaker.settings import Settings
from tests.mailserver import free_port
from tests.processes import minimaker, process_env
from tests.seaweed import SeaweedS3, s3_store


def _store(
    server: SeaweedS3, *, bucket: str | None = None, secret: str | None = None
) -> S3BlobStore:
    url = server.url("p")
    if bucket:
        url = url.replace(f"s3://{server.bucket}/", f"s3://{bucket}/")
    return S3BlobStore(
        S3Location.from_url(url),
        access_key=server.access_key,
        secret_key=secret or server.secret_key,
        max_attempts=1,
    )


def test_a_bucket_that_answers_to_our_keys_passes(seaweed: SeaweedS3) -> None:
    s3_store(seaweed).check()


@pytest.mark.parametrize(
    ("bucket", "secret", "reason"),
    [
        ("no-such-bucket", None, "does not exist at this endpoint"),
        (None, "a wrong secret key", "refuses these credentials"),
    ],
)
def test_a_bucket_we_can_never_use_is_a_configuration_error_saying_why(
    seaweed: SeaweedS3, bucket: str | None, secret: str | None, reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason) as refused:
        _store(seaweed, bucket=bucket, secret=secret).check()
    assert "a wrong secret key" not in str(refused.value)  # no credential in the message


def test_a_store_that_does_not_answer_is_unavailable_not_misconfigured() -> None:
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{free_port()}&region=eu-local"
    store = S3BlobStore(S3Location.from_url(url), access_key="a", secret_key="b", max_attempts=1)
    with pytest.raises(StorageUnavailable):
        store.check()


def test_a_blob_directory_that_cannot_be_written_is_a_configuration_error(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    store.check()
    assert list(root.iterdir()) == []  # the probe file is gone
    shutil.rmtree(root)
    root.write_text("not a directory")  # (the tests run as root: permissions would not stop it)
    with pytest.raises(ConfigurationError, match="blob directory cannot be written"):
        store.check()


def _worker_once(settings: Settings, url: str, secret: str) -> tuple[int, str]:
    env = process_env(
        settings,
        MINIMAKER_BLOB_URL=url,
        MINIMAKER_S3_ACCESS_KEY="minimaker-test-access",
        MINIMAKER_S3_SECRET_KEY=secret,
    )
    done = minimaker("worker", "--once", env=env)
    return done.returncode, done.stdout + done.stderr


def test_a_worker_refuses_to_start_on_a_bucket_that_does_not_exist(
    seaweed: SeaweedS3, settings: Settings
) -> None:
    url = seaweed.url("p").replace(f"s3://{seaweed.bucket}/", "s3://no-such-bucket/")
    code, output = _worker_once(settings, url, seaweed.secret_key)
    assert code != 0
    assert "bucket 'no-such-bucket' does not exist at this endpoint" in output
    assert "ran " not in output  # no job, no duty ran before the refusal


def test_a_worker_starts_while_the_store_does_not_answer_and_says_so(settings: Settings) -> None:
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{free_port()}&region=eu-local"
    code, output = _worker_once(settings, url, "b")
    assert code == 0, output
    assert "the blob store does not answer yet; starting unready" in output
    assert "ran 0 jobs" in output
