"""Photo intake checks: recognise the type by content, refuse bombs, decode fully once."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from minimaker.kernel.errors import ImageTooLarge, InvalidImage, UnsupportedMediaType

ALLOWED = ("image/jpeg", "image/png", "image/webp")
_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


def sniff(head: bytes) -> str:
    """The media type a file's first bytes prove; its name and declared type are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedMediaType(ALLOWED)


def inspect(data: bytes, *, max_pixels: int, max_side: int) -> ImageInfo:
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
                # The header states the size: check it before decoding allocates anything.
                if width * height > max_pixels or max(width, height) > max_side:
                    raise ImageTooLarge(width * height, max_pixels)
                if getattr(img, "n_frames", 1) > 1:
                    raise InvalidImage("animated images are not supported")
                img.load()  # decodes everything: truncated or corrupt files fail here
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageTooLarge(None, max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage("not a readable image") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # Pillow signals truncated or corrupt data with these; its text is not shown.
            raise InvalidImage("the file is truncated or corrupt") from exc
    return ImageInfo(media_type, width, height)
