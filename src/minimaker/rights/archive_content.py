"""What access (Art. 15) and portability (Art. 20) archives say: the subject's data gathered
in one read, who accessed or changed it (the audit chain), the information Art. 15 owes them
with the recipients from the disclosure log, the JSON documents and their schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select

from minimaker.kernel.container import Container
from minimaker.kernel.personal_data import (
    SCHEMA_ID,
    SCHEMA_TIME,
    ArchiveFile,
    Exported,
    Exporter,
    PersonalTable,
    Pruner,
    Registry,
    iso,
    schema_array,
    schema_object,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import Policy
from minimaker.policy.residency import in_eu
from minimaker.rights import owned_rows
from minimaker.rights.history import Entry, history
from minimaker.rights.lifecycle import COMPLAINT

ACCESS, PORTABILITY = "access", "portability"
FORMAT_VERSION = 1
#: A file of the archive (the type lives with the declarations that produce them).
FileItem = ArchiveFile


@dataclass(frozen=True)
class Snapshot:
    """Everything an archive holds: JSON-ready sections, and the blobs of its files."""

    subject_id: str
    request_id: str
    kind: str
    generated_at: str
    region: str
    #: The policy in force when the archive was made: its Art. 15 information is from it.
    policy: Policy
    sections: dict[str, Any]
    files: tuple[ArchiveFile, ...]
    #: (section, heading) of each section index.html shows, in order.
    titles: tuple[tuple[str, str], ...] = ()
    pruners: Mapping[str, Pruner] = field(default_factory=dict)
    #: The JSON Schema of a portability archive's data.json; None for access.
    schema: dict[str, Any] | None = None
    #: Access only: who accessed or changed the data, and when (Art. 15(1), from the audit).
    history: tuple[Entry, ...] = ()

    def keeping(self, written: set[str]) -> Snapshot:
        """This snapshot without the files deleted by their owner while it was archived."""
        kept = frozenset(written)
        sections = dict(self.sections)
        for name, prune in self.pruners.items():
            sections[name] = prune(sections[name], kept)
        files = tuple(f for f in self.files if f.path in kept)
        return replace(self, sections=sections, files=files)


def collect(c: Container, *, subject_id: str, request_id: str, kind: str) -> Snapshot:
    """Read every declared section of the subject's data (portability: the portable ones)."""
    # Art. 20 carries what the subject provided (the portable sections); Art. 15 everything.
    chosen = [
        (d, d.section)
        for d in c.personal_data.sections(portable_only=kind == PORTABILITY)
        if d.section is not None
    ]
    with c.uow(write=False) as uow:
        exported = {s.name: _exporter(d)(uow, subject_id) for d, s in chosen}
        # Read in the same snapshot as the data, so the two tell the same story.
        accessed = tuple(history(uow, subject_id)) if kind == ACCESS else ()
    return Snapshot(
        subject_id=subject_id,
        request_id=request_id,
        kind=kind,
        generated_at=c.clock.now().isoformat(),
        region=c.settings.blob_region,
        policy=c.policy,
        sections={name: e.data for name, e in exported.items()},
        files=tuple(f for e in exported.values() for f in e.files),
        titles=tuple((s.name, s.title) for _, s in chosen if s.title),
        pruners={s.name: s.prune for _, s in chosen if s.prune is not None},
        schema=portability_schema(c.personal_data) if kind == PORTABILITY else None,
        history=accessed,
    )


def _exporter(d: PersonalTable) -> Exporter:
    assert d.section is not None
    return d.section.exporter or (lambda uow, subject_id: generic_section(uow, d, subject_id))


def _generic_columns(d: PersonalTable) -> list[tuple[str, Any]]:
    """The columns a generic section shows: all but the owner, blobs and hidden ones."""
    left_out = {*d.blobs, *d.hidden, *([d.owner] if isinstance(d.owner, str) else [])}
    return [(k, col) for k, col in inspect(d.table).columns.items() if k not in left_out]


def generic_section(uow: UnitOfWork, d: PersonalTable, subject_id: str) -> Exported:
    """The subject's rows of `d`, column by column, oldest key first (no custom exporter)."""
    columns = _generic_columns(d)
    query = select(*(col for _, col in columns)).where(owned_rows.owned(d, subject_id))
    rows = uow.session.execute(query.order_by(*inspect(d.table).primary_key)).all()
    return Exported(
        [{k: _plain(d, k, v) for (k, _), v in zip(columns, row, strict=True)} for row in rows]
    )


def _plain(d: PersonalTable, key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # Sealed or binary data cannot go out as it is stored: hide it or export it yourself.
        raise TypeError(f"{d.name}.{key} is binary: declare it hidden or give an exporter")
    return value


def information(snapshot: Snapshot) -> dict[str, Any]:
    """The information Art. 15(1)(a)-(h) and 15(2) owes the subject, from the policy file."""
    policy = snapshot.policy
    texts = policy.art15
    told = recipients(snapshot.sections.get("disclosures", []))
    outside = sorted(name for name, region in policy.regions.items() if not in_eu(region))
    return {
        "controller": policy.controller.model_dump(exclude_none=True),
        "policy_version": policy.version,
        "purposes": [
            {
                "purpose": name,
                "description": p.description,
                "lawful_basis": f"{p.lawful_basis.label} ({p.lawful_basis.citation})",
                "basis_detail": p.basis_detail,
                "categories": p.categories,
            }
            for name, p in policy.purposes.items()
        ],
        "categories": [
            {"category": name, "description": cat.description, "retention": cat.retention}
            for name, cat in policy.categories.items()
        ],
        # Art. 15(1)(c): the recipients are whoever the disclosure log says received a copy.
        "recipients": told,
        "recipients_note": texts.recipients_note if told else texts.no_recipients,
        "source": texts.source,
        "transfers": (
            texts.transfers_some.format(region=snapshot.region, outside=", ".join(outside))
            if outside
            else texts.transfers_none.format(region=snapshot.region)
        ),
        "automated_decision_making": texts.automated_decision_making,
        "rights": [*RIGHTS, RIGHTS_CONTACT.format(contact=policy.controller.contact)],
        "complaint": COMPLAINT,
    }


def recipients(disclosed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per recipient of the disclosure log: purposes, categories, first and last."""
    by_name: dict[str, dict[str, Any]] = {}
    for d in disclosed:  # oldest first, as the log is read
        seen = by_name.setdefault(
            d["recipient"],
            {"recipient": d["recipient"], "purposes": set(), "categories": set()},
        )
        seen["purposes"].add(d["purpose"])
        seen["categories"].update(d["categories"])
        seen.setdefault("first_disclosed", d["at"])
        seen["last_disclosed"] = d["at"]
    return [
        {
            "recipient": name,
            "purposes": sorted(r["purposes"]),
            "categories": sorted(r["categories"]),
            "first_disclosed": r["first_disclosed"],
            "last_disclosed": r["last_disclosed"],
        }
        for name, r in sorted(by_name.items())
    ]


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
)
RIGHTS_CONTACT = "Use any of them in the privacy centre of the app, or write to {contact}."


def access_document(snapshot: Snapshot) -> dict[str, Any]:
    """data.json of an access archive: all personal data held, and the Art. 15 information."""
    header = {"format": "minimaker-access", "version": FORMAT_VERSION}
    told = {"history": list(snapshot.history), "information": information(snapshot)}
    return header | _ids(snapshot) | snapshot.sections | told


def portability_document(snapshot: Snapshot) -> dict[str, Any]:
    """data.json of a portability archive, valid against its `portability_schema`."""
    header = {"schema": "schema.json", "format": "minimaker-portability"}
    return header | {"version": FORMAT_VERSION} | _ids(snapshot) | snapshot.sections


def _ids(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "generated_at": snapshot.generated_at,
        "request_id": snapshot.request_id,
        "subject_id": snapshot.subject_id,
    }


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_JSON_TYPES |= {dict: "object", list: "array"}


def _column_schema(column: Any) -> dict[str, Any]:
    """The JSON Schema of one column in a generic section."""
    kind = column.type.python_type
    if issubclass(kind, datetime):
        return dict(SCHEMA_TIME)
    name = _JSON_TYPES.get(kind, "string")
    return {"type": [name, "null"] if column.nullable else name}


def generic_schema(d: PersonalTable) -> dict[str, Any]:
    """The JSON Schema of a generic section: an array of its rows' shown columns."""
    return schema_array(schema_object({k: _column_schema(col) for k, col in _generic_columns(d)}))


def portability_schema(registry: Registry) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of a portability archive's data.json."""
    sections = {
        d.section.name: dict(d.section.schema or generic_schema(d))
        for d in registry.sections(portable_only=True)
        if d.section is not None
    }
    header = {
        "schema": {"const": "schema.json"},
        "format": {"const": "minimaker-portability"},
        "version": {"const": FORMAT_VERSION},
        "generated_at": SCHEMA_TIME,
        "request_id": SCHEMA_ID,
        "subject_id": SCHEMA_ID,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://minimaker.ai/schemas/portability-v1.json",
        "title": "MiniMaker data portability export (Art. 20 GDPR), version 1",
        **schema_object(header | sections),
    }
