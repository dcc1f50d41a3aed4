"""The register's staff pages as a browser uses them: the officer's list and incident page,
each with the 72-hour deadline and time left, and their forms; other roles refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from minimaker.breach import service as register
from minimaker.kernel.container import Container
from tests.breach.world import DESCRIPTION, officer, opened
from tests.browser import csrf_on
from tests.staff.test_pages import staff_signed_in


def test_the_list_and_the_incident_page_show_the_deadline_and_the_time_left(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "dpo")
    made = opened(container, officer(container, "otto"), hours_ago=10)
    deadline = made.deadline_at.strftime("%Y-%m-%d %H:%M UTC")
    for path in ("/admin/incidents", f"/admin/incidents/{made.id}"):
        r = browser.get(path)
        assert r.status_code == 200, r.text
        assert deadline in r.text
        assert re.search(r"6[12] h \d\d min left", r.text), path
        assert "<script>" not in r.text and " style=" not in r.text
    page = browser.get(f"/admin/incidents/{made.id}").text
    assert "Laptop of Grace Hopper" in page  # the officer reads the sealed description
    opened(container, officer(container, "olga"), hours_ago=73)
    late = browser.get("/admin/incidents").text
    assert 'class="alert alarm"' in late and "overdue by" in late


def test_the_officer_opens_and_assesses_an_incident_through_the_forms(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "dpo")
    token = csrf_on(browser.get("/admin/incidents").text)
    aware = (container.clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf": token,
        "aware_at": aware,
        "source": "staff_report",
        "processor": "",
        "description": DESCRIPTION,
    }
    r = browser.post("/admin/incidents", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    path = r.headers["location"].split("?")[0]
    page = browser.get(r.headers["location"])
    assert "The incident is open" in page.text
    token = csrf_on(page.text)
    assessment = {
        "csrf": token,
        "subjects_account": "40",
        "records_account": "40",
        "subjects_uploaded_image": "40",
        "records_uploaded_image": "120",
        "subjects": "40",
        "encrypted": "yes",
        "identification": "maximum",
        "confidentiality": "unknown_recipients",
        "integrity": "none",
        "availability": "none",
        "malicious": "yes",
    }
    r = browser.post(f"{path}/assessment", data=assessment, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = browser.get(path).text
    assert "severity 3.0 (high)" in page and "Art. 34(3)(a) exception" in page
    r = browser.post(f"{path}/close", data={"csrf": csrf_on(page)}, follow_redirects=False)
    assert r.status_code == 409 and "record a decision" in r.text.lower()


def test_a_future_awareness_time_comes_back_on_the_form_with_its_reason(
    client: TestClient, container: Container
) -> None:
    browser = staff_signed_in(client, container, "dpo")
    token = csrf_on(browser.get("/admin/incidents").text)
    ahead = (container.clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf": token, "aware_at": ahead, "source": "staff_report", "description": "x"}
    r = browser.post("/admin/incidents", data=form)
    assert r.status_code == 422
    assert "must not be in the future" in r.text
    assert register.list_incidents(container, officer(container, "otto")) == []


@pytest.mark.parametrize("role", ["admin", "support"])
def test_other_roles_are_refused_the_pages(
    client: TestClient, container: Container, role: str
) -> None:
    browser = staff_signed_in(client, container, role)
    made = opened(container, officer(container, "otto"))
    for path in ("/admin/incidents", f"/admin/incidents/{made.id}"):
        r = browser.get(path)
        assert r.status_code == 403, path
        assert DESCRIPTION not in r.text
    assert 'href="/admin/incidents"' not in browser.get("/admin/me").text


def test_without_a_staff_session_the_pages_lead_to_the_sign_in(client: TestClient) -> None:
    r = client.get("/admin/incidents", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")
