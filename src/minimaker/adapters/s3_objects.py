"""One S3 object's streams: the multipart writer and the ranged reader, and S3's answers as
our errors. adapters/blobs_s3.py builds them; its docstring says what they guarantee."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from minimaker.kernel.errors import NotFound, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("minimaker.blobs")

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_PART_CHECKSUMS = (
    "ChecksumCRC32",
    "ChecksumCRC32C",
    "ChecksumCRC64NVME",
    "ChecksumSHA1",
    "ChecksumSHA256",
)


@dataclass(frozen=True)
class S3Object:
    """The object a stream works on: its client, bucket and key."""

    client: S3Client
    bucket: str
    key: str


class S3Writer:
    """Bytes written are buffered into one part at a time, each uploaded once full."""

    def __init__(self, target: S3Object, part_size: int) -> None:
        self._target = target
        self._buffer = bytearray(part_size)  # the one part in memory; reused
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.closed = False

    def __enter__(self) -> BinaryIO:
        return cast(BinaryIO, self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closed = True
        if exc_type is not None:
            self._abort()  # an exception inside the `with`: nothing of it is ever visible
            return
        try:
            self._finish()
        except BaseException:
            self._abort()
            raise

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer `data`, uploading each part as it fills; never more than a part in memory."""
        if self.closed:
            raise ValueError("write to a closed blob writer")
        view = memoryview(data).cast("B")
        done, size = 0, len(view)
        while done < size:
            take = min(len(self._buffer) - self._filled, size - done)
            self._buffer[self._filled : self._filled + take] = view[done : done + take]
            self._filled, done = self._filled + take, done + take
            if self._filled == len(self._buffer):
                self._upload_part(self._buffer)
        return size

    def flush(self) -> None:
        """Nothing to do: a part goes up when full, the rest at the end of the `with`."""

    def _upload_part(self, body: bytearray) -> None:
        target = self._target
        with _upload_lost(), storage_errors("upload part"):
            if self._upload_id is None:
                created = target.client.create_multipart_upload(
                    Bucket=target.bucket, Key=target.key
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            answer = target.client.upload_part(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=cast(bytes, body),  # botocore sends a bytearray as it is: no copy
            )
        part: dict[str, Any] = {"PartNumber": number, "ETag": answer["ETag"]}
        part.update({k: v for k, v in answer.items() if k in _PART_CHECKSUMS})
        self._parts.append(part)
        self._filled = 0

    def _finish(self) -> None:
        target = self._target
        del self._buffer[self._filled :]  # the last, short part, trimmed in place
        if self._upload_id is None:  # smaller than a part: one PutObject, atomic as well
            with storage_errors("put"):
                target.client.put_object(
                    Bucket=target.bucket, Key=target.key, Body=cast(bytes, self._buffer)
                )
            return
        if self._filled:
            self._upload_part(self._buffer)
        with _upload_lost(), storage_errors("complete upload"):
            target.client.complete_multipart_upload(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": cast(Any, self._parts)},
            )
        self._upload_id = None

    def _abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            # Best effort: an upload this cannot abort (the store is down) is invisible, and
            # the sweep aborts it once it is older than the grace age.
            with contextlib.suppress(StorageUnavailable, NotFound):
                abort_upload(self._target, self._upload_id)
            self._upload_id = None


class S3Range(io.RawIOBase):
    """The object's bytes from a GET body; a seek elsewhere opens a ranged GET of that ETag."""

    def __init__(self, target: S3Object, first: Any) -> None:
        self._target = target
        self._size = int(first["ContentLength"])
        self._etag = str(first["ETag"])
        self._body: Any = first["Body"]
        self._body_at = 0  # where the open body stream is
        self._at = 0  # where the reader is

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._at = base + offset
        return self._at

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._at)
        if want <= 0:
            return 0
        if self._body is None or self._body_at != self._at:
            self._reopen()
        with storage_errors("read"):
            data = self._body.read(want)
        if not data:
            raise StorageUnavailable("object body ended early")
        memoryview(buffer)[: len(data)] = data
        self._at += len(data)
        self._body_at = self._at
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()

    def _reopen(self) -> None:
        if self._body is not None:
            self._body.close()
        target = self._target
        with storage_errors("get range"):
            answer = target.client.get_object(
                Bucket=target.bucket,
                Key=target.key,
                Range=f"bytes={self._at}-",
                IfMatch=self._etag,  # replaced since the first read: fail, never mix versions
            )
        self._body, self._body_at = answer["Body"], self._at


def abort_upload(target: S3Object, upload_id: str) -> int:
    """Abort one multipart upload; 1 if this call aborted it, 0 if it was gone already."""
    try:
        with storage_errors("abort upload"):
            target.client.abort_multipart_upload(
                Bucket=target.bucket, Key=target.key, UploadId=upload_id
            )
    except NotFound:
        return 0
    return 1


@contextlib.contextmanager
def _upload_lost() -> Iterator[None]:
    """An upload aborted under a live writer (a sweep took it for a dead one's) fails it."""
    try:
        yield
    except NotFound as exc:
        if exc.kind != "upload":
            raise
        raise StorageUnavailable("NoSuchUpload") from None


@contextlib.contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """S3's answers as our errors: a missing object NotFound("blob"), the rest unavailable."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        if code in _MISSING:
            raise NotFound("blob") from None
        if code == "NoSuchUpload":
            raise NotFound("upload") from None
        log.warning("blob store refused %s: %s", action, code)  # no key, no blob id
        raise StorageUnavailable(code) from None
    except BotoCoreError as exc:
        log.warning("blob store unreachable during %s: %s", action, type(exc).__name__)
        raise StorageUnavailable(type(exc).__name__) from None
