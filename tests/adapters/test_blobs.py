"""The local blob store and the encrypting facade, on real files in tmp_path."""

from __future__ import annotations

import io
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from minimaker.adapters.blobs import (
    BlobStore,
    EncryptedBlobs,
    LocalBlobStore,
    StoredBlob,
    new_blob_id,
)
from minimaker.adapters.crypto.stream import HEADER_SIZE, TAG_SIZE
from minimaker.kernel.errors import BlobIntegrityError, NotFound, ValidationFailed

DEK = bytes(range(32))
CHUNK = 64
RECORD = CHUNK + TAG_SIZE
BAD_IDS = [
    "../x",
    "../" + "a" * 29,
    "aa/" + "a" * 29,
    "A" * 32,
    "a" * 31,
    "a" * 33,
    "g" * 32,
    "",
    "a" * 32 + "\n",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root)


@pytest.fixture
def blobs(store: LocalBlobStore) -> EncryptedBlobs:
    return EncryptedBlobs(store, chunk_size=CHUNK)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def write(store: BlobStore, blob_id: str, data: bytes) -> None:
    with store.open_write(blob_id) as dst:
        dst.write(data)


def open_paths() -> set[str]:
    """Files this process holds open right now, read from the kernel."""
    fd_dir = Path("/proc/self/fd")
    paths = set()
    for fd in os.listdir(fd_dir):
        try:
            paths.add(os.readlink(fd_dir / fd))
        except OSError:
            continue  # the fd listing itself, closed meanwhile
    return paths


# --- ids --------------------------------------------------------------------------------


def test_new_blob_ids_are_32_lowercase_hex_and_unique() -> None:
    ids = {new_blob_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_every_operation_refuses_an_id_we_could_not_have_minted(
    store: LocalBlobStore, bad_id: str
) -> None:
    operations: list[Callable[[], object]] = [
        lambda: write(store, bad_id, b"x"),
        lambda: store.open_read(bad_id),
        lambda: store.delete(bad_id),
        lambda: store.exists(bad_id),
        lambda: store.size(bad_id),
    ]
    for operation in operations:
        with pytest.raises(ValidationFailed) as failure:
            operation()
        assert failure.value.field == "blob_id"
    assert files_under(store.root.parent) == []


# --- LocalBlobStore ---------------------------------------------------------------------


def test_a_written_blob_reads_back_from_its_shard(store: LocalBlobStore, root: Path) -> None:
    blob_id = new_blob_id()
    write(store, blob_id, b"ciphertext")
    assert files_under(root) == [root / blob_id[:2] / blob_id]
    with store.open_read(blob_id) as src:
        assert src.read() == b"ciphertext"
    assert store.exists(blob_id)
    assert store.size(blob_id) == len(b"ciphertext")


def test_directories_are_0700_and_files_0600(store: LocalBlobStore, root: Path) -> None:
    blob_id = new_blob_id()
    write(store, blob_id, b"x")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / blob_id[:2]).stat().st_mode) == 0o700
    assert stat.S_IMODE((root / blob_id[:2] / blob_id).stat().st_mode) == 0o600


def test_a_blob_is_invisible_while_written_under_a_random_temp_name(
    store: LocalBlobStore, root: Path
) -> None:
    blob_id = new_blob_id()
    with store.open_write(blob_id) as dst:
        dst.write(b"partial")
        dst.flush()
        assert not store.exists(blob_id)
        (temp,) = files_under(root)
        assert temp.name.startswith(".tmp-")
        assert blob_id not in temp.name
        assert stat.S_IMODE(temp.stat().st_mode) == 0o600
    assert files_under(root) == [root / blob_id[:2] / blob_id]


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_writer_leaves_no_file_behind(
    store: LocalBlobStore, root: Path, interruption: type[BaseException]
) -> None:
    blob_id = new_blob_id()
    with pytest.raises(interruption), store.open_write(blob_id) as dst:
        dst.write(b"half a photo")
        raise interruption
    assert files_under(root) == []
    assert not store.exists(blob_id)


def test_a_failed_rewrite_keeps_the_previous_blob(store: LocalBlobStore) -> None:
    blob_id = new_blob_id()
    write(store, blob_id, b"version 1")
    with pytest.raises(RuntimeError), store.open_write(blob_id) as dst:
        dst.write(b"version 2")
        raise RuntimeError
    with store.open_read(blob_id) as src:
        assert src.read() == b"version 1"


def test_a_missing_blob_is_not_found(store: LocalBlobStore) -> None:
    blob_id = new_blob_id()
    with pytest.raises(NotFound, match="blob not found"):
        store.open_read(blob_id)
    with pytest.raises(NotFound):
        store.size(blob_id)
    assert not store.exists(blob_id)


def test_delete_is_idempotent(store: LocalBlobStore) -> None:
    blob_id = new_blob_id()
    write(store, blob_id, b"x")
    assert store.delete(blob_id) is True
    assert store.delete(blob_id) is False
    assert not store.exists(blob_id)


def test_iter_ids_lists_stored_blobs_and_skips_strangers(store: LocalBlobStore, root: Path) -> None:
    ids = sorted(new_blob_id() for _ in range(5))
    for blob_id in ids:
        write(store, blob_id, b"x")
    (root / ids[0][:2] / ".tmp-0123456789abcdef").write_bytes(b"crash leftover")
    (root / "notes.txt").write_bytes(b"not a blob")
    (root / "zz").mkdir()
    assert list(store.iter_ids()) == ids


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_written_before_lists_only_blobs_untouched_since_the_cutoff(store: LocalBlobStore) -> None:
    old, young = sorted(new_blob_id() for _ in range(2))
    for blob_id in (old, young):
        write(store, blob_id, b"x")
    _age(store.root / old[:2] / old, 7200)
    (store.root / old[:2] / ".tmp-0123456789abcdef").write_bytes(b"not a blob")
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert list(store.written_before(cutoff)) == [old]
    assert list(store.written_before(datetime.now(UTC) + timedelta(seconds=1))) == [old, young]


def test_temp_files_of_killed_writers_are_removed_once_older_than_the_cutoff(
    store: LocalBlobStore, root: Path
) -> None:
    blob_id = new_blob_id()
    write(store, blob_id, b"a finished blob")
    # Two writers that died before their rename (their temp files stay open, as a killed
    # process's would have), one long ago and one that may still be writing.
    dead, live = store.open_write(new_blob_id()), store.open_write(new_blob_id())
    leftovers = sorted(p for p in files_under(root) if p.name.startswith(".tmp-"))
    assert len(leftovers) == 2
    _age(leftovers[0], 7200)
    (root / ".tmp-fedcba9876543210").write_bytes(b"a key file's writer, killed")
    _age(root / ".tmp-fedcba9876543210", 7200)
    (root / "notes.txt").write_bytes(b"not ours: never touched")
    _age(root / "notes.txt", 7200)

    assert store.remove_temps_before(datetime.now(UTC) - timedelta(hours=1)) == 2

    assert sorted(files_under(root)) == sorted(
        [root / blob_id[:2] / blob_id, leftovers[1], root / "notes.txt"]
    )
    for writer in (dead, live):
        writer.__exit__(RuntimeError, None, None)  # abandoned: discards what is left of it


def test_an_empty_store_has_no_ids(tmp_path: Path) -> None:
    assert list(LocalBlobStore(tmp_path / "new").iter_ids()) == []


def test_the_region_is_eu_local_unless_configured(root: Path) -> None:
    assert LocalBlobStore(root).region == "eu-local"
    assert LocalBlobStore(root, region="eu-west").region == "eu-west"


# --- EncryptedBlobs ---------------------------------------------------------------------

PHOTO = os.urandom(3 * CHUNK + 10)  # four chunks: three full, one short


def test_a_blob_round_trips_encrypted(blobs: EncryptedBlobs, store: LocalBlobStore) -> None:
    stored = blobs.put(DEK, io.BytesIO(PHOTO))
    assert stored == StoredBlob(stored.blob_id, len(PHOTO), store.size(stored.blob_id))
    assert stored.ciphertext_size == HEADER_SIZE + len(PHOTO) + 4 * TAG_SIZE
    assert blobs.read_bytes(DEK, stored.blob_id) == PHOTO
    out = io.BytesIO()
    assert blobs.read_into(DEK, stored.blob_id, out) == len(PHOTO)
    assert out.getvalue() == PHOTO
    assert b"".join(blobs.iter_plain(DEK, stored.blob_id)) == PHOTO


def test_only_ciphertext_reaches_the_disk(blobs: EncryptedBlobs, root: Path) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    on_disk = (root / stored.blob_id[:2] / stored.blob_id).read_bytes()
    assert not any(PHOTO[i : i + 32] in on_disk for i in range(len(PHOTO) - 31))


def test_put_can_write_under_a_given_id(blobs: EncryptedBlobs) -> None:
    blob_id = new_blob_id()
    assert blobs.put(DEK, io.BytesIO(b"model"), blob_id=blob_id).blob_id == blob_id
    assert blobs.read_bytes(DEK, blob_id) == b"model"


def test_put_refuses_a_malformed_id(blobs: EncryptedBlobs, root: Path) -> None:
    with pytest.raises(ValidationFailed):
        blobs.put(DEK, io.BytesIO(b"model"), blob_id="../../etc/passwd")
    assert files_under(root) == []


def test_an_upload_that_fails_midway_stores_nothing(blobs: EncryptedBlobs, root: Path) -> None:
    class DroppedConnection(io.RawIOBase):
        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        blobs.put(DEK, DroppedConnection())  # type: ignore[arg-type]
    assert files_under(root) == []


def test_reading_a_missing_blob_is_not_found(blobs: EncryptedBlobs) -> None:
    with pytest.raises(NotFound):
        blobs.read_bytes(DEK, new_blob_id())
    with pytest.raises(NotFound):
        blobs.iter_plain(DEK, new_blob_id())  # before iteration: an HTTP 404 is still possible


def test_iter_plain_closes_its_file_when_the_consumer_stops_early(
    blobs: EncryptedBlobs, root: Path
) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    path = str(root / stored.blob_id[:2] / stored.blob_id)
    chunks = blobs.iter_plain(DEK, stored.blob_id)
    assert next(iter(chunks)) == PHOTO[:CHUNK]
    assert path in open_paths()
    chunks.close()  # type: ignore[attr-defined]  # a generator, as the HTTP layer sees it
    assert path not in open_paths()


def test_iter_plain_closes_its_file_when_a_chunk_fails(blobs: EncryptedBlobs, root: Path) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    path = str(root / stored.blob_id[:2] / stored.blob_id)
    with pytest.raises(BlobIntegrityError):
        list(blobs.iter_plain(bytes(32), stored.blob_id))
    assert path not in open_paths()


def test_delete_removes_the_blob(blobs: EncryptedBlobs) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    assert blobs.delete(stored.blob_id) is True
    assert blobs.delete(stored.blob_id) is False
    with pytest.raises(NotFound):
        blobs.read_bytes(DEK, stored.blob_id)


# --- tampering with the real file on disk -----------------------------------------------


Edit = Callable[[bytearray], bytes]


def tamper(root: Path, blob_id: str, edit: Edit) -> None:
    path = root / blob_id[:2] / blob_id
    path.write_bytes(edit(bytearray(path.read_bytes())))


def chunk(index: int) -> slice:
    start = HEADER_SIZE + index * RECORD
    return slice(start, start + RECORD)


def flipped(position: int) -> Edit:
    def edit(data: bytearray) -> bytes:
        data[position] ^= 0x80
        return bytes(data)

    return edit


def swapped(first: int, second: int) -> Edit:
    def edit(data: bytearray) -> bytes:
        data[chunk(first)], data[chunk(second)] = data[chunk(second)], data[chunk(first)]
        return bytes(data)

    return edit


def cut(length: int) -> Edit:
    return lambda data: bytes(data[:length])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (flipped(HEADER_SIZE + 5), "chunk 0 failed authentication"),
        (flipped(chunk(2).start + 1), "chunk 2 failed authentication"),
        (flipped(0), "bad magic: not a MiniMaker blob"),
        (swapped(0, 1), "chunk 0 failed authentication"),
        (swapped(1, 2), "chunk 1 failed authentication"),
        (cut(chunk(3).start), "stream truncated: final chunk missing"),
        (cut(chunk(2).start + 50), "chunk 2 failed authentication"),
        (cut(10), "stream truncated: header incomplete"),
    ],
    ids=[
        "flip chunk 0",
        "flip chunk 2",
        "flip magic",
        "swap 0 and 1",
        "swap 1 and 2",
        "cut at boundary",
        "cut mid-chunk",
        "cut header",
    ],
)
def test_tampering_with_the_file_on_disk_is_detected(
    blobs: EncryptedBlobs, root: Path, edit: Edit, expected: str
) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    tamper(root, stored.blob_id, edit)
    with pytest.raises(BlobIntegrityError) as failure:
        blobs.read_bytes(DEK, stored.blob_id)
    assert failure.value.reason == expected
    with pytest.raises(BlobIntegrityError):
        list(blobs.iter_plain(DEK, stored.blob_id))


def test_a_blob_moved_to_another_id_does_not_decrypt(blobs: EncryptedBlobs, root: Path) -> None:
    stored = blobs.put_bytes(DEK, PHOTO)
    other = new_blob_id()
    (root / other[:2]).mkdir(mode=0o700, exist_ok=True)
    os.replace(root / stored.blob_id[:2] / stored.blob_id, root / other[:2] / other)
    with pytest.raises(BlobIntegrityError, match="chunk 0 failed authentication"):
        blobs.read_bytes(DEK, other)
