"""Anonymisation (policy 9.2, Recital 26): what leaves a copy is pixels or geometry, nothing else.

A photo is decoded, turned upright, rebuilt from its RGB pixels alone (`Image.frombytes`, so
no EXIF, XMP, IPTC, ICC profile, GPS, maker notes, thumbnail or comment can ride along: a plain
re-save keeps the JPEG comment and the PNG ICC profile), every face CenterFace finds is
pixelated and blurred over an enlarged box, and the result is encoded afresh. A model is
loaded, its triangles concatenated into plain arrays, and written as a new GLB whose only
names are generated ones (a trimesh load -> export keeps extras, names, KHR_xmp_json_ld and
the STL header).
"""

from __future__ import annotations

import io
import json
import struct
import warnings
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from minimaker.corpus import faces
from minimaker.kernel.errors import MiniMakerError

Kind = Literal["photo", "model"]

#: A corpus photo's longest side: enough to learn from, and it bounds the cost of each copy.
MAX_SIDE = 1024
#: Refused before decoding: what a validated upload could never be (uploads cap far lower).
MAX_PIXELS = 50_000_000
#: The box a face is hidden under, grown on each side by this share of its size (hair, ears,
#: the chin the detector's box leaves out).
FACE_MARGIN = 0.35
#: A hidden face keeps this many blocks across before its blur: no features survive.
FACE_BLOCKS = 6
JPEG_QUALITY = 88
MAX_MODEL_BYTES = 256 * 1024 * 1024


class Undecodable(MiniMakerError):
    """The blob is no photo or model we can read; nothing is copied."""

    status = 422
    code = "undecodable"

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"the {kind} could not be decoded")


def anonymise(kind: Kind, data: bytes) -> bytes:
    """The anonymised copy of a photo (JPEG) or a model (GLB); Undecodable otherwise."""
    if kind == "photo":
        return anonymise_photo(data)
    if kind == "model":
        return anonymise_model(data)
    raise Undecodable(str(kind))


def anonymise_photo(data: bytes) -> bytes:
    """A JPEG of the photo's pixels only, upright, at most MAX_SIDE, every face hidden."""
    pixels = _pixels_only(data)
    boxes = faces.detect(np.asarray(pixels))
    hidden = hide_faces(pixels, boxes)
    out = io.BytesIO()
    hidden.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _pixels_only(data: bytes) -> Image.Image:
    """The photo decoded and rebuilt from its RGB bytes: no field of the original survives."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Undecodable("photo")
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a smaller scale
                upright = ImageOps.exif_transpose(img)  # before the orientation tag goes
                rgb = upright.convert("RGB")
    except Undecodable:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise Undecodable("photo") from exc
    except Image.DecompressionBombError as exc:
        raise Undecodable("photo") from exc
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def hide_faces(img: Image.Image, boxes: list[faces.Box]) -> Image.Image:
    """The photo with each box, enlarged by FACE_MARGIN, pixelated and then blurred."""
    out = img.copy()
    for box in boxes:
        left, top, right, bottom = _grown(box, img.size)
        if right - left < 2 or bottom - top < 2:
            continue
        region = out.crop((left, top, right, bottom))
        w, h = region.size
        blocks = (FACE_BLOCKS, max(1, round(FACE_BLOCKS * h / w)))
        small = region.resize(blocks, Image.Resampling.BOX)
        mosaic = small.resize((w, h), Image.Resampling.NEAREST)
        radius = max(w, h) / FACE_BLOCKS
        out.paste(mosaic.filter(ImageFilter.GaussianBlur(radius)), (left, top))
    return out


def _grown(box: faces.Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    dx = (box.right - box.left) * FACE_MARGIN
    dy = (box.bottom - box.top) * FACE_MARGIN
    width, height = size
    return (
        max(0, int(box.left - dx)),
        max(0, int(box.top - dy)),
        min(width, int(box.right + dx + 1)),
        min(height, int(box.bottom + dy + 1)),
    )


def anonymise_model(data: bytes) -> bytes:
    """A GLB of the model's triangles only: one mesh, one node, generated names, no extras."""
    vertices, triangles = _geometry(data)
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=triangles, process=False)
    scene = trimesh.Scene()
    scene.add_geometry(mesh, geom_name="mesh0", node_name="node0")
    glb = scene.export(file_type="glb")  # type: ignore[no-untyped-call]
    if not isinstance(glb, bytes):  # pragma: no cover - trimesh's GLB export returns bytes
        raise Undecodable("model")
    return _without_extras(glb)


def _without_extras(glb: bytes) -> bytes:
    """The GLB with its JSON chunk rewritten without `extras` (trimesh writes an empty one)."""
    (json_length,) = struct.unpack_from("<I", glb, 12)
    document = json.loads(glb[20 : 20 + json_length])
    for mesh in document.get("meshes", []):
        mesh.pop("extras", None)
    document.pop("extras", None)
    text = json.dumps(document, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 4)  # chunks are 4-byte aligned; JSON pads with spaces
    rest = glb[20 + json_length :]  # the binary chunk, as written
    body = struct.pack("<I4s", len(text), b"JSON") + text + rest
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def _geometry(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Every triangle of the model, in world space, as fresh float64 and int64 arrays."""
    if not data or len(data) > MAX_MODEL_BYTES:
        raise Undecodable("model")
    import trimesh

    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=_model_format(data), force="scene")
        meshes = [m for m in loaded.dump() if isinstance(m, trimesh.Trimesh)]  # type: ignore[attr-defined]
    except Exception as exc:  # trimesh raises anything from struct.error to KeyError
        raise Undecodable("model") from exc
    meshes = [m for m in meshes if len(m.faces)]
    if not meshes:
        raise Undecodable("model")
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    vertices = np.concatenate([np.asarray(m.vertices, dtype=np.float64) for m in meshes])
    triangles = np.concatenate(
        [np.asarray(m.faces, dtype=np.int64) + o for m, o in zip(meshes, offsets, strict=True)]
    )
    if not np.isfinite(vertices).all():
        raise Undecodable("model")
    return np.ascontiguousarray(vertices), np.ascontiguousarray(triangles)


def _model_format(data: bytes) -> str:
    """The format by content (the formats generation writes): GLB, binary STL, else OBJ."""
    if data[:4] == b"glTF":
        return "glb"
    if len(data) >= 84 and len(data) == 84 + 50 * int.from_bytes(data[80:84], "little"):
        return "stl"
    if data.lstrip()[:5].lower() == b"solid":
        return "stl"
    return "obj"
