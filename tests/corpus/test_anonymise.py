"""Anonymised copies (policy 9.2): pixels or geometry only, faces hidden, nothing else kept."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageCms, ImageFilter
from skimage import data as samples

from minimaker.corpus import anonymise, faces
from tests.uploads import rich_photos

#: The sample's one face, in its own 512 x 512 pixels (found by CenterFace, checked below).
ASTRONAUT_FACE = (160, 40, 300, 200)


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _rich_photo() -> bytes:
    """A JPEG with GPS Exif, XMP, IPTC, a comment and an ICC profile."""
    plain = rich_photos.encoded(rich_photos.pixels(240, 180), "JPEG", icc_profile=_icc())
    return rich_photos.rich_jpeg(plain)


def _sharpness(img: Image.Image) -> float:
    """Mean edge strength: what a blur takes away."""
    edges = np.asarray(img.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges[2:-2, 2:-2].mean())


def _jpeg(img: Image.Image) -> bytes:
    return rich_photos.encoded(img, "JPEG", quality=95)


def test_a_copy_of_a_photo_holds_none_of_its_metadata() -> None:
    original = _rich_photo()
    assert b"xmpmeta" in original and _icc() in original  # what went in, really went in
    copy = anonymise.anonymise_photo(original)
    with Image.open(io.BytesIO(copy)) as img:
        assert img.format == "JPEG"
        assert not img.getexif()
        assert set(img.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density"}
        assert img.applist == [("APP0", img.applist[0][1])]  # JFIF only: no APP1/2/13, no COM
        assert img.size == (180, 240)  # turned upright by its Exif orientation (6) first
    gps = b"".join(struct.pack("<II", n, d) for n, d in rich_photos.LATITUDE)
    for needle in (*rich_photos.NEEDLES, gps, _icc()[:64], b"Exif", b"ICC_PROFILE"):
        assert needle not in copy


def test_the_astronauts_face_is_hidden_so_the_detector_no_longer_finds_it() -> None:
    photo = Image.fromarray(samples.astronaut())
    found = faces.detect(np.asarray(photo))
    assert len(found) == 1
    box = found[0]
    left, top, right, bottom = ASTRONAUT_FACE
    assert left < box.left < box.right < right and top < box.top < box.bottom < bottom
    copy = Image.open(io.BytesIO(anonymise.anonymise_photo(_jpeg(photo)))).convert("RGB")
    assert faces.detect(np.asarray(copy)) == []
    assert faces.detect(np.asarray(copy), threshold=0.1) == []
    region = ASTRONAUT_FACE
    assert _sharpness(copy.crop(region)) < 0.2 * _sharpness(photo.crop(region))


def test_a_photo_without_faces_is_left_sharp() -> None:
    scene = Image.fromarray(samples.coffee())  # a cup of coffee: no face
    assert faces.detect(np.asarray(scene)) == []
    copy = Image.open(io.BytesIO(anonymise.anonymise_photo(_jpeg(scene))))
    assert copy.size == scene.size
    assert _sharpness(copy) > 0.9 * _sharpness(scene)


def test_a_large_photo_is_copied_at_most_max_side() -> None:
    big = Image.fromarray(samples.astronaut()).resize((2048, 1536))
    copy = Image.open(io.BytesIO(anonymise.anonymise_photo(_jpeg(big))))
    assert max(copy.size) == anonymise.MAX_SIDE


def _tagged_model() -> trimesh.Scene:
    box = trimesh.creation.box()
    box.metadata.update({"name": "ada-secret-mesh", "author": "Ada Lovelace"})
    scene = trimesh.Scene()
    scene.add_geometry(box, geom_name="ada-secret-geometry", node_name="ada-secret-node")
    scene.metadata.update({"author": "Ada Lovelace", "extras": {"owner": "ada-secret"}})
    return scene


@pytest.mark.parametrize("fmt", ["glb", "stl", "obj"])
def test_a_model_copy_holds_its_geometry_and_no_metadata(fmt: str) -> None:
    scene = _tagged_model()
    exported = scene.export(file_type=fmt)
    original = exported.encode() if isinstance(exported, str) else exported
    if fmt == "stl":  # a binary STL's 80-byte header is free text: put a name in it
        original = b"Ada Lovelace's model".ljust(80, b" ") + original[80:]
    copy = anonymise.anonymise_model(original)
    for needle in (b"ada-secret", b"Ada Lovelace", b"extras", b"KHR_xmp", b"author"):
        assert needle not in copy
    (length,) = struct.unpack("<I", copy[12:16])
    document = json.loads(copy[20 : 20 + length])
    assert [n.get("name") for n in document["nodes"]] == ["node0"]
    assert [m.get("name") for m in document["meshes"]] == ["mesh0"]
    assert not any("extras" in str(v) for v in document.values())
    back = trimesh.load(io.BytesIO(copy), file_type="glb", force="mesh")
    assert np.isclose(back.volume, 1.0)  # the unit box, whole


@pytest.mark.parametrize(
    "blob", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n"]
)
def test_an_undecodable_photo_is_refused(blob: bytes) -> None:
    with pytest.raises(anonymise.Undecodable):
        anonymise.anonymise_photo(blob)


@pytest.mark.parametrize("blob", [b"", b"glTF\x02\x00\x00\x00garbage", b"solid x\nendsolid x\n"])
def test_an_undecodable_model_is_refused(blob: bytes) -> None:
    with pytest.raises(anonymise.Undecodable):
        anonymise.anonymise_model(blob)
