"""Photos carrying the metadata cameras and phones put in them, built byte by byte so the
tests know exactly what went in (Pillow cannot write an Exif thumbnail, IPTC or a trailer)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

# Every one of these must be gone from a stored photo.
MAKE, MODEL, SERIAL = b"Canon", b"EOS R5", b"SN-4711-0815"
PERSON = "Ada Lovelace"
COMMENT = b"Shot at Ada's home, 12 Example Street"
XMP = (
    b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
    b"<dc:creator>Ada Lovelace</dc:creator></x:xmpmeta>"
)
IPTC = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x11\x1c\x02\x50\x00\x0cAda Lovelace"
TRAILER = b"MotionPhoto_Data" + b"\xff\xd8\xff\xe0trailer-preview\xff\xd9"
LATITUDE = ((52, 1), (31, 1), (1234, 100))  # GPS degrees, minutes, seconds as rationals
NEEDLES = (MAKE, MODEL, SERIAL, PERSON.encode(), COMMENT, b"xmpmeta", b"8BIM", b"MotionPhoto")


def pixels(width: int = 80, height: int = 64, seed: int = 1) -> Image.Image:
    """A noisy RGB picture: nothing compresses away, so every coded byte matters."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def exif_tiff(orientation: int = 6, *, thumbnail: bytes = b"") -> bytes:
    """Little-endian Exif: make, model, serial, orientation, GPS latitude, IFD1 thumbnail."""
    # IFD0 at 8 (5 entries = 66 bytes), its strings, GPS IFD, IFD1, then the thumbnail.
    strings = MAKE + b"\x00" + MODEL + b"\x00" + SERIAL + b"\x00"
    gps_at = 8 + 2 + 5 * 12 + 4 + len(strings)
    ifd1_at = gps_at + 2 + 2 * 12 + 4 + 24
    thumb_at = ifd1_at + 2 + 2 * 12 + 4
    make_at, model_at = 74, 74 + len(MAKE) + 1
    serial_at = model_at + len(MODEL) + 1
    ifd0 = _ifd(
        [
            (0x010F, 2, len(MAKE) + 1, struct.pack("<I", make_at)),
            (0x0110, 2, len(MODEL) + 1, struct.pack("<I", model_at)),
            (0x0112, 3, 1, struct.pack("<HH", orientation, 0)),
            (0x8825, 4, 1, struct.pack("<I", gps_at)),
            (0xA431, 2, len(SERIAL) + 1, struct.pack("<I", serial_at)),  # body serial
        ],
        next_ifd=ifd1_at,
    )
    rationals = b"".join(struct.pack("<II", n, d) for n, d in LATITUDE)
    gps = _ifd([(0x0001, 2, 2, b"N\x00\x00\x00"), (0x0002, 5, 3, struct.pack("<I", gps_at + 30))])
    ifd1 = _ifd(
        [
            (0x0201, 4, 1, struct.pack("<I", thumb_at)),
            (0x0202, 4, 1, struct.pack("<I", len(thumbnail))),
        ]
    )
    return b"II*\x00\x08\x00\x00\x00" + ifd0 + strings + gps + rationals + ifd1 + thumbnail


def _ifd(entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0) -> bytes:
    body = b"".join(struct.pack("<HHI", t, k, n) + v for t, k, n, v in entries)
    return struct.pack("<H", len(entries)) + body + struct.pack("<I", next_ifd)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def rich_jpeg(plain: bytes, orientation: int = 6) -> bytes:
    """`plain` (a Pillow JPEG) with Exif + GPS + thumbnail, XMP, IPTC, a comment, a FlashPix
    segment and a trailer after the end of the image, as phones write them."""
    thumbnail = encoded(pixels(16, 12, seed=9), "JPEG")
    metadata = (
        segment(0xE1, b"Exif\x00\x00" + exif_tiff(orientation, thumbnail=thumbnail))
        + segment(0xE1, XMP)
        + segment(0xED, IPTC)
        + segment(0xFE, COMMENT)
        + segment(0xE2, b"FPXR\x00\x00" + SERIAL)  # FlashPix extension data
    )
    # After the JFIF APP0 that Pillow writes first, as cameras order them.
    app0_end = 4 + struct.unpack(">H", plain[4:6])[0]
    return plain[:app0_end] + metadata + plain[app0_end:] + TRAILER


def scan_data(jpeg: bytes) -> bytes:
    """Everything from the first start-of-scan to the end of the image (a baseline JPEG
    without metadata, so the first 0xFFDA is the image's own)."""
    return jpeg[jpeg.index(b"\xff\xda") : jpeg.index(b"\xff\xd9") + 2]


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG, in order."""
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        chunks.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
        if chunks[-1][0] == b"IEND":
            return chunks  # what follows is not the PNG's
    return chunks


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def rich_png(img: Image.Image, orientation: int = 6) -> bytes:
    """A PNG with tEXt, zTXt, iTXt, tIME and eXIf chunks (eXIf after the image data)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", PERSON)
    info.add_text("Comment", COMMENT.decode(), zip=True)
    info.add_itxt("Description", "Zuhause bei Ada Lovelace", lang="de")
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 17, 9, 30, 0))
    plain = encoded(img, "PNG", pnginfo=info)
    end = plain.rindex(b"IEND") - 4
    exif = png_chunk(b"eXIf", exif_tiff(orientation))
    return plain[:end] + exif + plain[end:] + TRAILER


def deep_png(width: int = 6, height: int = 4) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow reads these as 8-bit) with a tEXt chunk."""
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 65536, (height, width, 3)).astype(">u2")
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"tEXt", b"Author\x00" + PERSON.encode())
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def rich_webp(img: Image.Image, orientation: int = 6) -> bytes:
    """A lossy WebP (VP8X container) with EXIF and XMP chunks."""
    exif = b"Exif\x00\x00" + exif_tiff(orientation)
    return encoded(img, "WEBP", quality=80, exif=exif, xmp=XMP[29:])


def webp_chunks(webp: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 12
    while at + 8 <= len(webp):
        kind, (size,) = webp[at : at + 4], struct.unpack("<I", webp[at + 4 : at + 8])
        chunks.append((kind, webp[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    return chunks
