"""What access (Art. 15) and portability (Art. 20) archives say: the subject's data gathered
in one read, the information Art. 15 owes them, the JSON documents and their schema."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters.crypto.fields import open_field
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.purposes import OBJECTABLE
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import load_policy
from minimaker.rights import service as rights
from minimaker.rights.tables import Disclosure, Objection, RequestEvent, RightsRequest
from minimaker.uploads.tables import Upload

ACCESS, PORTABILITY = "access", "portability"
FORMAT_VERSION = 1
_PHOTO_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# Photos and GLB are compressed already: deflating them again costs time and saves nothing.
_COMPRESSED_MODEL_FORMATS = frozenset({"glb"})
#: The sections of data.json that portability (Art. 20) carries: what the subject provided.
PORTABLE = ("profile", "photos", "models", "preferences")


@dataclass(frozen=True)
class FileItem:
    """A file of the archive: its path there and the blob it is decrypted from."""

    path: str
    blob_id: str
    size_bytes: int
    compressed: bool


@dataclass(frozen=True)
class Snapshot:
    """Everything an archive holds: JSON-ready sections, and the blobs of its files."""

    subject_id: str
    request_id: str
    kind: str
    generated_at: str
    region: str
    sections: dict[str, Any]
    files: tuple[FileItem, ...]

    def keeping(self, written: set[str]) -> Snapshot:
        """This snapshot without the files deleted by their owner while it was archived."""
        sections = dict(self.sections)
        sections["photos"] = [p for p in sections["photos"] if p["file"] in written]
        sections["models"] = [
            {**m, "files": [f for f in m["files"] if f["file"] in written]}
            for m in sections["models"]
        ]
        files = tuple(f for f in self.files if f.path in written)
        return replace(self, sections=sections, files=files)


def collect(c: Container, *, subject_id: str, request_id: str, kind: str) -> Snapshot:
    """Read the subject's data; access also gets request history, usage, sessions, recipients."""
    with c.uow(write=False) as uow:
        user = uow.session.get(User, subject_id)
        if user is None:
            raise NotFound("account")
        photos, photo_files = _photos(uow, subject_id)
        models, model_files = _models(uow, subject_id)
        sections: dict[str, Any] = {
            "profile": _profile(uow, user),
            "photos": photos,
            "models": models,
            "preferences": _preferences(uow, user),
        }
        if kind == ACCESS:
            sections["requests"] = _requests(uow, subject_id)
            sections["usage_events"] = _usage_events(uow, subject_id)
            sections["sessions"] = _sessions(uow, subject_id)
            sections["disclosures"] = _disclosures(uow, subject_id)
    return Snapshot(
        subject_id=subject_id,
        request_id=request_id,
        kind=kind,
        generated_at=c.clock.now().isoformat(),
        region=c.settings.blob_region,
        sections=sections,
        files=photo_files + model_files,
    )


def _profile(uow: UnitOfWork, user: User) -> dict[str, Any]:
    dek = uow.keys.subject_key(user.id)
    sealed = {"name": user.name_enc, "email": user.email_enc, "username": user.username_enc}
    opened = {k: open_field(dek, subject_id=user.id, field=k, sealed=v) for k, v in sealed.items()}
    return {
        "id": user.id,
        **opened,
        "created_at": _iso(user.created_at),
        "updated_at": _iso(user.updated_at),
    }


def _photos(uow: UnitOfWork, subject_id: str) -> tuple[list[dict[str, Any]], tuple[FileItem, ...]]:
    rows = uow.session.scalars(
        select(Upload).where(Upload.owner_id == subject_id).order_by(Upload.created_at, Upload.id)
    ).all()
    photos, files = [], []
    for row in rows:
        # Ids only in paths: the person's own file names are never kept, nor echoed.
        path = f"photos/{row.id}.{_PHOTO_EXT.get(row.media_type, 'bin')}"
        files.append(FileItem(path, row.blob_id, row.size_bytes, compressed=True))
        photos.append(
            {
                "id": row.id,
                "file": path,
                "media_type": row.media_type,
                "size_bytes": row.size_bytes,
                "width": row.width,
                "height": row.height,
                "created_at": _iso(row.created_at),
            }
        )
    return photos, tuple(files)


def _models(uow: UnitOfWork, subject_id: str) -> tuple[list[dict[str, Any]], tuple[FileItem, ...]]:
    rows = uow.session.scalars(
        select(Model3D).where(Model3D.owner_id == subject_id).order_by(Model3D.created_at)
    ).all()
    by_model: dict[str, list[ModelFile]] = {}
    for mf in uow.session.scalars(
        select(ModelFile).where(ModelFile.owner_id == subject_id).order_by(ModelFile.format)
    ):
        by_model.setdefault(mf.model_id, []).append(mf)
    models, files = [], []
    for row in rows:
        entries = []
        for mf in by_model.get(row.id, []):
            path = f"models/{row.id}.{mf.format}"
            compressed = mf.format in _COMPRESSED_MODEL_FORMATS
            files.append(FileItem(path, mf.blob_id, mf.size_bytes, compressed=compressed))
            entries.append({"format": mf.format, "file": path, "size_bytes": mf.size_bytes})
        models.append(
            {
                "id": row.id,
                "upload_id": row.upload_id,
                "status": row.status,
                "params": dict(row.params),
                "error": row.error,
                "files": entries,
                "created_at": _iso(row.created_at),
                "finished_at": _iso(row.finished_at),
            }
        )
    return models, tuple(files)


def _preferences(uow: UnitOfWork, user: User) -> dict[str, Any]:
    query = select(Objection.purpose, Objection.since).where(Objection.subject_id == user.id)
    since = {purpose: at for purpose, at in uow.session.execute(query)}
    return {
        "objections": {p: p in since for p in OBJECTABLE},
        "objected_since": {p: _iso(at) for p, at in sorted(since.items())},
        "restricted": user.restricted_at is not None,
        "restricted_since": _iso(user.restricted_at),
    }


def _requests(uow: UnitOfWork, subject_id: str) -> list[dict[str, Any]]:
    """Each request with its decrypted details and its events, as the subject sees them."""
    rows = uow.session.scalars(
        select(RightsRequest)
        .where(RightsRequest.subject_id == subject_id)
        .order_by(RightsRequest.received_at)
    ).all()
    events: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    query = select(RequestEvent).where(RequestEvent.request_id.in_(list(events)))
    for e in uow.session.scalars(query.order_by(RequestEvent.id)):
        events[e.request_id].append(
            {"at": _iso(e.at), "from": e.from_status, "to": e.to_status, "note": e.note}
        )
    return [
        {
            "id": row.id,
            "type": row.type,
            "status": row.status,
            "channel": row.channel,
            "details": rights.open_details(uow, row),
            "received_at": _iso(row.received_at),
            "due_at": _iso(row.due_at),
            "completed_at": _iso(row.completed_at),
            "extension_reason": row.extension_reason,
            "rejection_reason": row.rejection_reason,
            "events": events[row.id],
        }
        for row in rows
    ]


def _usage_events(uow: UnitOfWork, subject_id: str) -> list[dict[str, Any]]:
    query = select(UsageEvent.event, UsageEvent.at).where(UsageEvent.subject_id == subject_id)
    rows = uow.session.execute(query.order_by(UsageEvent.at, UsageEvent.id)).all()
    return [{"event": event, "at": _iso(at)} for event, at in rows]


def _sessions(uow: UnitOfWork, subject_id: str) -> list[dict[str, Any]]:
    # Session ids stay out of the archive: with a signing key they are half a credential.
    query = select(AuthSession.created_at, AuthSession.expires_at).where(
        AuthSession.user_id == subject_id
    )
    rows = uow.session.execute(query.order_by(AuthSession.created_at)).all()
    return [{"created_at": _iso(a), "expires_at": _iso(b)} for a, b in rows]


def _disclosures(uow: UnitOfWork, subject_id: str) -> list[dict[str, Any]]:
    query = select(Disclosure).where(Disclosure.subject_id == subject_id)
    return [
        {
            "recipient": d.recipient,
            "purpose": d.purpose,
            "categories": [x for x in d.categories.split(",") if x],
            "at": _iso(d.at),
        }
        for d in uow.session.scalars(query.order_by(Disclosure.at))
    ]


def information(snapshot: Snapshot) -> dict[str, Any]:
    """The information Art. 15(1)(a)-(h) and 15(2) owes the subject, from the policy file."""
    policy = load_policy()
    told = [f"{d['recipient']} ({d['purpose']})" for d in snapshot.sections["disclosures"]]
    told += [f"{p['name']} (processor)" for p in policy.processors if "name" in p]
    outside = sorted(name for name, region in policy.regions.items() if not region.in_eu)
    return {
        "controller": policy.controller.model_dump(),
        "policy_version": policy.version,
        "purposes": [
            {
                "purpose": name,
                "description": p.description,
                "lawful_basis": p.lawful_basis,
                "categories": p.categories,
            }
            for name, p in policy.purposes.items()
        ],
        "categories": [
            {"category": name, "description": cat.description, "retention": cat.retention}
            for name, cat in policy.categories.items()
        ],
        "recipients": sorted(set(told)) or ["none"],
        "source": "You: everything here was given to us by you (sign-up, uploads, requests, "
        "use of the app) or made by MiniMaker from it (models, logs). We obtain no data about "
        "you from anyone else.",
        "transfers": _transfers(snapshot.region, outside),
        "automated_decision_making": "None. MiniMaker makes no decision based solely on "
        "automated processing, including profiling, that produces legal effects concerning "
        "you or similarly significantly affects you (Art. 22 GDPR).",
        "rights": list(RIGHTS),
        "complaint": rights.COMPLAINT,
    }


def _transfers(region: str, outside: list[str]) -> str:
    if not outside:
        return (
            f"None. Your data is stored in the EU (region {region}) and every region we use "
            "lies within the EU; nothing is transferred outside the EU, so no Art. 46 "
            "safeguards (such as standard contractual clauses) are needed."
        )
    return (
        f"Your data is stored in region {region}. Regions outside the EU ({', '.join(outside)}) "
        "are used only with a safeguard under Art. 46 GDPR recorded in our policy."
    )


RIGHTS = (
    "Access (Art. 15): a copy of your data and this information; this archive is one.",
    "Rectification (Art. 16): correct your name, email or username.",
    "Erasure (Art. 17): delete your data; deleting your account destroys its key.",
    "Restriction (Art. 18): limit processing to storage while a question is settled.",
    "Notification (Art. 19): recipients are told of corrections, erasure and restrictions, "
    "and you may ask who they are.",
    "Portability (Art. 20): your data in a structured, machine-readable format.",
    "Objection (Art. 21): object to training, marketing and analytics at any time.",
    "Automated decisions (Art. 22): not to be subject to a decision based solely on "
    "automated processing; MiniMaker makes none.",
    "Use any of them in the privacy centre of the app, or write to privacy@minimaker.ai.",
)


def access_document(snapshot: Snapshot) -> dict[str, Any]:
    """data.json of an access archive: all personal data held, and the Art. 15 information."""
    header = {"format": "minimaker-access", "version": FORMAT_VERSION}
    return header | _ids(snapshot) | snapshot.sections | {"information": information(snapshot)}


def portability_document(snapshot: Snapshot) -> dict[str, Any]:
    """data.json of a portability archive, valid against PORTABILITY_SCHEMA."""
    header = {"schema": "schema.json", "format": "minimaker-portability"}
    portable = {k: snapshot.sections[k] for k in PORTABLE}
    return header | {"version": FORMAT_VERSION} | _ids(snapshot) | portable


def _ids(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "generated_at": snapshot.generated_at,
        "request_id": snapshot.request_id,
        "subject_id": snapshot.subject_id,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


_FILE = _object(
    {"format": {"type": "string"}, "file": {"type": "string"}, "size_bytes": {"type": "integer"}}
)

#: The published JSON Schema (draft 2020-12) of a portability archive's data.json.
PORTABILITY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://minimaker.ai/schemas/portability-v1.json",
    "title": "MiniMaker data portability export (Art. 20 GDPR), version 1",
    **_object(
        {
            "schema": {"const": "schema.json"},
            "format": {"const": "minimaker-portability"},
            "version": {"const": FORMAT_VERSION},
            "generated_at": _TIME,
            "request_id": _ID,
            "subject_id": _ID,
            "profile": _object(
                {"id": _ID, "name": {"type": "string"}, "email": {"type": "string"}}
                | {"username": {"type": "string"}, "created_at": _TIME, "updated_at": _TIME}
            ),
            "photos": {
                "type": "array",
                "items": _object(
                    {"id": _ID, "file": {"type": "string"}, "media_type": {"type": "string"}}
                    | {"size_bytes": {"type": "integer"}, "width": {"type": "integer"}}
                    | {"height": {"type": "integer"}, "created_at": _TIME}
                ),
            },
            "models": {
                "type": "array",
                "items": _object(
                    {"id": _ID, "upload_id": {"type": ["string", "null"]}}
                    | {"status": {"enum": ["queued", "running", "done", "failed"]}}
                    | {"params": {"type": "object"}, "error": {"type": ["string", "null"]}}
                    | {"files": {"type": "array", "items": _FILE}}
                    | {"created_at": _TIME, "finished_at": _TIME}
                ),
            },
            "preferences": _object(
                {
                    "objections": _object({p: {"type": "boolean"} for p in OBJECTABLE}),
                    "objected_since": {"type": "object", "additionalProperties": _TIME},
                    "restricted": {"type": "boolean"},
                    "restricted_since": _TIME,
                }
            ),
        }
    ),
}
