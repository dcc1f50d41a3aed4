"""The record of processing read back from each export format, and what every entry must hold."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from typing import Any

from minimaker.policy import Policy
from minimaker.records.rules import CSV_COLUMNS

#: Art. 30(1)(a)-(g), with the lawful basis, as the keys of a JSON entry.
ENTRY_FIELDS = (
    "controller",
    "purpose",
    "description",
    "lawful_basis",
    "data_subjects",
    "personal_data",
    "recipients",
    "transfers",
    "erasure_time_limits",
    "security_measures",
)
#: The fields the HTML names with `data-field`, one <dt>/<dd> pair each.
HTML_FIELDS = (
    "controller",
    "purpose",
    "lawful_basis",
    "data_subjects",
    "personal_data",
    "recipients",
    "transfers",
    "erasure_time_limits",
    "security_measures",
)


def json_entries(text: str) -> dict[str, dict[str, Any]]:
    """The JSON export's entries by purpose."""
    data = json.loads(text)
    return {e["purpose"]: e for e in data["entries"]}


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    """The CSV export's rows by purpose; the header must be exactly CSV_COLUMNS."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = list(reader)
    by_purpose = {r["purpose"]: r for r in rows}
    assert len(by_purpose) == len(rows), "one row per purpose"
    return by_purpose


class _Sections(HTMLParser):
    """Collects, per `data-purpose` section, the text of the <dd> after each `data-field` <dt>."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, str]] = {}
        self._purpose: str | None = None
        self._field: str | None = None
        self._in_dd = False
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section" and a.get("data-purpose"):
            self._purpose = a["data-purpose"]
            self.sections[str(self._purpose)] = {}
        elif tag == "dt" and self._purpose is not None:
            self._field = a.get("data-field")
        elif tag == "dd" and self._purpose is not None and self._field:
            self._in_dd = True
            self.sections[self._purpose][self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "dd":
            self._in_dd, self._field = False, None
        elif tag == "section":
            self._purpose = None

    def handle_data(self, data: str) -> None:
        if self._in_dd and self._purpose is not None and self._field:
            self.sections[self._purpose][self._field] += data


def html_sections(text: str) -> tuple[dict[str, dict[str, str]], list[Any]]:
    """The HTML export's sections by purpose (field -> text), and every tag it holds."""
    parser = _Sections()
    parser.feed(text)
    parser.close()
    return parser.sections, parser.tags


def assert_json_entry_complete(entry: dict[str, Any], name: str, policy: Policy) -> None:
    """A JSON entry holds every Art. 30(1) field, each as the policy states it."""
    assert set(ENTRY_FIELDS) <= set(entry), name
    purpose = policy.purposes[name]
    ctl = entry["controller"]
    assert ctl["name"] == policy.controller.name and ctl["contact"] == policy.controller.contact
    assert ctl["dpo"] and ctl["representative"] and ctl["address"]
    assert entry["description"] == purpose.description
    assert entry["lawful_basis"]["article"] == purpose.lawful_basis.citation
    assert entry["lawful_basis"]["detail"] == purpose.basis_detail
    subjects = {s for c in purpose.categories for s in policy.categories[c].subjects}
    assert {s["name"] for s in entry["data_subjects"]} == subjects
    assert all(s["description"] for s in entry["data_subjects"])
    assert [d["name"] for d in entry["personal_data"]] == purpose.categories
    processors = {p for p, proc in policy.processors.items() if name in proc.purposes}
    assert {r["name"] for r in entry["recipients"]} == processors
    assert all(r["dpa"] and r["region"] and r["contact"] for r in entry["recipients"])
    assert isinstance(entry["transfers"], list)
    limits = {t["category"]: t["retention"] for t in entry["erasure_time_limits"]}
    assert limits == {c: policy.categories[c].retention for c in purpose.categories}
    assert entry["security_measures"] == policy.security_measures
