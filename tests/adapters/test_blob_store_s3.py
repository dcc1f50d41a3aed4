"""What only the S3 blob store has: its URL and settings, its credentials, the bootstrap that
chooses it, residency by the bucket's region, and a store that is down (503, nothing kept)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from minimaker.adapters.blobs import LocalBlobStore, new_blob_id
from minimaker.adapters.blobs_s3 import S3BlobStore
from minimaker.adapters.s3_location import S3Location
from minimaker.bootstrap import blob_store, build
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError, NotFound, StorageUnavailable
from minimaker.operations.residency import StoreRegionRefused
from minimaker.settings import Settings
from tests.conftest import app_for, photo_bytes, signup_and_login
from tests.mailserver import free_port
from tests.seaweed import SeaweedS3, s3_store

# --- the URL -------------------------------------------------------------------------------


def test_a_bucket_url_names_bucket_prefix_region_and_endpoint() -> None:
    location = S3Location.from_url(
        "s3://minimaker-eu/prod/blobs/?endpoint=http://127.0.0.1:8333&region=eu-central-1"
    )
    assert location == S3Location(
        "minimaker-eu", "prod/blobs", "eu-central-1", "http://127.0.0.1:8333"
    )
    assert location.key("ab" * 16) == "prod/blobs/" + "ab" * 16
    assert S3Location.from_url("s3://minimaker-eu?region=eu-central-1").key("ab" * 16) == "ab" * 16


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://bucket/x?region=eu", "must start with s3://"),
        ("s3://key:secret@bucket?region=eu", "holds no credentials"),
        ("s3://Bucket?region=eu", "the bucket must be"),
        ("s3://my.bucket?region=eu", "the bucket must be"),
        ("s3://b?region=eu", "the bucket must be"),
        ("s3://bucket/../other?region=eu", "the prefix must be"),
        ("s3://bucket/a b?region=eu", "the prefix must be"),
        ("s3://bucket", "needs region="),
        ("s3://bucket?region=EU+Central", "needs region="),
        ("s3://bucket?region=eu&region=us", "takes endpoint= and region=, each once"),
        ("s3://bucket?region=eu&acl=public-read", "takes endpoint= and region=, each once"),
        ("s3://bucket?region=eu&endpoint=ftp://host", "http:// or https://"),
        ("s3://bucket?region=eu&endpoint=http://host/path", "scheme, host and port only"),
        ("s3://bucket?region=eu&endpoint=http://u:p@host", "scheme, host and port only"),
        ("s3://bucket?region=eu&endpoint=http://host:99999", "not a valid address"),
        ("s3://bucket?region", "malformed query"),
    ],
)
def test_a_malformed_bucket_url_is_refused_saying_why_without_echoing_it(
    url: str, reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason) as refused:
        S3Location.from_url(url)
    assert url not in str(refused.value)
    assert "secret" not in str(refused.value)


# --- the settings ----------------------------------------------------------------------------


def test_the_bucket_region_is_the_blob_region_the_residency_rules_check(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_url="s3://bucket/p?region=eu-de")
    assert settings.blob_region == "eu-de"
    assert Settings(data_dir=tmp_path).blob_region == "eu-local"  # no bucket: as before


def test_a_blob_region_set_beside_a_bucket_of_another_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not the region of MINIMAKER_BLOB_URL"):
        Settings(data_dir=tmp_path, blob_url="s3://bucket?region=eu-de", blob_region="eu")
    same = Settings(data_dir=tmp_path, blob_url="s3://bucket?region=eu-de", blob_region="eu-de")
    assert same.blob_region == "eu-de"


def test_a_bucket_url_is_read_from_the_environment_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "MINIMAKER_BLOB_URL", "s3://bucket?region=eu&endpoint=https://s3.example.org"
    )
    assert Settings(data_dir=tmp_path).blob_url is not None
    monkeypatch.setenv("MINIMAKER_BLOB_URL", "s3://Not A Bucket")
    with pytest.raises(ConfigurationError, match="MINIMAKER_BLOB_URL"):
        Settings(data_dir=tmp_path)


def test_plain_http_to_a_store_off_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="plain http off loopback"):
        Settings(data_dir=tmp_path, blob_url="s3://bucket1?region=eu&endpoint=http://10.0.0.5:8333")
    with pytest.raises(ConfigurationError, match="plain http off loopback"):
        Settings(
            data_dir=tmp_path, blob_url="s3://bucket1?region=eu&endpoint=http://s3.example.org"
        )
    Settings(data_dir=tmp_path, blob_url="s3://bucket1?region=eu&endpoint=https://s3.example.org")
    for host in ("127.0.0.1:8333", "localhost:9000", "[::1]:8333", "[::1]", "127.0.0.2"):
        Settings(data_dir=tmp_path, blob_url=f"s3://bucket1?region=eu&endpoint=http://{host}")


def test_s3_keys_come_in_pairs_and_never_show_in_a_repr(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="both s3_access_key and s3_secret_key"):
        Settings(data_dir=tmp_path, s3_access_key="AKIDEXAMPLE")
    settings = Settings(
        data_dir=tmp_path, s3_access_key="AKIDEXAMPLE", s3_secret_key="wJalrXUtnFEMI/EXAMPLEKEY"
    )
    assert "wJalrXUtnFEMI" not in repr(settings) and "AKIDEXAMPLE" not in repr(settings)


def test_a_bucket_in_a_region_the_policy_does_not_declare_stops_the_start(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "d", blob_url="s3://bucket?region=us-east-1")
    with pytest.raises(StoreRegionRefused, match="MINIMAKER_BLOB_URL region=") as refused:
        build(settings)
    assert "us-east-1" in str(refused.value)
    assert not (tmp_path / "d").exists()  # refused before anything was made


# --- the bootstrap chooses the store ----------------------------------------------------------


def test_without_a_bucket_url_the_blobs_stay_in_the_local_directory(tmp_path: Path) -> None:
    store = blob_store(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


def test_with_a_bucket_url_the_blobs_go_to_the_bucket(seaweed: SeaweedS3, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        blob_url=seaweed.url("bootstrap-test"),
        s3_access_key=SecretStr(seaweed.access_key),
        s3_secret_key=SecretStr(seaweed.secret_key),
    )
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.region == "eu-local"
    blob_id = new_blob_id()
    with store.open_write(blob_id) as dst:
        dst.write(b"ciphertext")
    assert store.exists(blob_id) and not (tmp_path / "blobs").exists()


def test_credentials_come_from_the_standard_aws_environment_when_not_set(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance service
    store = S3BlobStore(S3Location.from_url(seaweed.url("aws-env")))
    blob_id = new_blob_id()
    with store.open_write(blob_id) as dst:
        dst.write(b"ciphertext")
    assert store.size(blob_id) == len(b"ciphertext")


# --- a store that is down or refuses us -----------------------------------------------------


@pytest.fixture
def unreachable() -> S3BlobStore:
    """A store whose endpoint nobody listens on (a free loopback port), tried once."""
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{free_port()}&region=eu-local"
    return S3BlobStore(S3Location.from_url(url), access_key="a", secret_key="b", max_attempts=1)


def test_every_operation_on_an_unreachable_store_is_storage_unavailable(
    unreachable: S3BlobStore,
) -> None:
    blob_id = new_blob_id()
    operations = (
        lambda: unreachable.open_read(blob_id),
        lambda: unreachable.delete(blob_id),
        lambda: unreachable.exists(blob_id),
        lambda: unreachable.size(blob_id),
        lambda: list(unreachable.iter_ids()),
        lambda: list(unreachable.written_before(ManualClock().now())),
        lambda: unreachable.remove_temps_before(ManualClock().now()),
    )
    for operation in operations:
        with pytest.raises(StorageUnavailable) as down:
            operation()
        assert down.value.status == 503
        assert down.value.reason == "EndpointConnectionError"


@pytest.mark.parametrize("size", [10, 5 * 1024 * 1024 + 10])  # one PutObject; a multipart
def test_a_write_to_an_unreachable_store_fails_unavailable(
    unreachable: S3BlobStore, size: int
) -> None:
    with pytest.raises(StorageUnavailable), unreachable.open_write(new_blob_id()) as dst:
        dst.write(b"x" * size)


def test_wrong_credentials_are_storage_unavailable_not_a_missing_blob(seaweed: SeaweedS3) -> None:
    store = s3_store(seaweed)
    blob_id = new_blob_id()
    with store.open_write(blob_id) as dst:
        dst.write(b"ciphertext")
    wrong = S3BlobStore(store.location, access_key=seaweed.access_key, secret_key="wrong secret")
    with pytest.raises(StorageUnavailable, match="storage is unavailable") as refused:
        wrong.open_read(blob_id)
    assert refused.value.reason == "SignatureDoesNotMatch"
    with pytest.raises(StorageUnavailable), wrong.open_write(new_blob_id()) as dst:
        dst.write(b"ciphertext")


def test_a_bucket_that_does_not_exist_is_storage_unavailable(seaweed: SeaweedS3) -> None:
    store = S3BlobStore(
        S3Location.from_url(seaweed.url("p").replace(seaweed.bucket, "no-such-bucket")),
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
    )
    with pytest.raises(StorageUnavailable, match="unavailable") as missing:
        list(store.iter_ids())
    assert missing.value.reason == "NoSuchBucket"
    with pytest.raises(NotFound):  # a HEAD cannot tell a bucket from a key: "not there"
        store.size(new_blob_id())


def test_a_blob_replaced_while_read_is_never_mixed_with_the_new_one(seaweed: SeaweedS3) -> None:
    store = s3_store(seaweed)
    blob_id = new_blob_id()
    with store.open_write(blob_id) as dst:
        dst.write(b"a" * 1_000_000)
    with store.open_read(blob_id) as src:
        head = src.read(10)
        with store.open_write(blob_id) as dst:
            dst.write(b"b" * 1_000_000)
        src.seek(500_000)  # a ranged GET of the first version: refused, not the second's bytes
        with pytest.raises(StorageUnavailable) as changed:
            src.read(10)
    assert head == b"a" * 10
    assert changed.value.reason == "PreconditionFailed"


def test_an_upload_that_finished_since_it_was_listed_is_left_alone(seaweed: SeaweedS3) -> None:
    # The sweep lists the open uploads, then asks each for its parts: one that completed (or
    # another sweeper aborted) in between is gone, and is neither counted nor an error.
    store = s3_store(seaweed)
    key = store.location.key(new_blob_id())
    upload = store.client.create_multipart_upload(Bucket=seaweed.bucket, Key=key)["UploadId"]
    store.client.abort_multipart_upload(Bucket=seaweed.bucket, Key=key, UploadId=upload)
    assert store._last_touched(key, upload, ManualClock().now()) is None


# --- over HTTP ------------------------------------------------------------------------------


def _s3_settings(settings: Settings, url: str, access: str, secret: str) -> Settings:
    values = settings.model_dump(
        exclude={"blob_region", "blob_url", "s3_access_key", "s3_secret_key"}
    )
    return Settings(
        **values, blob_url=url, s3_access_key=SecretStr(access), s3_secret_key=SecretStr(secret)
    )


@pytest.fixture
def s3_container(settings: Settings, seaweed: SeaweedS3) -> Iterator[Container]:
    prefix = f"http-{new_blob_id()[:12]}"
    c = build(_s3_settings(settings, seaweed.url(prefix), seaweed.access_key, seaweed.secret_key))
    try:
        yield c
    finally:
        c.close()


def test_a_photo_goes_to_the_bucket_encrypted_and_comes_back_over_http(
    s3_container: Container, seaweed: SeaweedS3
) -> None:
    c, photo = s3_container, photo_bytes()
    with TestClient(app_for(c), base_url="https://testserver") as client:
        headers = signup_and_login(client)
        made = client.post("/api/v1/uploads", files={"file": ("p.png", photo)}, headers=headers)
        assert made.status_code == 201, made.text
        upload = made.json()["id"]
        [blob_id] = list(c.blobs.store.iter_ids())
        store = c.blobs.store
        assert isinstance(store, S3BlobStore)
        raw = seaweed.client().get_object(Bucket=seaweed.bucket, Key=store.location.key(blob_id))
        assert photo[16:64] not in raw["Body"].read()  # pixels, encrypted
        content = client.get(f"/api/v1/uploads/{upload}/content", headers=headers)
        assert content.status_code == 200
        assert content.headers["content-type"] == "image/png"
        gone = client.delete(f"/api/v1/uploads/{upload}", headers=headers)
        assert gone.status_code == 204
    assert not c.blobs.store.exists(blob_id)  # (an anonymous corpus copy may stay: policy 9.2)


def test_an_unreachable_store_answers_503_and_keeps_nothing(settings: Settings) -> None:
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{free_port()}&region=eu-local"
    c = build(_s3_settings(settings, url, "a", "b"))
    try:
        with TestClient(app_for(c), base_url="https://testserver") as client:
            headers = signup_and_login(client)
            photo = io.BytesIO(photo_bytes())
            r = client.post("/api/v1/uploads", files={"file": ("p.png", photo)}, headers=headers)
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "storage_unavailable"
            assert int(r.headers["retry-after"]) > 0
            listed = client.get("/api/v1/uploads", headers=headers)
            assert listed.status_code == 200 and listed.json() == []  # no half-made upload
    finally:
        c.close()


def test_a_unit_that_fails_with_the_store_out_of_reach_keeps_its_own_error_and_its_cleanup(
    settings: Settings,
) -> None:
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{free_port()}&region=eu-local"
    c = build(_s3_settings(settings, url, "a", "b"))
    subject_id = new_blob_id()
    try:
        with pytest.raises(RuntimeError, match="the work failed"), c.uow() as uow:
            uow.new_subject_key(subject_id)
            uow.wrote_blob(new_blob_id())  # its delete cannot reach the store: left to the sweep
            raise RuntimeError("the work failed")
        assert not c.keys.has_subject_key(subject_id)  # the rest of the cleanup still ran
        with c.uow() as uow:
            uow.delete_blob_after_commit(new_blob_id())
            uow.commit()  # committed: an unreachable store does not turn it into a failure
    finally:
        c.close()
