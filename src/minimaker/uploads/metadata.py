"""Data minimization at intake (policy 3.3): a photo keeps its image data, its orientation and
its colour profile; location, device, dates, thumbnails, comments and any other text go.

The coded image data is copied byte for byte (JPEG entropy-coded scans with their tables, PNG
IDAT, WebP VP8/VP8L/ALPH), so the pixels cannot change: nothing is decoded or re-encoded.
This is a walk over the container structure, our own code because Pillow only drops metadata
by re-encoding, which is lossy for JPEG and WebP (and a lossless WebP of a lossy one is ~8x
larger), and reads 16-bit colour PNGs as 8-bit. Pillow then decodes the result (intake).

One walk per format serves both uses: `strip` at upload (writes the minimized file), and
`describe` for the access archive (reads a stored file as a stream, holding one chunk, and
says what it holds).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from minimaker.kernel.errors import InvalidImage, UnsupportedMediaType

# Labels of the metadata a walk meets: what it removed (strip) or what a file holds (describe).
EXIF, XMP, IPTC, COMMENT, TEXT = "Exif", "XMP", "IPTC/Photoshop", "comment", "text"
THUMBNAIL, TIME, OTHER = "JFIF thumbnail", "time of last change", "other application data"
TRAILER = "data after the end of the image"
#: What intake removes from every photo, whatever it held (shown in the access archive).
REMOVED_AT_UPLOAD = (
    "Exif except the orientation: GPS location, camera or phone make, model and serial "
    "number, dates and times, camera settings, embedded thumbnail",
    "XMP, IPTC and Photoshop data: author, captions, keywords, editing history",
    "comments, text chunks and any other application data or data after the image",
)
ORIENTATIONS = {
    1: "upright as stored",
    2: "mirrored left to right",
    3: "rotated 180 degrees",
    4: "mirrored top to bottom",
    5: "mirrored along the top-left diagonal",
    6: "rotated 90 degrees clockwise",
    7: "mirrored along the top-right diagonal",
    8: "rotated 90 degrees anticlockwise",
}
_ORIENTATION_TAG = 0x0112
_EXIF_PREFIX = b"Exif\x00\x00"


@dataclass(frozen=True)
class Metadata:
    """What a photo file carries besides its image data."""

    media_type: str
    orientation: int = 1
    colour_profile: bool = False
    #: Kinds of metadata met: removed (strip) or still held (describe), in file order.
    found: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stripped:
    data: bytes
    metadata: Metadata  # `found` lists what was removed


def orientation_tiff(orientation: int) -> bytes:
    """A TIFF structure (as Exif holds it) with one tag: Orientation; nothing else."""
    # Big-endian header, IFD0 at offset 8 with one SHORT entry, no next IFD.
    return b"MM\x00\x2a" + struct.pack(">IHHHIHHI", 8, 1, _ORIENTATION_TAG, 3, 1, orientation, 0, 0)


def read_orientation(tiff: bytes) -> int:
    """The Orientation tag of IFD0 of an Exif TIFF structure; 1 if absent or unreadable."""
    if tiff.startswith(_EXIF_PREFIX):  # WebP writers differ on the prefix
        tiff = tiff[len(_EXIF_PREFIX) :]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(tiff):
            break
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, at)
        if tag == _ORIENTATION_TAG and kind == 3 and n == 1:
            (value,) = struct.unpack_from(order + "H", tiff, at + 8)
            return value if value in ORIENTATIONS else 1
    return 1


class Source:
    """Bytes from a stream of chunks; holds only what the walk has not consumed yet."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0  # an offset, not slicing: a walk over one 20 MB chunk stays linear

    def _fill(self, n: int) -> bool:
        """At least n unread bytes in view; False if the stream ends first."""
        while len(self._buf) - self._pos < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        if not self._fill(n):
            raise InvalidImage("the file is truncated or corrupt")
        self._pos += n
        return self._buf[self._pos - n : self._pos]

    def pass_on(self, n: int, out: bytearray | None) -> None:
        """Copy n bytes to `out` (strip), or skip them without holding them (describe)."""
        while n:
            if not self._fill(1):
                raise InvalidImage("the file is truncated or corrupt")
            take = min(n, len(self._buf) - self._pos)
            if out is not None:
                out += memoryview(self._buf)[self._pos : self._pos + take]
            self._pos += take
            n -= take

    def at_end(self) -> bool:
        return not self._fill(1)

    def entropy_coded(self, out: bytearray | None) -> None:
        """Pass on a JPEG scan's entropy-coded data, up to the next marker: every 0xFF in it
        is a stuffed 0xFF00, a restart marker RSTn or a fill byte before the marker."""
        at = self._pos
        while True:
            at = self._buf.find(b"\xff", at)
            if at < 0 or at + 1 >= len(self._buf):
                # No whole marker in view: pass on what is scan data for sure, read on.
                end = len(self._buf) if at < 0 else at
                self.pass_on(end - self._pos, out)
                if not self._fill(2):
                    raise InvalidImage("the file is truncated or corrupt")
                at = self._pos
                continue
            after = self._buf[at + 1]
            if after == 0x00 or 0xD0 <= after <= 0xD7:
                at += 2
            elif after == 0xFF:
                at += 1
            else:
                self.pass_on(at - self._pos, out)
                return


@dataclass
class _Walk:
    src: Source
    out: bytearray | None  # None: describe only
    orientation: int = 1
    colour_profile: bool = False
    found: list[str] = field(default_factory=list)
    exif_seen: bool = False

    def met(self, label: str) -> None:
        if label not in self.found:
            self.found.append(label)

    def emit(self, data: bytes) -> None:
        if self.out is not None:
            self.out += data

    def exif(self, tiff: bytes) -> bool:
        """Take the orientation from the first Exif (as every reader does); True if first."""
        first, self.exif_seen = not self.exif_seen, True
        if first:
            self.orientation = read_orientation(tiff)
        minimal = tiff.removeprefix(_EXIF_PREFIX) == orientation_tiff(self.orientation)
        if self.out is not None or not (first and minimal):
            self.met(EXIF)  # describe: the orientation-only Exif we write is not metadata held
        return first

    def metadata(self, media_type: str) -> Metadata:
        return Metadata(media_type, self.orientation, self.colour_profile, tuple(self.found))


# --- JPEG: segments (ITU T.81 B.1); the APPn and COM ones are metadata ---------------------

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_APP0, _APP1, _APP2, _APP13, _APP14, _APP15 = 0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xEF
_XMP_IDS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


def _jpeg(w: _Walk) -> None:
    if w.src.read(2) != b"\xff\xd8":
        raise InvalidImage("the JPEG segment structure is broken")
    w.emit(b"\xff\xd8")
    while True:
        marker = _next_marker(w.src)
        if marker == _EOI:
            w.emit(b"\xff\xd9")
            break
        if marker == _SOI or 0xD0 <= marker <= 0xD7 or marker in (0x00, 0x01):
            raise InvalidImage("the JPEG segment structure is broken")
        head = w.src.read(2)
        (length,) = struct.unpack(">H", head)
        if length < 2:
            raise InvalidImage("the JPEG segment structure is broken")
        if _APP0 <= marker <= _APP15 or marker == _COM:
            _jpeg_metadata(w, marker, w.src.read(length - 2))
            continue
        w.emit(bytes((0xFF, marker)) + head)
        w.src.pass_on(length - 2, w.out)  # tables and frame/scan headers, as they are
        if marker == _SOS:
            w.src.entropy_coded(w.out)  # the scan data, byte for byte
    if not w.src.at_end():
        w.met(TRAILER)  # e.g. MPF previews or a phone's trailer: never copied


def _next_marker(src: Source) -> int:
    if src.read(1) != b"\xff":
        raise InvalidImage("the JPEG segment structure is broken")
    marker = src.read(1)[0]
    while marker == 0xFF:  # fill bytes may precede a marker
        marker = src.read(1)[0]
    return marker


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_metadata(w: _Walk, marker: int, payload: bytes) -> None:
    """Keep what decoders need to show the pixels right; drop (and name) everything else."""
    if marker == _APP0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
        # JFIF tells decoders the colour space is YCbCr; its thumbnail goes (sizes set to 0).
        if len(payload) > 14 or payload[12:14] != b"\x00\x00":
            w.met(THUMBNAIL)
        w.emit(_jpeg_segment(marker, payload[:12] + b"\x00\x00"))
    elif marker == _APP1 and payload.startswith(_EXIF_PREFIX):
        if w.exif(payload[len(_EXIF_PREFIX) :]) and w.orientation != 1:
            w.emit(_jpeg_segment(marker, _EXIF_PREFIX + orientation_tiff(w.orientation)))
    elif marker == _APP1 and payload.startswith(_XMP_IDS):
        w.met(XMP)
    elif marker == _APP2 and payload.startswith(b"ICC_PROFILE\x00"):
        w.colour_profile = True  # colour data: see the decision record
        w.emit(_jpeg_segment(marker, payload))
    elif marker == _APP13:
        w.met(IPTC)
    elif marker == _APP14 and payload.startswith(b"Adobe") and len(payload) >= 12:
        # Its transform flag says how to read the colour channels (RGB, YCbCr, CMYK, YCCK).
        w.emit(_jpeg_segment(marker, payload[:12]))
    else:
        w.met(COMMENT if marker == _COM else OTHER)


# --- PNG: chunks (PNG 3rd edition, 5.3); critical and colour chunks are kept ---------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = {
    *(b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"),  # the image and its transparency
    *(b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV", b"cLLI"),  # colour
}
_PNG_ANIMATION = {b"acTL", b"fcTL", b"fdAT"}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def _png(w: _Walk) -> None:
    if w.src.read(8) != _PNG_SIGNATURE:
        raise InvalidImage("the PNG chunk structure is broken")
    w.emit(_PNG_SIGNATURE)
    exif_at = None
    while True:
        head = w.src.read(8)
        length, kind = struct.unpack(">I", head[:4])[0], head[4:]
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise InvalidImage("the PNG chunk structure is broken")
        if kind in _PNG_ANIMATION:
            raise InvalidImage("animated images are not supported")
        if kind in _PNG_KEPT:
            w.emit(head)
            w.src.pass_on(length + 4, w.out)  # payload and CRC, as they are
        elif kind == b"eXIf":
            w.exif(w.src.read(length))
            w.src.read(4)
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk: no decoder could show it
            raise InvalidImage("the PNG chunk structure is broken")
        else:
            w.met({b"tEXt": TEXT, b"zTXt": TEXT, b"iTXt": TEXT, b"tIME": TIME}.get(kind, OTHER))
            w.src.pass_on(length + 4, None)
        w.colour_profile |= kind == b"iCCP"
        if kind == b"IHDR" and w.out is not None:
            exif_at = len(w.out)
        if kind == b"IEND":
            break
    if exif_at is not None and w.orientation != 1 and w.out is not None:
        # eXIf goes before the image data, where every reader looks for it.
        w.out[exif_at:exif_at] = _png_chunk(b"eXIf", orientation_tiff(w.orientation))
    if not w.src.at_end():
        w.met(TRAILER)


# --- WebP: RIFF chunks (the WebP container specification) ----------------------------------

_WEBP_KEPT = {b"ALPH", b"VP8 ", b"VP8L", b"ICCP"}
_VP8X_ICC, _VP8X_ALPHA, _VP8X_EXIF = 0x20, 0x10, 0x08


def _webp(w: _Walk) -> None:
    riff = w.src.read(12)
    if riff[:4] != b"RIFF" or riff[8:] != b"WEBP":
        raise InvalidImage("the WebP chunk structure is broken")
    left = struct.unpack("<I", riff[4:8])[0] - 4
    w.emit(riff)
    flags_at = None
    while left > 0:
        head = w.src.read(8)
        kind, size = head[:4], struct.unpack("<I", head[4:])[0]
        padded = size + (size & 1)
        if padded + 8 > left:
            raise InvalidImage("the WebP chunk structure is broken")
        left -= padded + 8
        if kind in (b"ANIM", b"ANMF"):
            raise InvalidImage("animated images are not supported")
        if kind == b"VP8X" and w.out is not None:
            flags_at = len(w.out) + 8
        if kind in _WEBP_KEPT or kind == b"VP8X":
            w.emit(head)
            w.src.pass_on(padded, w.out)
        elif kind == b"EXIF":
            w.exif(w.src.read(padded)[:size])
        else:
            w.met(XMP if kind == b"XMP " else OTHER)
            w.src.pass_on(padded, None)
        w.colour_profile |= kind == b"ICCP"
    if w.out is not None:
        _finish_webp(w, flags_at)
    if not w.src.at_end():
        w.met(TRAILER)


def _finish_webp(w: _Walk, flags_at: int | None) -> None:
    """Set VP8X's flags to what is left, append the orientation, fix the RIFF size."""
    assert w.out is not None
    if flags_at is None:
        w.orientation = 1  # a simple-format file has nowhere to declare an orientation
    else:
        w.out[flags_at] &= _VP8X_ICC | _VP8X_ALPHA
        if w.orientation != 1:
            tiff = orientation_tiff(w.orientation)
            w.out += b"EXIF" + struct.pack("<I", len(tiff)) + tiff  # 26 bytes: no padding
            w.out[flags_at] |= _VP8X_EXIF
    w.out[4:8] = struct.pack("<I", len(w.out) - 8)


_WALKS = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp}


def strip(data: bytes, media_type: str) -> Stripped:
    """The photo without its metadata (orientation and colour profile aside), image data
    unchanged; InvalidImage (422) if its structure is broken, UnsupportedMediaType (415)."""
    if media_type not in _WALKS:
        raise UnsupportedMediaType(tuple(_WALKS))
    walk = _Walk(Source((data,)), bytearray())
    _WALKS[media_type](walk)
    assert walk.out is not None
    return Stripped(bytes(walk.out), walk.metadata(media_type))


def describe(chunks: Iterable[bytes], media_type: str) -> Metadata:
    """What a stored photo holds besides its image data, read as a stream (memory-flat)."""
    if media_type not in _WALKS:
        raise UnsupportedMediaType(tuple(_WALKS))
    walk = _Walk(Source(chunks), None)
    _WALKS[media_type](walk)
    return walk.metadata(media_type)
