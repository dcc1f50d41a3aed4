"""The record of processing activities (Art. 30(1) GDPR) as values, and its JSON and CSV forms.

One entry per purpose, each with every field of Art. 30(1)(a)-(g). The values are built from
the policy in force and the personal-data registry (records/service.py), never written by
hand, so the record changes when the policy does.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from minimaker.kernel.errors import ValidationFailed


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"

    @property
    def media_type(self) -> str:
        """The media type an export of this format is served as."""
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.HTML: "text/html; charset=utf-8",
}


def parse_format(value: object) -> ExportFormat:
    """The export format `value` names; anything else is refused, naming the formats."""
    try:
        return ExportFormat(value) if isinstance(value, str) else ExportFormat("")
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise ValidationFailed("format", f"must be one of {allowed}") from None


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Controller(_Value):
    """Art. 30(1)(a): the controller, its contact, the DPO and the representative."""

    name: str
    contact: str
    address: str
    dpo: str
    representative: str


class LawfulBasis(_Value):
    """Art. 6(1): the basis of the purpose, cited, in words, and what it relies on."""

    article: str
    label: str
    detail: str
    objectable: bool
    consent: bool


class DataSubjects(_Value):
    name: str
    description: str


class DataCategory(_Value):
    """A category of personal data, and the tables of the registry that hold it."""

    name: str
    description: str
    data_subjects: list[str]
    tables: list[str]


class Recipient(_Value):
    """Art. 30(1)(d): a processor whose purposes include this one, under its DPA."""

    name: str
    description: str
    contact: str
    dpa: str
    region: str
    treatment: str
    categories: list[str]


class TimeLimit(_Value):
    """Art. 30(1)(f): how long one category is kept."""

    category: str
    retention: str


class Entry(_Value):
    """One processing activity: a purpose with every field of Art. 30(1)(a)-(g)."""

    purpose: str  # (b)
    description: str  # (b)
    controller: Controller  # (a)
    lawful_basis: LawfulBasis  # Art. 6(1), with the purpose
    data_subjects: list[DataSubjects]  # (c)
    personal_data: list[DataCategory]  # (c)
    recipients: list[Recipient]  # (d)
    transfers: list[str]  # (e), with the safeguard of each
    erasure_time_limits: list[TimeLimit]  # (f)
    security_measures: list[str]  # (g), Art. 32(1)


class StorePlacement(_Value):
    """Where one of the service's own stores stands (policy 10.1)."""

    store: str
    setting: str
    region: str
    placement: str


class Record(_Value):
    """The whole record: the policy version it was generated from, the stores, the entries."""

    policy_version: str
    policy_effective: str
    generated_at: datetime
    controller: Controller
    stores: list[StorePlacement]
    entries: list[Entry]


#: Where each field of an entry comes from in Art. 30(1), for the HTML and CSV headings.
ARTICLE = {
    "controller": "Art. 30(1)(a)",
    "purpose": "Art. 30(1)(b)",
    "lawful_basis": "Art. 6(1)",
    "data_subjects": "Art. 30(1)(c)",
    "personal_data": "Art. 30(1)(c)",
    "recipients": "Art. 30(1)(d)",
    "transfers": "Art. 30(1)(e)",
    "erasure_time_limits": "Art. 30(1)(f)",
    "security_measures": "Art. 30(1)(g)",
}
NONE = "none"


def to_json(record: Record) -> str:
    """The record as JSON (UTF-8 text, keys in a fixed order)."""
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


#: The CSV columns, one row per purpose; the values of a multi-valued field are one per line.
CSV_COLUMNS = (
    "purpose",
    "description",
    "controller",
    "controller_contact",
    "controller_address",
    "dpo",
    "representative",
    "lawful_basis",
    "basis_detail",
    "objectable",
    "consent",
    "data_subjects",
    "personal_data",
    "recipients",
    "transfers",
    "erasure_time_limits",
    "security_measures",
    "stores",
)


def _joined(values: list[str]) -> str:
    return "\n".join(values) if values else NONE


def recipient_line(r: Recipient) -> str:
    """A recipient in one line: who, under which DPA, where, what it receives and how."""
    received = ", ".join(r.categories)
    return (
        f"{r.name}: {r.description} Contact {r.contact}; DPA {r.dpa}; region {r.region}; "
        f"receives {received} ({r.treatment})"
    )


def csv_row(entry: Entry, stores: list[StorePlacement]) -> dict[str, str]:
    """One purpose as a CSV row, every multi-valued field joined one value per line."""
    c, basis = entry.controller, entry.lawful_basis
    row = {
        "purpose": entry.purpose,
        "description": entry.description,
        "controller": c.name,
        "controller_contact": c.contact,
        "controller_address": c.address,
        "dpo": c.dpo,
        "representative": c.representative,
        "lawful_basis": f"{basis.article} {basis.label}",
        "basis_detail": basis.detail,
        "objectable": "yes" if basis.objectable else "no",
        "consent": "yes" if basis.consent else "no",
        "data_subjects": _joined([f"{s.name}: {s.description}" for s in entry.data_subjects]),
        "personal_data": _joined([f"{d.name}: {d.description}" for d in entry.personal_data]),
        "recipients": _joined([recipient_line(r) for r in entry.recipients]),
        "transfers": _joined(entry.transfers),
        "erasure_time_limits": _joined(
            [f"{t.category}: {t.retention}" for t in entry.erasure_time_limits]
        ),
        "security_measures": _joined(entry.security_measures),
        "stores": _joined([f"{s.store}: {s.placement}" for s in stores]),
    }
    return {k: _cell(v) for k, v in row.items()}


def _cell(value: str) -> str:
    # OWASP "CSV injection": a cell a spreadsheet would run as a formula is quoted as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(record: Record) -> str:
    """The record as CSV: a header, then one row per purpose."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entry in record.entries:
        writer.writerow(csv_row(entry, record.stores))
    return out.getvalue()


def as_dict(record: Record) -> dict[str, Any]:
    """The record as JSON-ready data (the API's answer)."""
    return record.model_dump(mode="json")
