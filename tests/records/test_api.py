"""The record of processing over HTTP: the staff API and the admin page, each role as allowed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.records.rules import Record
from tests.conftest import signup_and_login
from tests.records.parse import assert_json_entry_complete, csv_rows, html_sections, json_entries
from tests.staff.test_api import staff_headers
from tests.staff.test_pages import staff_signed_in


@pytest.mark.parametrize("role", ["dpo", "admin", "engineer"])
def test_a_role_allowed_to_view_it_reads_the_record_as_json(
    client: TestClient, container: Container, role: str
) -> None:
    r = client.get("/api/v1/admin/ropa", headers=staff_headers(client, container, role))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    Record.model_validate(r.json())  # the documented shape
    entries = json_entries(r.text)
    assert list(entries) == list(container.policy.purposes)
    for name, entry in entries.items():
        assert_json_entry_complete(entry, name, container.policy)
    assert [s["setting"] for s in r.json()["stores"]] == [
        "MINIMAKER_DATABASE_REGION",
        "MINIMAKER_KEYSTORE_REGION",
        "MINIMAKER_BLOB_REGION",
        "MINIMAKER_BACKUP_REGION",
    ]


def test_the_api_serves_csv_and_html_as_files(client: TestClient, container: Container) -> None:
    dpo = staff_headers(client, container, "dpo")
    r = client.get("/api/v1/admin/ropa", params={"format": "csv"}, headers=dpo)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].endswith('.csv"')
    assert list(csv_rows(r.text)) == list(container.policy.purposes)
    r = client.get("/api/v1/admin/ropa", params={"format": "html"}, headers=dpo)
    assert r.headers["content-type"].startswith("text/html")
    sections, _ = html_sections(r.text)
    assert list(sections) == list(container.policy.purposes)
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("value", ["xml", "JSON", "", "csv,html"])
def test_an_unknown_format_is_a_422_naming_the_parameter(
    client: TestClient, container: Container, value: str
) -> None:
    dpo = staff_headers(client, container, "dpo")
    r = client.get("/api/v1/admin/ropa", params={"format": value}, headers=dpo)
    assert r.status_code == 422, r.text
    assert "format" in r.text


def test_support_is_refused_with_403_and_the_refusal_is_audited(
    client: TestClient, container: Container
) -> None:
    support = staff_headers(client, container, "support")
    r = client.get("/api/v1/admin/ropa", headers=support)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "staff_forbidden"
    assert "view record of processing" in r.json()["error"]["message"]
    with container.sessions() as session:
        denied = session.scalars(
            select(AuditEntry.object).where(AuditEntry.action == "staff:access:denied")
        ).all()
    assert denied == ["records:ropa"]


def test_without_a_staff_session_the_api_answers_401(
    client: TestClient, container: Container
) -> None:
    assert client.get("/api/v1/admin/ropa").status_code == 401
    bogus = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/admin/ropa", headers=bogus).status_code == 401
    user = signup_and_login(client)  # a user's token is no staff token
    assert client.get("/api/v1/admin/ropa", headers=user).status_code == 401
    dpo = staff_headers(client, container, "dpo")
    assert client.post("/api/v1/admin/auth/logout", headers=dpo).status_code == 204
    assert client.get("/api/v1/admin/ropa", headers=dpo).status_code == 401


def test_the_admin_page_shows_every_purpose_with_its_downloads(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "dpo")
    r = browser.get("/admin/ropa")
    assert r.status_code == 200, r.text
    sections, _ = html_sections(r.text)
    assert list(sections) == list(container.policy.purposes)
    assert all(len(fields) == 9 for fields in sections.values())
    for fmt in ("html", "csv", "json"):
        assert f'href="/admin/ropa/export?format={fmt}"' in r.text
    r = browser.get("/admin/ropa/export", params={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == (
        f'attachment; filename="record-of-processing-{container.policy.version}.csv"'
    )
    assert list(csv_rows(r.text)) == list(container.policy.purposes)
    r = browser.get("/admin/ropa/export")  # printable HTML by default
    assert r.headers["content-type"].startswith("text/html")
    assert list(html_sections(r.text)[0]) == list(container.policy.purposes)
    assert browser.get("/admin/ropa/export", params={"format": "pdf"}).status_code == 422


def test_the_admin_page_refuses_support_and_sends_a_visitor_to_sign_in(
    client: TestClient, container: Container, other_browser: TestClient
) -> None:
    r = other_browser.get("/admin/ropa", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")
    r = other_browser.get("/admin/ropa/export?format=json", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")
    browser = staff_signed_in(client, container, "support")
    assert browser.get("/admin/ropa").status_code == 403
    assert browser.get("/admin/ropa/export?format=json").status_code == 403
