"""The record of processing holds every Art. 30(1) field for every purpose, in json, csv and
html, each read back; it is generated from the policy file, so editing the file changes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minimaker.bootstrap import build
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.records import pages, rules
from minimaker.records import service as records
from minimaker.records.rules import ExportFormat
from minimaker.settings import Settings
from tests.policy.files import policy_file
from tests.records.parse import (
    HTML_FIELDS,
    assert_json_entry_complete,
    csv_rows,
    html_sections,
    json_entries,
)

#: Builds a container on the shipped policy with (old, new) lines replaced, and settings.
Edit = Callable[..., Container]


def export(c: Container, fmt: str) -> str:
    return pages.export(records.record_of_processing(c, by=None), rules.parse_format(fmt))


@pytest.fixture
def edited(settings: Settings, tmp_path: Path) -> Iterator[Edit]:
    """Build a container on the shipped policy with some lines replaced (a file in tmp_path)."""
    made: list[Container] = []

    def make(*replace: tuple[str, str], **more: str) -> Container:
        path = policy_file(tmp_path / f"policy-{len(made)}", replace=replace)
        c = build(settings.model_copy(update={"policy_file": path, **more}))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_the_json_export_holds_every_art_30_field_for_every_purpose(container: Container) -> None:
    policy = container.policy
    entries = json_entries(export(container, "json"))
    assert list(entries) == list(policy.purposes)
    for name, entry in entries.items():
        assert_json_entry_complete(entry, name, policy)
    service = entries["service"]
    assert [r["name"] for r in service["recipients"]] == ["smtp-relay"]
    assert "MM-DPA-2025-01" in service["recipients"][0]["dpa"]
    assert "eu-de: DE, within the EU/EEA" in service["recipients"][0]["region"]
    # The registry's tables of each category are named: users hold the account category.
    account = next(d for d in service["personal_data"] if d["name"] == "account")
    assert "users" in account["tables"]


def test_the_csv_export_has_one_row_per_purpose_with_every_field_filled(
    container: Container,
) -> None:
    policy = container.policy
    rows = csv_rows(export(container, "csv"))
    assert list(rows) == list(policy.purposes)
    for name, row in rows.items():
        assert all(value.strip() for value in row.values()), (name, row)
        purpose = policy.purposes[name]
        assert row["description"] == purpose.description
        assert row["lawful_basis"].startswith(purpose.lawful_basis.citation)
        assert row["controller"] == policy.controller.name
        # Multi-valued fields come back as one value per line.
        assert row["security_measures"].split("\n") == policy.security_measures
        limits = row["erasure_time_limits"].split("\n")
        assert limits == [f"{c}: {policy.categories[c].retention}" for c in purpose.categories]
        assert len(row["personal_data"].split("\n")) == len(purpose.categories)
        assert len(row["stores"].split("\n")) == 4
    assert rows["service"]["recipients"].startswith("smtp-relay: ")
    assert rows["training"]["recipients"] == "none"


def test_the_html_export_is_a_printable_page_with_every_field_of_every_purpose(
    container: Container,
) -> None:
    policy = container.policy
    text = export(container, "html")
    sections, tags = html_sections(text)
    assert list(sections) == list(policy.purposes)
    for name, fields in sections.items():
        assert tuple(fields) == HTML_FIELDS, name
        assert all(" ".join(v.split()) for v in fields.values()), (name, fields)
        assert policy.purposes[name].description in fields["purpose"]
        assert policy.purposes[name].basis_detail in fields["lawful_basis"]
        for measure in policy.security_measures:
            assert measure in fields["security_measures"]
    assert "smtp-relay" in sections["service"]["recipients"]
    # Printable offline and under the CSP: nothing to run, no inline style, nothing fetched.
    names = {t for t, _ in tags}
    assert not names & {"script", "style", "link", "img", "iframe"}
    assert not any("style" in attrs or "src" in attrs for _, attrs in tags)


def test_editing_the_policy_file_changes_every_format_of_the_export(edited: Edit) -> None:
    c = edited(
        (
            "    description: Usage statistics for performance monitoring (policy 4.2), "
            "anonymized when shared.",
            "    description: Counting how often each page is opened, in aggregate only.",
        ),
        ("    retention: 7 days after they are made", "    retention: 3 days after they are made"),
        (
            "  - Rate limits on sign-in and sign-up; per-user storage and generation limits.\n",
            "  - Rate limits on sign-in and sign-up; per-user storage and generation limits.\n"
            "  - Quarterly restore drills of the encrypted backups.\n",
        ),
        ("  name: MiniMaker.ai\n", "  name: MiniMaker Labs B.V.\n"),
    )
    entries = json_entries(export(c, "json"))
    assert (
        entries["analytics"]["description"]
        == "Counting how often each page is opened, in aggregate only."
    )
    assert entries["analytics"]["controller"]["name"] == "MiniMaker Labs B.V."
    assert (
        "Quarterly restore drills of the encrypted backups."
        in entries["training"]["security_measures"]
    )
    [archive] = [
        t for t in entries["service"]["erasure_time_limits"] if t["category"] == "rights_archive"
    ]
    assert archive["retention"].startswith("3 days")
    rows = csv_rows(export(c, "csv"))
    assert rows["analytics"]["description"].startswith("Counting how often")
    assert "Quarterly restore drills" in rows["marketing"]["security_measures"]
    sections, _ = html_sections(export(c, "html"))
    assert "Counting how often" in sections["analytics"]["purpose"]
    assert "MiniMaker Labs B.V." in sections["security"]["controller"]


def test_a_purpose_the_policy_drops_leaves_the_export_and_a_processor_added_becomes_a_recipient(
    edited: Edit,
) -> None:
    marketing = (
        "  marketing:\n"
        "    description: Showing anonymized examples of generated models (policy 9.2), "
        "only for users who opted in.\n"
        "    lawful_basis: a\n"
        "    basis_detail: Consent, given in the privacy centre and withdrawn there at any "
        "time (Art. 7(3)); an objection is absolute (Art. 21(3)).\n"
        "    categories: [uploaded_image, generated_model]\n"
        "    objectable: true\n"
        "    consent: true\n"
    )
    c = edited(
        (marketing, ""),
        ("    purposes: [analytics]\n", "    purposes: [analytics, security]\n"),
        (
            "    categories: [usage_event]\n    region: eu-de",
            "    categories: [usage_event, security_log]\n    region: eu-de",
        ),
    )
    entries = json_entries(export(c, "json"))
    assert "marketing" not in entries and len(entries) == len(c.policy.purposes)
    assert "analytics-provider" in {r["name"] for r in entries["security"]["recipients"]}
    assert "marketing" not in csv_rows(export(c, "csv"))


def test_a_store_outside_the_eu_under_scc_is_a_transfer_of_every_purpose(
    edited: Edit,
) -> None:
    region = (
        "  eu-de:\n",
        "  us-east:\n"
        "    description: A data centre in Virginia.\n"
        "    country: US\n"
        '    transfer: {safeguard: scc, reference: MM-SCC-2025-07, since: "2025-03-01"}\n'
        "  eu-de:\n",
    )
    c = edited(region, backup_region="us-east")
    record = records.record_of_processing(c, by=None)
    [backups] = [s for s in record.stores if s.setting == "MINIMAKER_BACKUP_REGION"]
    assert backups.placement == "us-east: US, scc (MM-SCC-2025-07, since 2025-03-01)"
    for entry in record.entries:
        assert entry.transfers == [f"backups: {backups.placement}"]
    rows = csv_rows(export(c, "csv"))
    assert all("MM-SCC-2025-07" in r["transfers"] for r in rows.values())
    sections, _ = html_sections(export(c, "html"))
    assert all("MM-SCC-2025-07" in s["transfers"] for s in sections.values())


def test_policy_text_is_escaped_in_html_and_cannot_become_a_formula_in_csv(
    edited: Edit,
) -> None:
    c = edited(
        (
            "    description: Protecting accounts and the service; "
            "accountability for every access.",
            '    description: =HYPERLINK("http://attacker.invalid") <script>alert(1)</script>',
        ),
    )
    sections, tags = html_sections(export(c, "html"))
    assert "<script>alert(1)</script>" in sections["security"]["purpose"]  # as text
    assert "script" not in {t for t, _ in tags}
    assert "&lt;script&gt;" in export(c, "html")
    row = csv_rows(export(c, "csv"))["security"]
    assert row["description"].startswith("'=HYPERLINK(")


@pytest.mark.parametrize("value", ["xml", "JSON", "", "json ", "html; drop"])
def test_an_unknown_export_format_is_refused_naming_the_formats(value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rules.parse_format(value)
    assert caught.value.field == "format"
    assert "json, csv, html" in caught.value.reason


def test_a_format_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        rules.parse_format(3)
    assert rules.parse_format("csv") is ExportFormat.CSV
