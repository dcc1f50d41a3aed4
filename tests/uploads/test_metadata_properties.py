"""Properties of the metadata walks: whatever metadata goes in, none comes out, the image data
is untouched, a stream split anywhere reads the same, and bad bytes are a clean 422."""

from __future__ import annotations

import contextlib
import io
import string
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from minimaker.kernel.errors import InvalidImage
from minimaker.uploads import metadata
from tests.uploads import rich_photos as rp

PLAIN_JPEG = rp.encoded(rp.pixels(40, 24), "JPEG", quality=85)
# Restart markers and the tables between progressive scans sit inside the coded data.
PLAIN_JPEGS = (
    PLAIN_JPEG,
    rp.encoded(rp.pixels(40, 24), "JPEG", quality=85, restart_marker_blocks=2),
    rp.encoded(rp.pixels(40, 24), "JPEG", quality=85, progressive=True),
)
PLAIN_PNG = rp.encoded(rp.pixels(40, 24), "PNG")
_JFIF_END = 4 + struct.unpack(">H", PLAIN_JPEG[4:6])[0]  # the same in all three
_PNG_IHDR_END = 8 + 25
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A tag no image holds, so finding it in the output means a metadatum leaked through.
tags = st.binary(min_size=12, max_size=12).map(lambda b: b"LEAK" + b)
jpeg_markers = st.sampled_from([*range(0xE0, 0xF0), 0xFE])
jpeg_metadata = st.lists(
    st.tuples(jpeg_markers, tags, st.binary(max_size=300)), min_size=1, max_size=8
)
_KEPT_OR_REFUSED = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"eXIf"} | {
    b"acTL",
    b"fcTL",
    b"fdAT",
}
# Known metadata chunks, and any ancillary type (a lowercase first letter) a writer may invent.
png_types = st.one_of(
    st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs", b"bKGD"]),
    st.builds(
        lambda first, rest: (first + rest).encode(),
        st.sampled_from(string.ascii_lowercase),
        st.text(string.ascii_letters, min_size=3, max_size=3),
    ),
).filter(lambda kind: kind not in _KEPT_OR_REFUSED)
png_metadata = st.lists(st.tuples(png_types, tags, st.binary(max_size=300)), max_size=8)


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` in chunks of the given sizes, cycling; the walk must not care where it breaks."""
    chunks, at, i = [], 0, 0
    while at < len(data):
        chunks.append(data[at : at + sizes[i % len(sizes)]])
        at, i = at + sizes[i % len(sizes)], i + 1
    return chunks


@_SETTINGS
@given(
    st.sampled_from(PLAIN_JPEGS),
    jpeg_metadata,
    st.binary(max_size=64),
    st.lists(st.integers(1, 700), min_size=1),
)
def test_no_jpeg_metadata_survives_and_the_rest_is_the_plain_file(
    plain: bytes, segments: list[tuple[int, bytes, bytes]], trailer: bytes, sizes: list[int]
) -> None:
    inserted = b"".join(rp.segment(m, tag + body) for m, tag, body in segments)
    rich = plain[:_JFIF_END] + inserted + plain[_JFIF_END:] + trailer
    stripped = metadata.strip(rich, "image/jpeg")
    assert stripped.data == plain  # every coded byte kept, every inserted one gone
    assert not any(tag in stripped.data for _, tag, _ in segments)
    assert metadata.describe(_split(rich, sizes), "image/jpeg") == stripped.metadata


@_SETTINGS
@given(png_metadata, st.lists(st.integers(1, 700), min_size=1))
def test_no_png_metadata_survives_and_the_pixels_are_the_same(
    chunks: list[tuple[bytes, bytes, bytes]], sizes: list[int]
) -> None:
    inserted = b"".join(rp.png_chunk(kind, tag + body) for kind, tag, body in chunks)
    rich = PLAIN_PNG[:_PNG_IHDR_END] + inserted + PLAIN_PNG[_PNG_IHDR_END:]
    stripped = metadata.strip(rich, "image/png")
    # The very file Pillow wrote before the chunks went in: same IDAT, so the same pixels
    # (the rich file itself may not open in Pillow: random zTXt is not deflate data).
    assert stripped.data == PLAIN_PNG
    assert metadata.describe(_split(rich, sizes), "image/png") == stripped.metadata


@_SETTINGS
@given(st.integers(1, 8), st.lists(st.integers(1, 50), min_size=1))
def test_only_the_orientation_is_carried_over_from_exif(orientation: int, sizes: list[int]) -> None:
    rich = rp.rich_jpeg(PLAIN_JPEG, orientation)
    stripped = metadata.strip(rich, "image/jpeg")
    with Image.open(io.BytesIO(stripped.data)) as img:
        assert dict(img.getexif()) == ({} if orientation == 1 else {0x0112: orientation})
    # What intake stores reads back as holding nothing but that orientation.
    assert metadata.describe(_split(stripped.data, sizes), "image/jpeg") == metadata.Metadata(
        "image/jpeg", orientation
    )


@pytest.mark.parametrize(
    ("head", "media_type"),
    [(b"\xff\xd8", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"RIFF", "image/webp")],
)
@_SETTINGS
@given(body=st.binary(max_size=400))
def test_random_bytes_behind_a_signature_are_refused_as_invalid_or_walked(
    head: bytes, media_type: str, body: bytes
) -> None:
    # Nothing but InvalidImage (a 422) may come out of a broken file: no struct or index error.
    with contextlib.suppress(InvalidImage):
        metadata.strip(head + body, media_type)
