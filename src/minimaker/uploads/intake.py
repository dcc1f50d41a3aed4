"""Photo intake checks: recognise the type by content, drop its metadata, refuse bombs,
decode fully once."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from minimaker.kernel.errors import (
    ImageDecodesTooLarge,
    ImageTooLarge,
    InvalidImage,
    UnsupportedMediaType,
)
from minimaker.settings import Settings
from minimaker.uploads import metadata
from minimaker.uploads.decode_budget import DECODE_BUDGET

ALLOWED = ("image/jpeg", "image/png", "image/webp")
_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: Bytes per pixel as Pillow lays an image out in memory: every multi-band mode takes four
#: (RGB too), 16-bit greys two, 32-bit ints and floats four, the rest one.
_ONE_BAND_BYTES = {"I": 4, "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Accepted:
    """A photo as it will be stored: minimized, then validated."""

    data: bytes
    info: ImageInfo
    metadata: metadata.Metadata  # `found`: what was removed


@dataclass(frozen=True)
class DecodeLimits:
    """How large one image may be, and how much decoding the whole process may do at once."""

    max_pixels: int
    max_side: int
    max_decoded_bytes: int
    budget_bytes: int
    wait_s: float

    @classmethod
    def of(cls, settings: Settings) -> DecodeLimits:
        return cls(
            max_pixels=settings.max_image_pixels,
            max_side=settings.max_image_side,
            max_decoded_bytes=settings.max_image_decoded_bytes,
            budget_bytes=settings.decode_budget_bytes,
            wait_s=settings.decode_wait_s,
        )


def sniff(head: bytes) -> str:
    """The media type a file's first bytes prove; its name and declared type are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedMediaType(ALLOWED)


def decoded_bytes(img: Image.Image) -> int:
    """Memory the image takes once decoded, from its header alone (width x height x pixel)."""
    width, height = img.size
    bands = len(img.getbands())
    per_pixel = 4 if bands > 1 else _ONE_BAND_BYTES.get(img.mode, 1)
    return width * height * per_pixel


def check_size(img: Image.Image, limits: DecodeLimits) -> int:
    """Refuse an image whose header promises too much (413); else its decoded size."""
    width, height = img.size
    # The header states the size: check it before decoding allocates anything.
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImageTooLarge(width * height, limits.max_pixels)
    size = decoded_bytes(img)
    if size > limits.max_decoded_bytes:
        raise ImageDecodesTooLarge(size, limits.max_decoded_bytes)
    return size


@contextmanager
def decoding(img: Image.Image, limits: DecodeLimits) -> Iterator[None]:
    """Hold the image's share of the process-wide decode budget while its pixels exist."""
    with DECODE_BUDGET.hold(
        check_size(img, limits), capacity=limits.budget_bytes, wait_s=limits.wait_s
    ):
        yield


def inspect(data: bytes, limits: DecodeLimits) -> ImageInfo:
    """Validate an uploaded image completely, refusing bombs before decoding any pixel."""
    media_type = sniff(data[:16])
    with warnings.catch_warnings():
        # Pillow only warns about bombs below 2x its own limit; here any warning is a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS)) as img:
                width, height = img.size
                if _PIL_FORMATS.get(img.format or "") != media_type:
                    raise InvalidImage("content does not match its signature")
                check_size(img, limits)
                if getattr(img, "n_frames", 1) > 1:
                    raise InvalidImage("animated images are not supported")
                with decoding(img, limits):
                    img.load()  # decodes everything: truncated or corrupt files fail here
                    img.close()  # the pixels go before the budget's share is given back
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageTooLarge(None, limits.max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage("not a readable image") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # Pillow signals truncated or corrupt data with these; its text is not shown.
            raise InvalidImage("the file is truncated or corrupt") from exc
    return ImageInfo(media_type, width, height)


def accept(data: bytes, limits: DecodeLimits) -> Accepted:
    """The photo without its metadata (policy 3.3), validated as it will be stored."""
    # Minimized first, then decoded: what passes the checks is exactly what is kept.
    stripped = metadata.strip(data, sniff(data[:16]))
    return Accepted(stripped.data, inspect(stripped.data, limits), stripped.metadata)
