"""Blob storage: the BlobStore port, its local-disk adapter, and the encrypting facade.

Blob ids are opaque (random hex we mint): a file name never reveals whose data it holds or
what it is. EncryptedBlobs is the only way services should touch blob bytes, so nothing but
the MMB1 format (minimaker.adapters.crypto.stream) ever reaches the disk.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from minimaker.adapters.crypto.stream import (
    DEFAULT_CHUNK,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    iter_decrypt,
)
from minimaker.adapters.private_files import TEMP_PREFIX, PrivateFileWriter, fsync_dir
from minimaker.kernel.errors import ConfigurationError, NotFound, ValidationFailed
from minimaker.kernel.faults import crash_point

_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_SHARD = re.compile(r"[0-9a-f]{2}")


class BlobStore(Protocol):
    """Where ciphertext blobs live; implementations never see plaintext or keys."""

    region: str  # data residency checks read it, e.g. "eu-local"

    def open_write(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """Writer whose blob appears atomically on success and not at all on exception."""
        ...

    def open_read(self, blob_id: str) -> BinaryIO:
        """Reader over the stored bytes; NotFound("blob") if missing."""
        ...

    def delete(self, blob_id: str) -> bool:
        """Remove the blob; True if it existed. Idempotent."""
        ...

    def exists(self, blob_id: str) -> bool:
        """Whether the blob is stored."""
        ...

    def size(self, blob_id: str) -> int:
        """Stored (ciphertext) size in bytes; NotFound("blob") if missing."""
        ...

    def iter_ids(self) -> Iterator[str]:
        """Every stored blob id."""
        ...

    def written_before(self, cutoff: datetime) -> Iterator[str]:
        """The ids of blobs last written before `cutoff`: the orphan sweep's candidates."""
        ...

    def remove_temps_before(self, cutoff: datetime) -> int:
        """Remove what crashed writers left (temp files) untouched since `cutoff`; how many."""
        ...

    def check(self) -> None:
        """At start: the store is the one configured and takes our writes (ConfigurationError
        if it cannot, whatever the moment); StorageUnavailable if it does not answer now."""
        ...


def new_blob_id() -> str:
    """A fresh opaque blob id: 32 lowercase hex characters, 128 random bits."""
    return secrets.token_hex(16)


def is_blob_id(name: str) -> bool:
    """Whether `name` is an id we could have minted (what a listing shows may not be)."""
    return _BLOB_ID.fullmatch(name) is not None


def validate_blob_id(blob_id: str) -> str:
    """Return blob_id if it is one we could have minted; else ValidationFailed."""
    # Strict whitelist: an id becomes a path, so "../x", "/etc" or "AB.." must never pass.
    if not isinstance(blob_id, str) or _BLOB_ID.fullmatch(blob_id) is None:
        raise ValidationFailed("blob_id", "must be 32 lowercase hexadecimal characters")
    return blob_id


class LocalBlobStore:
    """Blobs as files under root/<first two hex chars>/<id>; directories 0700, files 0600."""

    def __init__(self, root: Path, *, region: str = "eu-local") -> None:
        self.root = Path(root)
        self.region = region
        if not self.root.is_dir():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check(self) -> None:
        """At start: this process can write a file into the directory (and remove it)."""
        try:
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=TEMP_PREFIX):
                pass
        except OSError as exc:
            raise ConfigurationError(
                f"the blob directory cannot be written: {exc.strerror or type(exc).__name__}"
            ) from None

    def open_write(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """Writer to a private temp file that replaces the blob only once fully on disk."""
        target = self._path(blob_id)
        self._ensure_shard(target.parent)
        # A random temp name beside the blob; a failed writer leaves nothing behind, and the
        # rename and the shard's fsync make a finished one durable.
        return PrivateFileWriter(target)

    def open_read(self, blob_id: str) -> BinaryIO:
        """Reader over the stored bytes; NotFound("blob") if missing."""
        try:
            return open(self._path(blob_id), "rb")
        except FileNotFoundError:
            raise NotFound("blob") from None

    def delete(self, blob_id: str) -> bool:
        """Remove the blob and make the removal durable; True if it existed."""
        path = self._path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)  # an erasure must survive a crash
        return True

    def exists(self, blob_id: str) -> bool:
        """Whether the blob is stored."""
        return self._path(blob_id).is_file()

    def size(self, blob_id: str) -> int:
        """Stored (ciphertext) size in bytes; NotFound("blob") if missing."""
        try:
            return self._path(blob_id).stat().st_size
        except FileNotFoundError:
            raise NotFound("blob") from None

    def iter_ids(self) -> Iterator[str]:
        """Every stored blob id, sorted; temp files and strangers in the tree are skipped."""
        for shard in self._shards():
            for name in _sorted_names(self.root / shard, dirs=False):
                if _BLOB_ID.fullmatch(name) and name.startswith(shard):
                    yield name

    def written_before(self, cutoff: datetime) -> Iterator[str]:
        """The ids of blobs whose file was last written before `cutoff`, sorted."""
        limit = cutoff.timestamp()
        for blob_id in self.iter_ids():
            mtime = _mtime(self._path(blob_id))
            if mtime is not None and mtime < limit:
                yield blob_id

    def remove_temps_before(self, cutoff: datetime) -> int:
        """Remove `.tmp-*` files (a writer killed before its rename) untouched since `cutoff`."""
        # A live writer touches its temp file with every chunk; one untouched for the grace
        # age belongs to a dead process. Were it alive after all, its rename fails and its
        # unit of work rolls back: nothing half-written can appear either way.
        limit, removed = cutoff.timestamp(), 0
        for folder in (self.root, *(self.root / shard for shard in self._shards())):
            for name in _sorted_names(folder, dirs=False):
                mtime = _mtime(folder / name) if name.startswith(TEMP_PREFIX) else None
                if mtime is not None and mtime < limit:
                    removed += _unlink(folder / name)
        return removed

    def _shards(self) -> list[str]:
        return [s for s in _sorted_names(self.root, dirs=True) if _SHARD.fullmatch(s)]

    def _path(self, blob_id: str) -> Path:
        validate_blob_id(blob_id)
        return self.root / blob_id[:2] / blob_id

    def _ensure_shard(self, shard: Path) -> None:
        try:
            shard.mkdir(mode=0o700)
        except FileExistsError:
            return
        fsync_dir(self.root)  # the new directory entry must be durable before blobs in it


@dataclass(frozen=True)
class StoredBlob:
    """What put() wrote: the id to keep, and both sizes."""

    blob_id: str
    plaintext_size: int
    ciphertext_size: int


class EncryptedBlobs:
    """Blobs encrypted with the owner's data key (DEK) in the MMB1 format, over any BlobStore."""

    def __init__(self, store: BlobStore, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.store = store
        self._chunk_size = chunk_size

    def put(self, dek: bytes, src: BinaryIO, *, blob_id: str | None = None) -> StoredBlob:
        """Encrypt src into a new blob (or atomically replace blob_id) and describe it."""
        blob_id = new_blob_id() if blob_id is None else validate_blob_id(blob_id)
        with self.store.open_write(blob_id) as dst:
            size = encrypt_stream(dek, blob_id, src, dst, chunk_size=self._chunk_size)
            crash_point("blob.temp_written")  # the whole ciphertext sits under a temp name
        crash_point("blob.renamed")  # the blob exists; no committed row names it yet
        return StoredBlob(blob_id, size, ciphertext_size(size, self._chunk_size))

    def put_bytes(self, dek: bytes, data: bytes) -> StoredBlob:
        """Encrypt an in-memory payload into a new blob."""
        return self.put(dek, io.BytesIO(data))

    def read_into(self, dek: bytes, blob_id: str, dst: BinaryIO) -> int:
        """Decrypt the blob into dst chunk by chunk, each verified first; return plaintext bytes."""
        with self.store.open_read(blob_id) as src:
            return decrypt_stream(dek, blob_id, src, dst)

    def read_bytes(self, dek: bytes, blob_id: str) -> bytes:
        """The whole verified plaintext; nothing is returned unless all of it verified."""
        out = io.BytesIO()
        self.read_into(dek, blob_id, out)
        return out.getvalue()

    def iter_plain(self, dek: bytes, blob_id: str) -> Iterator[bytes]:
        """Verified plaintext chunks; NotFound is raised here, before any byte is produced."""
        # Checked eagerly so an HTTP handler can still answer 404 before it starts streaming.
        if not self.store.exists(blob_id):
            raise NotFound("blob")
        return self._iter_plain(dek, blob_id)

    def delete(self, blob_id: str) -> bool:
        """Remove the blob; True if it existed. Idempotent."""
        return self.store.delete(blob_id)

    def _iter_plain(self, dek: bytes, blob_id: str) -> Iterator[bytes]:
        # The file is opened on first use and closed on exhaustion, error or generator close().
        with self.store.open_read(blob_id) as src:
            yield from iter_decrypt(dek, blob_id, src)


def _mtime(path: Path) -> float | None:
    """When the file was last written; None if it is gone (deleted meanwhile)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> int:
    """Remove one file durably; 1 if this call removed it, 0 if it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    fsync_dir(path.parent)
    return 1


def _sorted_names(directory: Path, *, dirs: bool) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            if dirs:
                return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            return sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return []
