"""Access (Art. 15) and portability (Art. 20) archives: built as a stream straight into a blob
encrypted under the subject's key, downloadable by that subject only, deleted on expiry.

The ZIP (files, data.json, and index.html or schema.json) is written into a bounded in-memory
ChunkPipe that another thread encrypts into the blob store: plaintext never touches the disk,
and memory stays flat whatever the archive's size. What goes in is archive_content's business.
"""

from __future__ import annotations

import json
import threading
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import select

from minimaker.adapters.blobs import EncryptedBlobs, StoredBlob, new_blob_id
from minimaker.kernel.actors import SYSTEM_RIGHTS, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError, NotFound, NotReady
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import archive_content as content
from minimaker.rights import events
from minimaker.rights.archive_page import render_index
from minimaker.rights.intake import owned_request
from minimaker.rights.processing import ensure_allowed
from minimaker.rights.rules import RequestType, Status
from minimaker.rights.tables import Archive

if TYPE_CHECKING:  # only a type here: fulfil.py -> download_links.py -> this module
    from minimaker.rights.fulfil import Work

_PIECE = 1 << 20  # the pipe hands the encryptor pieces of about one blob chunk
_PIPE_LIMIT = 4 << 20  # at most this much plaintext waits in memory between the threads
_ARCHIVE_KINDS = frozenset({RequestType.ACCESS.value, RequestType.PORTABILITY.value})


class ArchiveExpired(MiniMakerError):
    """The archive of a completed request was deleted at its expiry; ask again for a new one."""

    status = 410
    code = "archive_expired"

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"the archive of request {request_id} has expired; make a new request")


@dataclass(frozen=True)
class ArchiveDownload:
    """A decrypted archive on its way to its subject."""

    archive_id: str
    filename: str
    size_bytes: int
    chunks: Iterator[bytes]


class _WriterFailed(Exception):
    """Raised to the encrypting reader: the ZIP is incomplete and must never be sealed."""


class ChunkPipe:
    """A bounded in-memory pipe from a writer thread to a reader thread.

    Unlike an OS pipe, the writer can abort: the reader then raises instead of seeing an end
    of stream, so a half-written archive can never be sealed as if it were complete.
    """

    def __init__(self, *, limit: int = _PIPE_LIMIT, piece: int = _PIECE) -> None:
        self._limit, self._piece = limit, piece
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._pending = bytearray()
        self._head = memoryview(b"")
        self._cond = threading.Condition()
        self._ended = self._aborted = self._broken = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue data for the reader, waiting while the pipe is full."""
        size = len(data)
        if not self._pending and size >= self._piece:
            self._put(bytes(data))  # bytes from the decryptor pass through without a copy
        else:
            self._pending += data
            if len(self._pending) >= self._piece:
                self._put(bytes(self._pending))
                self._pending.clear()
        return size

    def flush(self) -> None:
        """Nothing to do: write() queues as it goes (zipfile calls this when it finishes)."""

    def close_write(self) -> None:
        """The writer is done: the reader gets what is queued, then the end of stream."""
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """The writer failed: the reader raises at its next read; queued data is dropped."""
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._cond.notify_all()

    def break_(self) -> None:
        """The reader failed: the writer raises at its next write instead of waiting forever."""
        with self._cond:
            self._broken = True
            self._chunks.clear()
            self._cond.notify_all()

    def readinto(self, view: memoryview) -> int:
        """Fill view from the queue, waiting for data; 0 only at a clean end of stream."""
        if not self._head:
            with self._cond:
                while not self._chunks and not (self._ended or self._aborted):
                    self._cond.wait()
                if self._aborted:
                    raise _WriterFailed("the archive writer failed")
                if not self._chunks:
                    return 0
                chunk = self._chunks.popleft()
                self._queued -= len(chunk)
                self._cond.notify_all()
            self._head = memoryview(chunk)
        size = min(len(view), len(self._head))
        view[:size] = self._head[:size]
        self._head = self._head[size:]
        return size

    def _put(self, chunk: bytes) -> None:
        with self._cond:
            while self._queued and self._queued + len(chunk) > self._limit and not self._broken:
                self._cond.wait()
            if self._broken:
                raise BrokenPipeError("the archive encryptor stopped")
            self._chunks.append(chunk)
            self._queued += len(chunk)
            self._cond.notify_all()


def seal_stream(
    blobs: EncryptedBlobs, dek: bytes, produce: Callable[[ChunkPipe], None]
) -> StoredBlob:
    """Run produce(pipe) here while a second thread encrypts what it writes into a new blob.

    Either the whole output is sealed, or no blob exists afterwards (the store writes to a
    temp file that only a completed encryption renames into place).
    """
    pipe = ChunkPipe()
    blob_id = new_blob_id()

    def encrypt() -> StoredBlob:
        try:
            return blobs.put(dek, cast(BinaryIO, pipe), blob_id=blob_id)
        except BaseException:
            pipe.break_()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-seal") as pool:
        sealed = pool.submit(encrypt)
        try:
            produce(pipe)
        except BaseException:
            pipe.abort()
            wait_for([sealed])
            failure = sealed.exception()
            if failure is not None and not isinstance(failure, _WriterFailed):
                raise failure from None  # the encryptor failed first; that is the cause
            raise
        pipe.close_write()
        return sealed.result()


def _entry(name: str, when: datetime, *, compressed: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16  # unpacked personal data is readable by its owner only
    return info


def _add_file(
    zf: zipfile.ZipFile, blobs: EncryptedBlobs, dek: bytes, item: content.FileItem, when: datetime
) -> bool:
    """Decrypt one blob chunk by chunk into a ZIP entry; False if its owner deleted it."""
    try:
        chunks = blobs.iter_plain(dek, item.blob_id)
    except NotFound:
        return False  # deleted since the snapshot: no longer held, so not in the archive
    info = _entry(item.path, when, compressed=item.compressed)
    info.file_size = item.size_bytes  # announces ZIP64 up front for entries over 2 GiB
    with zf.open(info, "w") as dst:
        for chunk in chunks:
            dst.write(chunk)
    return True


def write_zip(
    sink: ChunkPipe, blobs: EncryptedBlobs, dek: bytes, snapshot: content.Snapshot
) -> None:
    """Write the archive of snapshot into sink: files first, then the documents listing them."""
    when = datetime.fromisoformat(snapshot.generated_at)
    with zipfile.ZipFile(cast(BinaryIO, sink), "w", allowZip64=True) as zf:
        written = {f.path for f in snapshot.files if _add_file(zf, blobs, dek, f, when)}
        final = snapshot.keeping(written)
        documents: dict[str, str | bytes] = {}
        if final.kind == content.ACCESS:
            doc = content.access_document(final)
            documents["index.html"] = render_index(doc, final.titles)
        else:
            doc = content.portability_document(final)
            documents["schema.json"] = _json(final.schema)
        documents["data.json"] = _json(doc)
        for name, data in documents.items():
            zf.writestr(_entry(name, when, compressed=False), data)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")


def fulfil_access(c: Container, work: Work) -> str:
    """Art. 15: an archive of every personal datum held, with the information owed."""
    return build_archive(c, work, kind=content.ACCESS)


def fulfil_portability(c: Container, work: Work) -> str:
    """Art. 20: the subject's data as schema-described JSON, with the original files."""
    return build_archive(c, work, kind=content.PORTABILITY)


def build_archive(c: Container, work: Work, *, kind: str) -> str:
    """Build, encrypt and record the archive of a request; return its id (the result ref)."""
    with c.uow(write=False) as uow:
        existing = uow.session.scalar(
            select(Archive.id).where(Archive.request_id == work.request_id)
        )
        # Access and rights are allowed even while restricted; asking keeps it purpose-bound.
        purpose = ensure_allowed(uow, work.subject_id, Purpose.SERVICE, ("rights_archive",))
        dek = uow.keys.subject_key(work.subject_id)
    if existing is not None:
        return existing  # a retried job: the archive was recorded before the job finished
    snapshot = content.collect(c, subject_id=work.subject_id, request_id=work.request_id, kind=kind)
    stored = seal_stream(c.blobs, dek, lambda sink: write_zip(sink, c.blobs, dek, snapshot))
    now = c.clock.now()
    with c.uow() as uow:
        uow.wrote_blob(stored.blob_id)
        row = Archive(
            id=uuid.uuid4().hex,
            subject_id=work.subject_id,
            request_id=work.request_id,
            kind=kind,
            blob_id=stored.blob_id,
            size_bytes=stored.plaintext_size,
            created_at=now,
            expires_at=now + timedelta(days=c.settings.archive_ttl_days),
        )
        uow.session.add(row)
        uow.audit(
            events.ARCHIVE_CREATED,
            actor=SYSTEM_RIGHTS,
            subject=work.subject_id,
            object=f"archive:{row.id}:{kind}",
            purpose=purpose,
        )
        uow.commit()
    return row.id


def open_download(c: Container, *, user_id: str, request_id: str) -> ArchiveDownload:
    """The decrypted archive of the subject's completed access or portability request."""
    with c.uow() as uow:
        request = owned_request(uow, user_id=user_id, request_id=request_id)
        if request.type not in _ARCHIVE_KINDS:
            raise NotFound("archive")
        if request.status != Status.COMPLETED.value:
            raise NotReady("archive", request.status)
        row = uow.session.scalar(
            select(Archive).where(Archive.request_id == request.id, Archive.subject_id == user_id)
        )
        # Completed without an archive row means the expiry duty already deleted it.
        if row is None or row.expires_at <= c.clock.now():
            raise ArchiveExpired(request.id)
        chunks = audited_stream(uow, row)
        uow.commit()
        filename = f"minimaker-{row.kind}-{request.id}.zip"  # ids only, never a name
        return ArchiveDownload(row.id, filename, row.size_bytes, chunks)


def audited_stream(uow: UnitOfWork, archive: Archive, *, via: str = "") -> Iterator[bytes]:
    """The archive decrypted, its download audited as the subject's own (who proved who they
    are: by session, or by a link sent to the address on file, `via="link"`)."""
    subject_id = archive.subject_id
    purpose = ensure_allowed(uow, subject_id, Purpose.SERVICE, ("rights_archive",))
    chunks = uow.c.blobs.iter_plain(uow.keys.subject_key(subject_id), archive.blob_id)
    uow.audit(
        events.ARCHIVE_DOWNLOADED,
        actor=Actor.subject(subject_id),
        subject=subject_id,
        object=f"archive:{archive.id}:{archive.kind}" + (f":{via}" if via else ""),
        purpose=purpose,
    )
    return chunks


def expire_archives(c: Container) -> int:
    """Delete archives past their expiry, rows and then blobs; each deletion is audited.

    The retention engine's `archives` rule (rights/expiry.py), run alone.
    """
    from minimaker.retention import service as retention
    from minimaker.rights import expiry

    return retention.run(c, expiry.expiries(), rules=frozenset({"archives"})).removed
