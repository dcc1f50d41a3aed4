"""Access and portability archives: content, Art. 15 information, sealing, failure, expiry."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import tracemalloc
import uuid
import zipfile
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.generation import previews
from minimaker.generation import service as generation
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import BlobIntegrityError
from minimaker.rights import access, archive_content, intake, objection, restriction
from minimaker.rights.fulfil import Work
from minimaker.rights.read_model import RequestRead
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import Archive, Disclosure
from minimaker.sharing.rules import ShareRefused
from minimaker.uploads import service as uploads
from minimaker.uploads.tables import Upload
from tests.conftest import photo_bytes
from tests.rights.disclosures import FARM, PRINT_PARTNER, disclose, policy_naming
from tests.scan import needles_for, scan_files, windows

MIB = 1 << 20


def _subject(c: Container, *, username: str = "ada", name: str = "Ada Lovelace") -> str:
    return accounts.signup(
        c,
        name=name,
        email=f"{username}@example.org",
        username=username,
        password="correct horse battery staple",
    ).id


def _fulfilled(c: Container, worker: Worker, user_id: str, kind: str) -> RequestRead:
    request = intake.submit(c, user_id=user_id, type=kind)
    worker.run_until_idle()
    return intake.get_for_subject(c, user_id=user_id, request_id=request.id)


def _zip(c: Container, user_id: str, request_id: str) -> zipfile.ZipFile:
    download = access.open_download(c, user_id=user_id, request_id=request_id)
    data = b"".join(download.chunks)
    assert len(data) == download.size_bytes
    return zipfile.ZipFile(io.BytesIO(data))


def _archive_blobs(c: Container) -> list[str]:
    with c.sessions() as s:
        return list(s.scalars(select(Archive.blob_id)))


def test_fulfillers_exist_for_access_and_portability(container: Container) -> None:
    assert container.registries.fulfillers["access"] is access.fulfil_access
    assert container.registries.fulfillers["portability"] is access.fulfil_portability


def test_access_archive_holds_every_personal_datum_of_the_subject(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    photos = {}
    for seed in (1, 2):
        data = photo_bytes(fmt="JPEG", seed=seed)
        photos[uploads.create_upload(container, user_id=user_id, data=data).id] = data
    model = generation.request_model(container, user_id=user_id, upload_id=next(iter(photos)))
    objection.set_objections(container, user_id=user_id, objections={"marketing"})
    request = _fulfilled(container, worker, user_id, "access")
    assert request.status == "completed"
    zf = _zip(container, user_id, request.id)
    doc = json.loads(zf.read("data.json"))
    assert doc["profile"]["name"] == "Ada Lovelace"
    assert doc["profile"]["email"] == "ada@example.org"
    assert doc["profile"]["username"] == "ada"
    for photo in doc["photos"]:
        assert zf.read(photo["file"]) == photos[photo["id"]]
        assert zf.getinfo(photo["file"]).compress_type == zipfile.ZIP_STORED
    assert {p["id"] for p in doc["photos"]} == set(photos)
    (made,) = doc["models"]
    assert made["id"] == model.id and made["status"] == "done"
    assert {f["format"] for f in made["files"]} == {"stl", "glb", "obj"}
    for f in made["files"]:
        _, chunks = generation.open_model_content(
            container, user_id=user_id, model_id=model.id, fmt=f["format"]
        )
        assert zf.read(f["file"]) == b"".join(chunks)
    # its preview, drawn when it was made, is theirs as its files are (stored, not deflated)
    (shaded,) = made["previews"]
    assert shaded["view"] == "shaded" and shaded["file"] == f"models/{model.id}-shaded.png"
    stored = previews.model_preview(container, user_id=user_id, model_id=model.id, view="shaded")
    assert zf.read(shaded["file"]) == stored
    assert zf.getinfo(shaded["file"]).compress_type == zipfile.ZIP_STORED
    assert doc["preferences"]["objections"] == {
        "training": False,
        "marketing": True,
        "analytics": False,
    }
    assert [r["id"] for r in doc["requests"]] == [request.id]
    assert [e["to"] for e in doc["requests"][0]["events"]] == [
        "received",
        "verified",
        "in_progress",
    ]
    assert [e["event"] for e in doc["usage_events"]] == ["model.generated"]
    assert zf.getinfo("data.json").compress_type == zipfile.ZIP_DEFLATED
    for info in zf.infolist():
        assert re.fullmatch(
            r"(photos|models)/[0-9a-f]{32}(\.\w+|-shaded\.png)|index\.html|data\.json",
            info.filename,
        )
        assert (info.external_attr >> 16) & 0o777 == 0o600


#: What Art. 15(1)(a), (d) owe the subject, stated here rather than read from policy.yaml (the
#: file the code reads): a change to the policy's bases or retention must be seen to change.
LAWFUL_BASES = {
    "service": "contract (Art. 6(1)(b))",
    "generation": "contract (Art. 6(1)(b))",
    "security": "legal obligation (Art. 6(1)(c))",
    "training": "legitimate interests (Art. 6(1)(f))",
    "marketing": "consent (Art. 6(1)(a))",
    "analytics": "legitimate interests (Art. 6(1)(f))",
}
RETENTION_STARTS = {
    "account": "Until the account is deleted.",
    "credentials": "Until the account is deleted;",
    "uploaded_image": "Until the user deletes them or the account.",
    "generated_model": "Until the user deletes them or the account.",
    "usage_event": "Until the account is deleted;",
    "rights_archive": "7 days after they are made",
    "rights_request": "Details until the request is answered",
    "message": "Deleted once delivered",
    "security_log": "Audit trail kept for accountability;",
}


def test_art_15_information_states_the_purposes_bases_retention_and_rights(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    request = _fulfilled(container, worker, user_id, "access")
    info = json.loads(_zip(container, user_id, request.id).read("data.json"))["information"]
    assert {p["purpose"]: p["lawful_basis"] for p in info["purposes"]} == LAWFUL_BASES
    retention = {c["category"]: c["retention"] for c in info["categories"]}
    assert set(retention) == set(RETENTION_STARTS)
    for category, start in RETENTION_STARTS.items():
        assert retention[category].startswith(start), category
    # Policy 4.1 names the account data; the archive's categories must say the same.
    account = next(c for c in info["categories"] if c["category"] == "account")
    assert account["description"] == "Name, email address and username given at sign-up."
    assert info["controller"] == {
        "name": "MiniMaker.ai",
        "contact": "privacy@minimaker.ai",
        "dpo": "privacy@minimaker.ai",
    }
    assert info["recipients"] == []
    assert info["recipients_note"].startswith("Nobody")
    assert info["source"].startswith("You")
    assert "outside the EU" in info["transfers"] and info["transfers"].startswith("None")
    assert (
        info["automated_decision_making"].startswith("None")
        and "Art. 22" in (info["automated_decision_making"])
    )
    for article in range(15, 23):
        assert any(f"Art. {article})" in r for r in info["rights"]), article
    assert "supervisory authority" in info["complaint"] and "Art. 77" in info["complaint"]


def test_recipients_come_from_the_disclosure_log(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    user_id = _subject(container)
    with policy_naming(container, PRINT_PARTNER, FARM):
        disclose(container, user_id, "print-partner")
        clock.advance(days=1)
        disclose(container, user_id, "print-partner", categories=["uploaded_image"])
        disclose(container, user_id, "render-farm", categories=["uploaded_image"])
        request = _fulfilled(container, worker, user_id, "access")
    zf = _zip(container, user_id, request.id)
    doc = json.loads(zf.read("data.json"))
    told = {r["recipient"]: r for r in doc["information"]["recipients"]}
    assert sorted(told) == ["print-partner", "render-farm"]
    partner = told["print-partner"]
    assert partner["categories"] == ["generated_model", "uploaded_image"]
    assert partner["purposes"] == ["service"]
    assert partner["first_disclosed"] < partner["last_disclosed"]
    assert [d["recipient"] for d in doc["disclosures"]] == ["print-partner"] * 2 + ["render-farm"]
    page = zf.read("index.html").decode()
    assert "print-partner" in page and "render-farm" in page


def test_the_service_refuses_a_disclosure_to_a_recipient_the_policy_does_not_name(
    container: Container,
) -> None:
    user_id = _subject(container)
    with pytest.raises(ShareRefused, match="names no such processor"):
        disclose(container, user_id, "print-partner")
    with container.sessions() as s:
        assert s.scalars(select(Disclosure)).all() == []


def test_access_is_fulfilled_while_processing_is_restricted(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    restriction.set_restriction(container, user_id=user_id, restricted=True)
    request = _fulfilled(container, worker, user_id, "access")
    assert request.status == "completed"
    doc = json.loads(_zip(container, user_id, request.id).read("data.json"))
    assert doc["preferences"]["restricted"] is True


def test_archive_blob_is_sealed_under_the_subjects_key_with_nothing_readable_on_disk(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    photo = photo_bytes(width=96, height=64, fmt="PNG", seed=5)
    uploads.create_upload(container, user_id=user_id, data=photo)
    request = _fulfilled(container, worker, user_id, "access")
    (blob_id,) = _archive_blobs(container)
    on_disk = container.settings.blob_dir / blob_id[:2] / blob_id
    assert on_disk.is_file()
    found = scan_files(
        container.settings.blob_dir, needles_for("Ada Lovelace", "ada@example.org"), windows(photo)
    )
    assert found == {}
    other = _subject(container, username="bob", name="Bob Example")
    with pytest.raises(BlobIntegrityError):
        container.blobs.read_bytes(container.keys.subject_key(other), blob_id)
    assert _zip(container, user_id, request.id).testzip() is None


def test_portability_data_matches_its_published_schema(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    data = photo_bytes(fmt="WEBP")
    upload = uploads.create_upload(container, user_id=user_id, data=data)
    generation.request_model(container, user_id=user_id, upload_id=upload.id)
    request = _fulfilled(container, worker, user_id, "portability")
    zf = _zip(container, user_id, request.id)
    schema = json.loads(zf.read("schema.json"))
    assert schema == archive_content.portability_schema(container.personal_data)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    doc = json.loads(zf.read("data.json"))
    validate(doc, schema)
    assert set(doc) >= {"profile", "photos", "models", "preferences"}
    assert "requests" not in doc and "information" not in doc
    assert zf.read(doc["photos"][0]["file"]) == data
    assert {f["format"] for f in doc["models"][0]["files"]} == {"stl", "glb", "obj"}
    assert [p["view"] for p in doc["models"][0]["previews"]] == ["shaded"]
    assert "index.html" not in zf.namelist()


def test_a_document_that_breaks_the_schema_is_caught_by_the_validator(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    request = _fulfilled(container, worker, user_id, "portability")
    doc = json.loads(_zip(container, user_id, request.id).read("data.json"))
    for broken in (
        {**doc, "extra": 1},
        {**doc, "photos": [{"id": "x"}]},
        {**doc, "profile": {**doc["profile"], "email": 3}},
    ):
        with pytest.raises(AssertionError):
            validate(broken, archive_content.portability_schema(container.personal_data))


@pytest.mark.parametrize("kind", ["access", "portability"])
def test_an_archive_has_a_section_for_each_declared_section_and_nothing_else(
    container: Container, worker: Worker, kind: str
) -> None:
    user_id = _subject(container)
    request = _fulfilled(container, worker, user_id, kind)
    doc = json.loads(_zip(container, user_id, request.id).read("data.json"))
    declared = container.personal_data.sections(portable_only=kind == "portability")
    assert len(declared) >= (8 if kind == "access" else 4)
    header = {"format", "version", "generated_at", "request_id", "subject_id"}
    header |= {"information", "history"} if kind == "access" else {"schema"}
    assert set(doc) == header | {d.section.name for d in declared if d.section}


def test_a_failure_while_building_leaves_no_archive_and_no_blob(container: Container) -> None:
    user_id = _subject(container)
    upload = uploads.create_upload(container, user_id=user_id, data=photo_bytes(seed=9))
    with container.sessions() as s:
        blob_id = s.scalar(select(Upload.blob_id).where(Upload.id == upload.id))
    path = container.settings.blob_dir / blob_id[:2] / blob_id
    sealed = bytearray(path.read_bytes())
    sealed[40] ^= 0x01  # tamper with the photo's first chunk
    path.write_bytes(bytes(sealed))
    before = set(container.blobs.store.iter_ids())
    request = intake.submit(container, user_id=user_id, type="access")
    work = Work(request.id, user_id, RequestType.ACCESS, {})
    with pytest.raises(BlobIntegrityError):
        access.fulfil_access(container, work)
    assert set(container.blobs.store.iter_ids()) == before
    assert [p.name for p in container.settings.blob_dir.rglob(".tmp-*")] == []
    assert _archive_blobs(container) == []


def test_a_photo_deleted_while_the_archive_is_built_is_left_out_of_it(
    container: Container,
) -> None:
    user_id = _subject(container)
    kept = uploads.create_upload(container, user_id=user_id, data=photo_bytes(seed=1))
    gone = uploads.create_upload(container, user_id=user_id, data=photo_bytes(seed=2))
    snapshot = archive_content.collect(
        container, subject_id=user_id, request_id=uuid.uuid4().hex, kind="portability"
    )
    uploads.delete_upload(container, user_id=user_id, upload_id=gone.id)
    dek = container.keys.subject_key(user_id)
    stored = access.seal_stream(
        container.blobs, dek, lambda sink: access.write_zip(sink, container.blobs, dek, snapshot)
    )
    zf = zipfile.ZipFile(io.BytesIO(container.blobs.read_bytes(dek, stored.blob_id)))
    doc = json.loads(zf.read("data.json"))
    assert [p["id"] for p in doc["photos"]] == [kept.id]
    assert [n for n in zf.namelist() if n.startswith("photos/")] == [f"photos/{kept.id}.png"]


def test_a_retried_job_returns_the_archive_already_built(container: Container) -> None:
    user_id = _subject(container)
    request = intake.submit(container, user_id=user_id, type="portability")
    work = Work(request.id, user_id, RequestType.PORTABILITY, {})
    first = access.fulfil_portability(container, work)
    assert access.fulfil_portability(container, work) == first
    assert len(_archive_blobs(container)) == 1


def test_expired_archives_are_deleted_with_their_blobs_and_audited(
    container: Container, worker: Worker, clock: ManualClock
) -> None:
    user_id = _subject(container)
    old = _fulfilled(container, worker, user_id, "access")
    (old_blob,) = _archive_blobs(container)
    clock.advance(days=4)
    _fulfilled(container, worker, user_id, "portability")
    clock.advance(days=3, seconds=1)
    assert access.expire_archives(container) == 1
    assert not container.blobs.store.exists(old_blob)
    assert len(_archive_blobs(container)) == 1
    with pytest.raises(access.ArchiveExpired):
        access.open_download(container, user_id=user_id, request_id=old.id)
    assert access.expire_archives(container) == 0
    with container.sessions() as s:
        expired = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "rights:archive:expired")
        ).all()
    assert [(e.subject, e.actor) for e in expired] == [(user_id, "system:retention")]
    assert expired[0].object.endswith(":access")


def test_building_an_archive_keeps_memory_flat_whatever_its_size(
    container: Container, worker: Worker
) -> None:
    user_id = _subject(container)
    digests = _insert_large_photos(container, user_id, count=6, size=8 * MIB)
    tracemalloc.start()
    try:
        request = _fulfilled(container, worker, user_id, "portability")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 48 MiB of photos go through; held at once: the pipe's 4 MiB, a few 1 MiB chunks in
    # flight and the crypto buffers, about 12 MiB at most, however large the archive.
    assert peak < 16 * MIB, peak
    zf = _zip(container, user_id, request.id)
    doc = json.loads(zf.read("data.json"))
    for photo in doc["photos"]:
        assert hashlib.sha256(zf.read(photo["file"])).hexdigest() == digests[photo["id"]]


def _insert_large_photos(c: Container, user_id: str, *, count: int, size: int) -> dict[str, str]:
    digests = {}
    dek = c.keys.subject_key(user_id)
    with c.uow() as uow:
        for _ in range(count):
            data = os.urandom(size)
            stored = c.blobs.put_bytes(dek, data)
            uow.wrote_blob(stored.blob_id)
            upload_id = uuid.uuid4().hex
            digests[upload_id] = hashlib.sha256(data).hexdigest()
            uow.session.add(
                Upload(
                    id=upload_id,
                    owner_id=user_id,
                    blob_id=stored.blob_id,
                    media_type="image/jpeg",
                    size_bytes=size,
                    width=4096,
                    height=4096,
                    created_at=c.clock.now(),
                )
            )
        uow.commit()
    return digests


def test_the_pipe_holds_back_a_writer_that_runs_ahead_of_its_reader() -> None:
    pipe = access.ChunkPipe(limit=4 * MIB, piece=MIB)
    written = []

    def writer() -> None:
        for i in range(16):
            pipe.write(bytes([i]) * MIB)
            written.append(i)
        pipe.close_write()

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(timeout=0.3)
    assert thread.is_alive() and len(written) <= 5
    out, view = bytearray(), memoryview(bytearray(300_000))
    while n := pipe.readinto(view):
        out += view[:n]
    thread.join()
    assert out == b"".join(bytes([i]) * MIB for i in range(16))


def test_the_pipe_never_ends_cleanly_after_its_writer_failed() -> None:
    pipe = access.ChunkPipe()
    pipe.write(b"partial zip")
    pipe.abort()
    with pytest.raises(Exception, match="writer failed"):
        pipe.readinto(memoryview(bytearray(16)))
    broken = access.ChunkPipe(limit=MIB, piece=MIB)
    broken.break_()
    with pytest.raises(BrokenPipeError):
        broken.write(b"x" * MIB)


# --- a structural JSON Schema check for the keywords the portability schema uses ----------

_KEYWORDS = {
    "$schema",
    "$id",
    "title",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "const",
    "enum",
    "pattern",
    "format",
}
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    """Assert value matches schema (draft 2020-12 subset); unknown keywords fail loudly."""
    assert set(schema) <= _KEYWORDS, f"validator lacks {set(schema) - _KEYWORDS}"
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(_is(value, k) for k in kinds), f"{path}: not {kinds}"
    if "const" in schema:
        assert value == schema["const"], f"{path}: not {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: not one of {schema['enum']}"
    if isinstance(value, str) and "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{path}: does not match"
    if isinstance(value, str) and schema.get("format") == "date-time":
        datetime.fromisoformat(value)
    if isinstance(value, dict):
        _validate_object(value, schema, path)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]")


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    for key in schema.get("required", []):
        assert key in value, f"{path}: {key} missing"
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            validate(item, properties[key], f"{path}.{key}")
        elif extra is False:
            raise AssertionError(f"{path}: unexpected {key}")
        elif isinstance(extra, dict):
            validate(item, extra, f"{path}.{key}")


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind]) and not (kind != "boolean" and isinstance(value, bool))
