"""Data minimization at intake (policy 3.3): photos lose their location, device and text
metadata at upload, keep their image data byte for byte and their orientation; the upload
form says so, and the access archive shows what is kept."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image, ImageCms
from sqlalchemy import func, select

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.uploads import metadata
from minimaker.uploads.tables import Upload
from tests.browser import signed_in, upload
from tests.conftest import signup_and_login
from tests.uploads import rich_photos as rp

Headers = dict[str, str]
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _upload(client: TestClient, headers: Headers, data: bytes) -> dict[str, object]:
    r = client.post(
        "/api/v1/uploads", files={"file": ("IMG_0042.jpg", data, "image/jpeg")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stored_and_served(c: Container, client: TestClient, headers: Headers, data: bytes) -> bytes:
    """Upload `data`; the photo as served back, checked to be exactly the stored blob."""
    photo = _upload(client, headers, data)
    served = client.get(f"/api/v1/uploads/{photo['id']}/content", headers=headers).content
    with c.sessions() as s:
        row = s.get(Upload, photo["id"])
        assert row is not None
        stored = c.blobs.read_bytes(c.keys.subject_key(row.owner_id), row.blob_id)
    assert stored == served
    assert photo["size_bytes"] == len(served)
    return served


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img)


def _leaks(data: bytes) -> list[bytes]:
    return [n for n in rp.NEEDLES if n in data]


def test_a_jpeg_keeps_its_scan_data_and_orientation_and_loses_every_other_metadatum(
    client: TestClient, container: Container
) -> None:
    plain = rp.encoded(rp.pixels(), "JPEG", quality=90, icc_profile=SRGB)
    original = rp.rich_jpeg(plain, orientation=6)
    with Image.open(io.BytesIO(original)) as img:  # the fixture really carries it all
        assert img.getexif()[ExifTags.Base.Make] == "Canon"
        assert img.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    served = _stored_and_served(container, client, signup_and_login(client), original)
    assert _leaks(original) == list(rp.NEEDLES)
    assert _leaks(served) == []
    # The entropy-coded scan, with the tables before it, is byte for byte the original's.
    assert served.endswith(plain[plain.index(b"\xff\xdb") :])
    assert served.count(b"\xff\xd8") == 1  # no embedded thumbnail or preview is left
    with Image.open(io.BytesIO(served)) as img:
        exif = img.getexif()
        assert dict(exif) == {ExifTags.Base.Orientation: 6}
        assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert img.info.get("icc_profile") == SRGB  # colour data, kept: see the decision
        assert "comment" not in img.info and "xmp" not in img.info
    assert np.array_equal(_pixels(served), _pixels(original))


def test_a_png_loses_its_text_time_and_exif_chunks_with_its_pixels_unchanged(
    client: TestClient, container: Container
) -> None:
    original = rp.rich_png(rp.pixels(), orientation=8)
    served = _stored_and_served(container, client, signup_and_login(client), original)
    before, after = rp.png_chunks(original), rp.png_chunks(served)
    assert {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"} <= {k for k, _ in before}
    assert [k for k, _ in after] == [b"IHDR", b"eXIf", b"IDAT", b"IEND"]
    assert [p for k, p in after if k == b"IDAT"] == [p for k, p in before if k == b"IDAT"]
    assert dict(after)[b"eXIf"] == metadata.orientation_tiff(8)
    assert _leaks(served) == [] and rp.PERSON.encode() not in served
    assert np.array_equal(_pixels(served), _pixels(original))


def test_a_16_bit_colour_png_keeps_every_bit_of_its_samples(
    client: TestClient, container: Container
) -> None:
    original = rp.deep_png()
    served = _stored_and_served(container, client, signup_and_login(client), original)
    # Pillow would have re-encoded these as 8-bit: the chunks are copied as they are.
    assert rp.png_chunks(served) == [c for c in rp.png_chunks(original) if c[0] != b"tEXt"]


def test_a_webp_loses_its_exif_and_xmp_with_its_image_data_unchanged(
    client: TestClient, container: Container
) -> None:
    original = rp.rich_webp(rp.pixels(), orientation=3)
    served = _stored_and_served(container, client, signup_and_login(client), original)
    before, after = dict(rp.webp_chunks(original)), dict(rp.webp_chunks(served))
    assert set(after) == {b"VP8X", b"VP8 ", b"EXIF"}
    assert after[b"VP8 "] == before[b"VP8 "]
    assert after[b"EXIF"] == metadata.orientation_tiff(3)
    assert after[b"VP8X"][0] == 0x08  # flags: Exif only (no XMP any more)
    assert _leaks(served) == [] and b"xmpmeta" in original
    with Image.open(io.BytesIO(served)) as img:
        assert dict(img.getexif()) == {ExifTags.Base.Orientation: 3}
    assert np.array_equal(_pixels(served), _pixels(original))


def _jpeg_cut_in_its_scan() -> bytes:
    plain = rp.encoded(rp.pixels(), "JPEG")
    return plain[: plain.index(b"\xff\xda") + 40]


MALFORMED = {
    "jpeg segment longer than the file": b"\xff\xd8\xff\xe1\xff\xf0Exif\x00\x00MM",
    "jpeg segment length below two": b"\xff\xd8\xff\xfe\x00\x01" + rp.COMMENT,
    "jpeg bytes where a marker must be": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00"
    + b"\x00\x01\x00\x01\x00\x00junk",
    "jpeg restart marker outside a scan": b"\xff\xd8\xff\xd0" + rp.COMMENT,
    "jpeg cut in its scan": _jpeg_cut_in_its_scan(),
    "png chunk longer than the file": rp.deep_png()[:33] + struct.pack(">I", 2**31 - 1) + b"tEXt",
    "png unknown critical chunk": rp.deep_png()[:33] + rp.png_chunk(b"ZZZZ", b"x"),
    "png without an end": rp.deep_png()[:-12],
    "webp chunk beyond its riff": b"RIFF\x20\x00\x00\x00WEBPEXIF\xff\x00\x00\x00" + b"\x00" * 16,
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_broken_structure_is_refused_with_nothing_stored(
    client: TestClient, container: Container, data: bytes
) -> None:
    headers = signup_and_login(client)
    r = client.post(
        "/api/v1/uploads", files={"file": ("p.jpg", data, "image/jpeg")}, headers=headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_image"
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Upload)) == 0
    assert list(container.blobs.store.iter_ids()) == []


def test_an_animated_png_is_still_refused(client: TestClient) -> None:
    actl = rp.png_chunk(b"acTL", struct.pack(">II", 2, 0))
    data = rp.deep_png()[:33] + actl + rp.deep_png()[33:]
    r = client.post(
        "/api/v1/uploads",
        files={"file": ("a.png", data, "image/png")},
        headers=signup_and_login(client),
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_image")


def test_the_upload_form_says_what_is_removed_and_why(client: TestClient) -> None:
    page = signed_in(client).get("/app").text
    start = page.index('id="upload-heading"')
    form = re.sub(r"\s+", " ", page[start : page.index("</form>", start)])
    assert "location, camera details, dates and any other hidden data" in form
    assert "only its pixels and orientation are needed to make a model" in form


def test_a_photo_uploaded_through_the_page_is_minimized_too(
    client: TestClient, container: Container
) -> None:
    browser = signed_in(client)
    assert upload(browser, rp.rich_jpeg(rp.encoded(rp.pixels(), "JPEG"))).status_code == 303
    with container.sessions() as s:
        row = s.scalars(select(Upload)).one()
        stored = container.blobs.read_bytes(container.keys.subject_key(row.owner_id), row.blob_id)
    assert _leaks(stored) == []


def test_the_access_archive_shows_what_is_kept_of_each_photo(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers = signup_and_login(client)
    jpeg = _upload(client, headers, rp.rich_jpeg(rp.encoded(rp.pixels(), "JPEG", icc_profile=SRGB)))
    png = _upload(client, headers, rp.rich_png(rp.pixels(), orientation=1))
    r = client.post("/api/v1/privacy/requests", json={"type": "access"}, headers=headers)
    request_id = r.json()["id"]
    worker.run_until_idle()
    r = client.get(f"/api/v1/privacy/requests/{request_id}/download", headers=headers)
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    photos = {p["id"]: p for p in json.loads(zf.read("data.json"))["photos"]}
    assert photos[jpeg["id"]] | {"created_at": None} == {
        "id": jpeg["id"],
        "file": f"photos/{jpeg['id']}.jpg",
        "media_type": "image/jpeg",
        "size_bytes": jpeg["size_bytes"],
        "width": 80,
        "height": 64,
        "created_at": None,
        "format": "JPEG",
        "orientation": "6 (rotated 90 degrees clockwise)",
        "kept": ["the image data as uploaded, unchanged", "orientation", "ICC colour profile"],
        "metadata_removed_at_upload": list(metadata.REMOVED_AT_UPLOAD),
    }
    assert photos[png["id"]]["format"] == "PNG"
    assert photos[png["id"]]["orientation"] == "1 (upright as stored)"
    assert photos[png["id"]]["kept"] == ["the image data as uploaded, unchanged"]
    index = re.sub(r"\s+", " ", zf.read("index.html").decode())
    assert "metadata_removed_at_upload" in index and "GPS location" in index
    assert "rotated 90 degrees clockwise" in index


def test_a_stored_file_is_described_as_it_is_whatever_it_holds() -> None:
    # A photo kept from before minimization is not said to be minimized: it holds Exif.
    rich = rp.rich_jpeg(rp.encoded(rp.pixels(), "JPEG"))
    held = metadata.describe([rich[i : i + 97] for i in range(0, len(rich), 97)], "image/jpeg")
    assert held.found == metadata.strip(rich, "image/jpeg").metadata.found
    assert held.found[:4] == (metadata.EXIF, metadata.XMP, metadata.IPTC, metadata.COMMENT)
    stripped = metadata.strip(rich, "image/jpeg").data
    assert metadata.describe([stripped], "image/jpeg") == metadata.Metadata("image/jpeg", 6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_orientation_is_read_as_pillow_reads_it_in_either_byte_order(
    orientation: int,
) -> None:
    little = rp.exif_tiff(orientation)
    big = metadata.orientation_tiff(orientation)
    for tiff in (little, big):
        exif = Image.Exif()
        exif.load(b"Exif\x00\x00" + tiff)
        assert metadata.read_orientation(tiff) == exif[ExifTags.Base.Orientation] == orientation
