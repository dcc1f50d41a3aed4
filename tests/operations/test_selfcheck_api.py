"""The self-check over HTTP: admins and engineers run it and read its record; other roles get
403 (audited), no token 401; the staff page lists the runs and runs one from its button."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from tests.staff.test_api import staff_headers
from tests.staff.test_pages import staff_signed_in

PATH = "/api/v1/admin/selfchecks"


@pytest.mark.parametrize("role", ["admin", "engineer"])
def test_post_runs_a_check_and_get_lists_it(
    client: TestClient, container: Container, role: str
) -> None:
    headers = staff_headers(client, container, role)
    r = client.post(PATH, headers=headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["trigger"] == "api" and made["passed"] is True
    assert {c["status"] for c in made["checks"]} <= {"pass", "warn", "skipped"}
    assert made["counts"]["fail"] == 0
    r = client.get(PATH, headers=headers)
    assert r.status_code == 200, r.text
    assert [run["id"] for run in r.json()] == [made["id"]]
    assert r.json()[0]["checks"] == made["checks"]


def test_the_run_is_audited_as_the_staff_member_who_asked(
    client: TestClient, container: Container
) -> None:
    client.post(PATH, headers=staff_headers(client, container, "engineer"))
    with container.sessions() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "operations:selfcheck:ran")
        ).all()
    assert len(actors) == 1 and actors[0].startswith("staff:")


@pytest.mark.parametrize("role", ["dpo", "support"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_other_roles_are_refused_with_403_and_nothing_runs(
    client: TestClient, container: Container, role: str, method: str
) -> None:
    r = client.request(method, PATH, headers=staff_headers(client, container, role))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "staff_forbidden"
    with container.sessions() as session:
        denied = session.scalars(
            select(AuditEntry.object).where(AuditEntry.action == "staff:access:denied")
        ).all()
        ran = session.scalars(
            select(AuditEntry.seq).where(AuditEntry.action == "operations:selfcheck:ran")
        ).all()
    assert denied == ["operations:selfcheck"]
    assert ran == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_a_staff_token_the_api_answers_401(client: TestClient, method: str) -> None:
    r = client.request(method, PATH)
    assert r.status_code == 401, r.text
    r = client.request(method, PATH, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401, r.text


def test_a_user_token_is_no_staff_token(client: TestClient) -> None:
    from tests.conftest import signup_and_login

    r = client.get(PATH, headers=signup_and_login(client))
    assert r.status_code == 401, r.text


def test_the_staff_page_lists_runs_and_its_button_runs_one(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "admin")
    r = browser.get("/admin/selfchecks")
    assert r.status_code == 200, r.text
    assert "No self-check has run yet." in r.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert csrf is not None
    r = browser.post("/admin/selfchecks", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/selfchecks")
    r = browser.get("/admin/selfchecks")
    assert r.text.count('class="selfcheck-run"') == 1
    assert 'data-passed="true"' in r.text
    assert "<script" not in r.text and "style=" not in r.text  # CSP: no inline code or style


def test_the_page_button_without_its_csrf_token_runs_nothing(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "admin")
    r = browser.post("/admin/selfchecks", data={}, follow_redirects=False)
    assert r.status_code in (400, 403), r.text
    with container.sessions() as session:
        ran = session.scalars(
            select(AuditEntry.seq).where(AuditEntry.action == "operations:selfcheck:ran")
        ).all()
    assert ran == []


def test_the_page_refuses_a_role_without_the_right(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "support")
    r = browser.get("/admin/selfchecks")
    assert r.status_code == 403, r.text
