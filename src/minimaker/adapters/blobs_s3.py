"""S3BlobStore: the BlobStore port over an S3-compatible bucket (AWS S3, SeaweedFS, MinIO...).

It stores what LocalBlobStore stores: the MMB1 ciphertext EncryptedBlobs hands it, byte for
byte, under `<prefix>/<blob id>`. Neither plaintext nor keys ever reach the bucket, so the
bucket's operator (a processor) holds nothing readable, and erasure's destroyed key kills its
copies too (docs/decisions/0032).

- Writes stream as a multipart upload of `part_size` parts; the object exists only once
  CompleteMultipartUpload succeeds, so nothing half-written is ever read, and a write that
  fails (or whose `with` raises) is aborted. A blob smaller than one part is one PutObject.
- Reads stream the body; a seek re-reads from there with a ranged GET that must match the
  ETag first read, so a reader never mixes two versions of a blob.
- A store that cannot be reached, or refuses us, raises StorageUnavailable (HTTP 503).
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from minimaker.adapters.blobs import is_blob_id, validate_blob_id
from minimaker.adapters.s3_location import S3Location
from minimaker.adapters.s3_objects import S3Object, S3Range, S3Writer, abort_upload, storage_errors
from minimaker.kernel.errors import ConfigurationError, NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # memory per writer; S3 allows parts of 5 MiB to 5 GiB, 10,000 of them
MIN_PART_SIZE = 5 * MiB
READ_BUFFER = 256 * 1024
# S3's LastModified has whole seconds: a blob is "before" a cutoff only a second clear of it.
_RESOLUTION = timedelta(seconds=1)
_SESSION_LOCK = threading.Lock()
# HEAD Bucket answers with a status and no body: what each refusal means to an operator.
_REFUSALS = {
    301: "is in another region than the region= of the URL",
    400: "refused the request (is region= the bucket's region?)",
    403: "refuses these credentials (MINIMAKER_S3_ACCESS_KEY / MINIMAKER_S3_SECRET_KEY)",
    404: "does not exist at this endpoint",
}


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session per process: it parses the S3 service model once, for every client."""
    return boto3.session.Session()


def _client(*, fresh: bool, **options: Any) -> S3Client:
    if fresh:
        return cast("S3Client", boto3.session.Session().client("s3", **options))
    with _SESSION_LOCK:  # a session is not thread-safe; the clients made from it are
        return cast("S3Client", _session().client("s3", **options))


class S3BlobStore:
    """Blobs as objects `<prefix>/<id>` of one bucket; the bucket's region is `region`."""

    def __init__(
        self,
        location: S3Location,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        part_size: int = PART_SIZE,
        max_attempts: int = 3,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.location = location
        self.region = location.region
        self.part_size = part_size
        config = Config(
            signature_version="s3v4",
            # An own endpoint (SeaweedFS, MinIO) is addressed by path: no DNS name per bucket.
            s3={"addressing_style": "path" if location.endpoint else "virtual"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=32,
        )
        # Without keys, boto3's standard chain (AWS_* variables, ~/.aws, an instance role),
        # read by a session of this store's own, now, not whenever another store was made.
        fresh = access_key is None and secret_key is None
        self.client = _client(
            fresh=fresh,
            endpoint_url=location.endpoint,
            region_name=location.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    def open_write(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """A multipart upload that becomes the blob only when the `with` block succeeds."""
        return S3Writer(self._object(blob_id), self.part_size)

    def open_read(self, blob_id: str) -> BinaryIO:
        """A buffered reader streaming the object; NotFound("blob") if missing."""
        key = self._key(blob_id)
        with storage_errors("get"):
            first = self.client.get_object(Bucket=self.location.bucket, Key=key)
        raw = S3Range(S3Object(self.client, self.location.bucket, key), first)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=READ_BUFFER))

    def delete(self, blob_id: str) -> bool:
        """Remove the object; True if it was there. Idempotent (S3's delete always is)."""
        key = self._key(blob_id)
        existed = self._head(key) is not None
        if existed:
            with storage_errors("delete"):
                self.client.delete_object(Bucket=self.location.bucket, Key=key)
        return existed

    def exists(self, blob_id: str) -> bool:
        """Whether the object is stored."""
        return self._head(self._key(blob_id)) is not None

    def size(self, blob_id: str) -> int:
        """Stored (ciphertext) size in bytes; NotFound("blob") if missing."""
        head = self._head(self._key(blob_id))
        if head is None:
            raise NotFound("blob")
        return int(head["ContentLength"])

    def iter_ids(self) -> Iterator[str]:
        """Every stored blob id, in key order; keys that are not ours are skipped."""
        for blob_id, _ in self._listing():
            yield blob_id

    def written_before(self, cutoff: datetime) -> Iterator[str]:
        """The ids of blobs whose object was last written (LastModified) before `cutoff`."""
        for blob_id, modified in self._listing():
            if modified + _RESOLUTION <= cutoff:
                yield blob_id

    def remove_temps_before(self, cutoff: datetime) -> int:
        """Abort multipart uploads (of writers that died) untouched since `cutoff`; how many."""
        # A live writer uploads a part at least every part_size bytes; an upload with no part
        # since the grace age belongs to a dead process. Were it alive after all, its
        # CompleteMultipartUpload fails and its unit of work rolls back: nothing appears.
        removed = 0
        for key, upload_id, initiated in self._uploads():
            touched = self._last_touched(key, upload_id, initiated)
            if touched is not None and touched + _RESOLUTION <= cutoff:
                removed += abort_upload(S3Object(self.client, self.location.bucket, key), upload_id)
        return removed

    def check(self) -> None:
        """At start: the bucket exists and takes our keys, else ConfigurationError (a process
        must not run against a bucket it can never use); StorageUnavailable if the store
        does not answer now (the process starts unready and resumes when it answers)."""
        bucket = self.location.bucket
        with storage_errors("check"):  # what is not a refusal of ours: StorageUnavailable
            try:
                self.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                reason = _REFUSALS.get(status or 0)
                if reason is None:
                    raise
                refused = f"MINIMAKER_BLOB_URL: bucket {bucket!r} {reason}"
                raise ConfigurationError(refused) from None

    def _object(self, blob_id: str) -> S3Object:
        return S3Object(self.client, self.location.bucket, self._key(blob_id))

    def _key(self, blob_id: str) -> str:
        return self.location.key(validate_blob_id(blob_id))

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with storage_errors("head"):
                return cast(
                    dict[str, Any], self.client.head_object(Bucket=self.location.bucket, Key=key)
                )
        except NotFound:
            return None

    def _listing(self) -> Iterator[tuple[str, datetime]]:
        prefix = self.location.key_prefix
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        with storage_errors("list"):
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    if is_blob_id(name):
                        yield name, item["LastModified"]

    def _uploads(self) -> Iterator[tuple[str, str, datetime]]:
        prefix = self.location.key_prefix
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        with storage_errors("list uploads"):
            for page in pages:
                for upload in page.get("Uploads", []):
                    if is_blob_id(upload["Key"][len(prefix) :]):
                        yield upload["Key"], upload["UploadId"], upload["Initiated"]

    def _last_touched(self, key: str, upload_id: str, initiated: datetime) -> datetime | None:
        """When the upload last took a part (its start if none); None if it is gone meanwhile
        (completed or aborted since it was listed)."""
        latest = initiated
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.location.bucket, Key=key, UploadId=upload_id
        )
        try:
            with storage_errors("list parts"):
                for page in pages:
                    for part in page.get("Parts", []):
                        latest = max(latest, part["LastModified"])
        except NotFound:
            return None
        return latest
