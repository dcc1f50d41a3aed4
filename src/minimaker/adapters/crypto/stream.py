"""Chunked AES-256-GCM streams: the at-rest format of every blob (photos, 3D models).

Format "MMB1", version 1 (all integers big-endian)::

    header  = b"MMB1" | version u8 = 1 | chunk_size u32 | salt (16 random bytes)   25 bytes
    key     = HKDF-SHA256(ikm=DEK, salt=salt, info=b"minimaker/blob/v1" + blob_id UTF-8)
    chunk i = AES-256-GCM(key, nonce_i, plaintext_i, ad_i)  ->  ciphertext_i | tag (16 bytes)
    nonce_i = i as 11 bytes | final flag u8 (1 on the last chunk, else 0)
    ad_i    = header | blob_id UTF-8 | i as 8 bytes

Every chunk but the last holds exactly chunk_size plaintext bytes; the last holds 0 to
chunk_size, so an empty plaintext is one empty final chunk. This is the STREAM construction
(Hoang, Reyhanitabar, Rogaway, Vizar 2015): the index in the nonce stops reordering, the final
flag stops truncation at a chunk boundary and extension, and a key derived per blob from a
fresh salt means a counter nonce never repeats under one key, even when a blob id is rewritten.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from minimaker.kernel.errors import BlobIntegrityError

MAGIC = b"MMB1"
VERSION = 1
DEFAULT_CHUNK = 1 << 20
# A forged header must not make a reader allocate gigabytes: chunk sizes are capped.
MAX_CHUNK = 1 << 26
KEY_SIZE = 32
SALT_SIZE = 16
TAG_SIZE = 16
HEADER = struct.Struct(">4sBI16s")
HEADER_SIZE = HEADER.size
_INFO = b"minimaker/blob/v1"

_ReadInto = Callable[[memoryview], int | None]


def encrypt_stream(
    dek: bytes, blob_id: str, src: BinaryIO, dst: BinaryIO, *, chunk_size: int = DEFAULT_CHUNK
) -> int:
    """Encrypt all of src into dst under a key bound to dek and blob_id; return plaintext bytes."""
    _check_chunk_size(chunk_size)
    header = HEADER.pack(MAGIC, VERSION, chunk_size, os.urandom(SALT_SIZE))
    aead = _blob_aead(dek, header[-SALT_SIZE:], blob_id)
    ad_prefix = header + blob_id.encode()
    read = _reader(src)
    # One byte of look-ahead past the chunk tells whether this chunk is the final one.
    plain = bytearray(chunk_size + 1)
    sealed = bytearray(chunk_size + TAG_SIZE)
    plain_view, sealed_view = memoryview(plain), memoryview(sealed)
    _write_all(dst, header)
    total, index, carried = 0, 0, 0
    while True:
        got = carried + _fill(read, plain_view[carried:])
        final = got <= chunk_size
        size = got if final else chunk_size
        out = sealed_view[: size + TAG_SIZE]
        aead.encrypt_into(_nonce(index, final), plain_view[:size], _ad(ad_prefix, index), out)
        _write_all(dst, out)
        total += size
        if final:
            return total
        plain[0] = plain[chunk_size]
        carried, index = 1, index + 1


def decrypt_stream(dek: bytes, blob_id: str, src: BinaryIO, dst: BinaryIO) -> int:
    """Decrypt src into dst, writing each chunk only once its tag verified; return plaintext bytes.

    On BlobIntegrityError, dst holds the verified chunks before the bad one, never any of it.
    """
    total = 0
    for verified in _open_chunks(dek, blob_id, src):
        _write_all(dst, verified)
        total += len(verified)
    return total


def iter_decrypt(dek: bytes, blob_id: str, src: BinaryIO) -> Iterator[bytes]:
    """Yield the non-empty plaintext chunks of src, each verified before it is yielded."""
    for verified in _open_chunks(dek, blob_id, src):
        if verified:
            yield bytes(verified)


def encrypt_bytes(dek: bytes, blob_id: str, data: bytes) -> bytes:
    """Encrypt a small payload held in memory into the same format as encrypt_stream."""
    out = io.BytesIO()
    encrypt_stream(dek, blob_id, io.BytesIO(data), out)
    return out.getvalue()


def decrypt_bytes(dek: bytes, blob_id: str, data: bytes) -> bytes:
    """Decrypt and verify a whole small payload; nothing is returned unless all of it verified."""
    out = io.BytesIO()
    decrypt_stream(dek, blob_id, io.BytesIO(data), out)
    return out.getvalue()


def ciphertext_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK) -> int:
    """Exact size of the encrypted form of plaintext_size bytes."""
    _check_chunk_size(chunk_size)
    if plaintext_size < 0:
        raise ValueError("plaintext_size must be >= 0")
    chunks = max(1, -(-plaintext_size // chunk_size))
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


# --- internals ---------------------------------------------------------------------------


def _open_chunks(dek: bytes, blob_id: str, src: BinaryIO) -> Iterator[memoryview]:
    """Yield each verified plaintext chunk as a view that is only valid until the next one."""
    read = _reader(src)
    header, chunk_size = _read_header(read)
    aead = _blob_aead(dek, header[-SALT_SIZE:], blob_id)
    ad_prefix = header + blob_id.encode()
    record = chunk_size + TAG_SIZE
    sealed = bytearray(record + 1)  # + 1: look-ahead byte, as in encrypt_stream
    plain = bytearray(chunk_size)
    sealed_view, plain_view = memoryview(sealed), memoryview(plain)
    index, carried = 0, 0
    while True:
        got = carried + _fill(read, sealed_view[carried:])
        final = got <= record
        size = got if final else record
        if size < TAG_SIZE:
            if size == 0:
                raise BlobIntegrityError("stream truncated: final chunk missing")
            raise BlobIntegrityError(f"stream truncated: chunk {index} shorter than its tag")
        box, out, ad = sealed_view[:size], plain_view[: size - TAG_SIZE], _ad(ad_prefix, index)
        try:
            # Plaintext lands in our own scratch buffer; it leaves only after the tag verified.
            aead.decrypt_into(_nonce(index, final), box, ad, out)
        except InvalidTag:
            raise BlobIntegrityError(_diagnose(aead, box, ad, out, index, final)) from None
        yield out
        if final:
            return
        sealed[0] = sealed[record]
        carried, index = 1, index + 1


def _diagnose(
    aead: AESGCM, box: memoryview, ad: bytes, out: memoryview, index: int, final: bool
) -> str:
    """Name why a chunk failed: a valid chunk with the other final flag means a cut stream."""
    try:
        aead.decrypt_into(_nonce(index, not final), box, ad, out)
    except InvalidTag:
        return f"chunk {index} failed authentication"
    finally:
        out[:] = bytes(len(out))  # scrub plaintext that will never be released
    if final:
        return "stream truncated: final chunk missing"
    return "trailing data after final chunk"


def _read_header(read: _ReadInto) -> tuple[bytes, int]:
    header = bytearray(HEADER_SIZE)
    if _fill(read, memoryview(header)) < HEADER_SIZE:
        raise BlobIntegrityError("stream truncated: header incomplete")
    magic: bytes
    version: int
    chunk_size: int
    magic, version, chunk_size, _salt = HEADER.unpack(header)
    if magic != MAGIC:
        raise BlobIntegrityError("bad magic: not a MiniMaker blob")
    if version != VERSION:
        raise BlobIntegrityError(f"unsupported format version {version}")
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise BlobIntegrityError(f"invalid chunk size {chunk_size}")
    return bytes(header), chunk_size


def _blob_aead(dek: bytes, salt: bytes, blob_id: str) -> AESGCM:
    if len(dek) != KEY_SIZE:
        raise ValueError(f"data key must be {KEY_SIZE} bytes")
    hkdf = HKDF(hashes.SHA256(), KEY_SIZE, salt, _INFO + blob_id.encode())
    return AESGCM(hkdf.derive(dek))


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _ad(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(8, "big")


def _check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK}")


def _reader(src: BinaryIO) -> _ReadInto:
    """src.readinto when it has one (no copy), else a read()-based stand-in."""
    readinto: _ReadInto | None = getattr(src, "readinto", None)
    if readinto is not None:
        return readinto

    def read_copy(view: memoryview) -> int:
        data = src.read(len(view))
        view[: len(data)] = data
        return len(data)

    return read_copy


def _fill(read: _ReadInto, view: memoryview) -> int:
    """Read until view is full or the source ends; short reads (pipes, sockets) are normal."""
    filled = 0
    while filled < len(view):
        got = read(view[filled:])
        if got is None:
            raise ValueError("source is non-blocking; blob streams need a blocking reader")
        if got == 0:
            break
        filled += got
    return filled


def _write_all(dst: BinaryIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = dst.write(view)
        if written <= 0:
            raise OSError("destination accepted no bytes")
        view = view[written:]
