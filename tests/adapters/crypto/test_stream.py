"""The MMB1 blob format: round trips, and every way a stored blob can be tampered with."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimaker.adapters.crypto.stream import (
    DEFAULT_CHUNK,
    HEADER_SIZE,
    MAX_CHUNK,
    TAG_SIZE,
    ciphertext_size,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    iter_decrypt,
)
from minimaker.kernel.errors import BlobIntegrityError

DEK = bytes(range(32))
OTHER_DEK = bytes(range(1, 33))
BLOB = "0123456789abcdef0123456789abcdef"
OTHER_BLOB = "fedcba9876543210fedcba9876543210"
CHUNK = 64
RECORD = CHUNK + TAG_SIZE
quick = settings(max_examples=60, deadline=None)


def seal(data: bytes, *, dek: bytes = DEK, blob_id: str = BLOB, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    assert encrypt_stream(dek, blob_id, io.BytesIO(data), out, chunk_size=chunk) == len(data)
    return out.getvalue()


def unseal(blob: bytes, *, dek: bytes = DEK, blob_id: str = BLOB) -> bytes:
    out = io.BytesIO()
    assert decrypt_stream(dek, blob_id, io.BytesIO(blob), out) == len(out.getvalue())
    return out.getvalue()


def reason(blob: bytes, *, dek: bytes = DEK, blob_id: str = BLOB) -> str:
    with pytest.raises(BlobIntegrityError) as failure:
        unseal(blob, dek=dek, blob_id=blob_id)
    return failure.value.reason


def span(index: int) -> slice:
    start = HEADER_SIZE + index * RECORD
    return slice(start, start + RECORD)


def flip(blob: bytes, position: int) -> bytes:
    tampered = bytearray(blob)
    tampered[position] ^= 0x01
    return bytes(tampered)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 7])
def test_every_size_around_chunk_boundaries_round_trips(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert len(blob) == ciphertext_size(size, CHUNK)
    assert unseal(blob) == data
    assert b"".join(iter_decrypt(DEK, BLOB, io.BytesIO(blob))) == data


@quick
@given(data=st.binary(max_size=700), chunk=st.integers(min_value=1, max_value=100))
def test_any_payload_round_trips_with_any_chunk_size(data: bytes, chunk: int) -> None:
    blob = seal(data, chunk=chunk)
    assert len(blob) == ciphertext_size(len(data), chunk)
    assert unseal(blob) == data


@pytest.mark.parametrize("size", [DEFAULT_CHUNK, DEFAULT_CHUNK + 1])
def test_the_default_one_mebibyte_chunks_round_trip(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt_bytes(DEK, BLOB, data)
    assert len(blob) == ciphertext_size(size)
    assert decrypt_bytes(DEK, BLOB, blob) == data


def test_an_empty_plaintext_is_exactly_one_empty_final_chunk() -> None:
    blob = seal(b"")
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    assert unseal(blob) == b""
    assert list(iter_decrypt(DEK, BLOB, io.BytesIO(blob))) == []


def test_sources_that_return_short_reads_still_round_trip() -> None:
    data = os.urandom(5 * CHUNK + 3)
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # well under the pipe buffer, so no writer thread is needed
    os.close(write_end)
    with os.fdopen(read_end, "rb", buffering=0) as pipe, io.BytesIO() as out:
        encrypt_stream(DEK, BLOB, pipe, out, chunk_size=CHUNK)
        assert unseal(out.getvalue()) == data


def test_sources_without_readinto_are_read_with_read() -> None:
    class ReadOnly:
        """Only read(), and in dribbles, like some upload wrappers."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._data.read(min(size, 5))

    data = os.urandom(3 * CHUNK)
    out = io.BytesIO()
    encrypt_stream(DEK, BLOB, ReadOnly(data), out, chunk_size=CHUNK)  # type: ignore[arg-type]
    assert unseal(out.getvalue()) == data


def test_iter_decrypt_yields_verified_chunks_one_by_one() -> None:
    data = os.urandom(3 * CHUNK + 1)
    chunks = list(iter_decrypt(DEK, BLOB, io.BytesIO(seal(data))))
    assert [len(c) for c in chunks] == [CHUNK, CHUNK, CHUNK, 1]
    assert b"".join(chunks) == data


# --- confidentiality --------------------------------------------------------------------


def test_identical_plaintexts_encrypt_differently() -> None:
    data = b"same photo bytes" * 20
    first, second = seal(data), seal(data)
    assert first[:9] == second[:9]  # magic, version, chunk size
    assert first[9:HEADER_SIZE] != second[9:HEADER_SIZE]  # fresh salt
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]


def test_the_ciphertext_contains_no_32_byte_window_of_the_plaintext() -> None:
    data = os.urandom(2000) + b"GPS 48.8584 N 2.2945 E " * 20
    blob = seal(data)
    assert not any(data[i : i + 32] in blob for i in range(len(data) - 31))


# --- tampering --------------------------------------------------------------------------

FOUR_CHUNKS = os.urandom(3 * CHUNK + 10)


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0, "bad magic: not a MiniMaker blob"),
        (4, "unsupported format version 0"),
        (8, "chunk 0 failed authentication"),  # chunk size 65: still parses, fails auth
        (9, "chunk 0 failed authentication"),  # salt: a different key
        (HEADER_SIZE - 1, "chunk 0 failed authentication"),
        (span(0).start, "chunk 0 failed authentication"),
        (span(1).start + 30, "chunk 1 failed authentication"),
        (span(2).stop - 1, "chunk 2 failed authentication"),  # a tag byte
        (-1, "chunk 3 failed authentication"),  # last tag byte
    ],
)
def test_a_flipped_byte_names_where_it_was_found(position: int, expected: str) -> None:
    assert reason(flip(seal(FOUR_CHUNKS), position)) == expected


@quick
@given(st.data())
def test_a_flipped_byte_anywhere_is_detected(data: st.DataObject) -> None:
    blob = seal(FOUR_CHUNKS)
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    tampered = bytearray(blob)
    tampered[position] ^= 1 << bit
    with pytest.raises(BlobIntegrityError):
        unseal(bytes(tampered))


@pytest.mark.parametrize(
    ("chunk_size_field", "expected"),
    [(0, "invalid chunk size 0"), (MAX_CHUNK + 1, f"invalid chunk size {MAX_CHUNK + 1}")],
)
def test_an_absurd_chunk_size_is_refused_before_any_allocation(
    chunk_size_field: int, expected: str
) -> None:
    blob = bytearray(seal(b"x"))
    blob[5:9] = chunk_size_field.to_bytes(4, "big")
    assert reason(bytes(blob)) == expected


def test_swapped_chunks_are_detected() -> None:
    blob = bytearray(seal(FOUR_CHUNKS))
    blob[span(1)], blob[span(2)] = blob[span(2)], blob[span(1)]
    assert reason(bytes(blob)) == "chunk 1 failed authentication"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ([0, 2, 3], "chunk 1 failed authentication"),  # a chunk cut out of the middle
        ([0, 1, 1, 2, 3], "chunk 2 failed authentication"),  # a chunk repeated
        ([0, 1, 2], "stream truncated: final chunk missing"),
    ],
    ids=["removed", "duplicated", "final dropped"],
)
def test_rearranged_chunks_are_detected(order: list[int], expected: str) -> None:
    blob = seal(FOUR_CHUNKS)
    rearranged = blob[:HEADER_SIZE] + b"".join(blob[span(i)] for i in order)
    assert reason(rearranged) == expected


@pytest.mark.parametrize("source_blob_id", [OTHER_BLOB, BLOB], ids=["other id", "same id"])
def test_a_chunk_taken_from_another_blob_is_detected(source_blob_id: str) -> None:
    # Same DEK, same plaintext: only the blob id or the per-blob salt differs.
    donor = seal(FOUR_CHUNKS, blob_id=source_blob_id)
    blob = bytearray(seal(FOUR_CHUNKS))
    blob[span(1)] = donor[span(1)]
    assert reason(bytes(blob)) == "chunk 1 failed authentication"


@pytest.mark.parametrize("kept_chunks", [1, 2, 3])
def test_truncation_at_a_chunk_boundary_is_detected(kept_chunks: int) -> None:
    blob = seal(FOUR_CHUNKS)
    assert reason(blob[: span(kept_chunks).start]) == "stream truncated: final chunk missing"


def test_truncation_at_a_boundary_of_full_chunks_is_detected() -> None:
    blob = seal(os.urandom(3 * CHUNK))
    assert reason(blob[: span(2).start]) == "stream truncated: final chunk missing"


def test_a_header_with_no_chunk_after_it_is_truncated() -> None:
    assert reason(seal(b"abc")[:HEADER_SIZE]) == "stream truncated: final chunk missing"


@pytest.mark.parametrize("kept", [0, 1, HEADER_SIZE - 1])
def test_a_cut_header_is_detected(kept: int) -> None:
    assert reason(seal(b"abc")[:kept]) == "stream truncated: header incomplete"


@pytest.mark.parametrize(
    ("cut_at", "expected"),
    [
        (span(1).start + 40, "chunk 1 failed authentication"),
        (span(1).start + TAG_SIZE - 1, "stream truncated: chunk 1 shorter than its tag"),
        (span(3).start + 20, "chunk 3 failed authentication"),
        (-1, "chunk 3 failed authentication"),
    ],
)
def test_truncation_inside_a_chunk_is_detected(cut_at: int, expected: str) -> None:
    assert reason(seal(FOUR_CHUNKS)[:cut_at]) == expected


def test_bytes_appended_after_a_full_final_chunk_are_named_trailing_data() -> None:
    blob = seal(os.urandom(2 * CHUNK))
    assert reason(blob + b"\x00") == "trailing data after final chunk"
    assert reason(blob + blob[span(1)]) == "trailing data after final chunk"


def test_bytes_appended_after_a_short_final_chunk_fail_its_authentication() -> None:
    # Where a short final chunk ends is only known from its tag, so the extra bytes blend in.
    assert reason(seal(FOUR_CHUNKS) + b"\x00") == "chunk 3 failed authentication"


def test_the_wrong_data_key_is_detected() -> None:
    assert reason(seal(FOUR_CHUNKS), dek=OTHER_DEK) == "chunk 0 failed authentication"


def test_the_wrong_blob_id_is_detected() -> None:
    assert reason(seal(FOUR_CHUNKS), blob_id=OTHER_BLOB) == "chunk 0 failed authentication"


def test_nothing_reaches_dst_when_the_first_chunk_fails() -> None:
    out = io.BytesIO()
    with pytest.raises(BlobIntegrityError):
        decrypt_stream(DEK, BLOB, io.BytesIO(flip(seal(FOUR_CHUNKS), span(0).start)), out)
    assert out.getvalue() == b""


def test_only_the_verified_chunks_before_a_bad_one_reach_dst() -> None:
    out = io.BytesIO()
    with pytest.raises(BlobIntegrityError, match="chunk 2 failed"):
        decrypt_stream(DEK, BLOB, io.BytesIO(flip(seal(FOUR_CHUNKS), span(2).start)), out)
    assert out.getvalue() == FOUR_CHUNKS[: 2 * CHUNK]


def test_iter_decrypt_yields_nothing_from_a_chunk_that_failed() -> None:
    chunks = iter_decrypt(DEK, BLOB, io.BytesIO(flip(seal(FOUR_CHUNKS), span(1).start)))
    assert next(chunks) == FOUR_CHUNKS[:CHUNK]
    with pytest.raises(BlobIntegrityError, match="chunk 1 failed"):
        next(chunks)


def test_decrypt_bytes_returns_nothing_unless_every_chunk_verified() -> None:
    with pytest.raises(BlobIntegrityError, match="chunk 3 failed"):
        decrypt_bytes(DEK, BLOB, flip(seal(FOUR_CHUNKS), -1))


def test_integrity_messages_name_no_blob_content() -> None:
    with pytest.raises(BlobIntegrityError) as failure:
        unseal(flip(seal(FOUR_CHUNKS), span(1).start))
    assert str(failure.value) == (
        "encrypted blob failed its integrity check: chunk 1 failed authentication"
    )


# --- misuse -----------------------------------------------------------------------------


@pytest.mark.parametrize("dek", [b"", bytes(16), bytes(33)])
def test_a_data_key_that_is_not_32_bytes_is_refused(dek: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"x", dek=dek)


@pytest.mark.parametrize("chunk", [0, -1, MAX_CHUNK + 1])
def test_a_chunk_size_out_of_range_is_refused(chunk: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        seal(b"x", chunk=chunk)


def test_ciphertext_size_refuses_negative_sizes() -> None:
    with pytest.raises(ValueError, match="plaintext_size"):
        ciphertext_size(-1)
