"""The privacy centre as a person uses it: see what is held, and exercise each right by form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from tests.browser import PASSWORD, api_headers, csrf_on, form_token, signed_in, upload
from tests.conftest import photo_bytes

Headers = dict[str, str]


@pytest.fixture
def ada(client: TestClient) -> Headers:
    """Ada signed in through the pages; her API headers, to check what the pages did."""
    signed_in(client, "ada")
    return api_headers(client, "ada")


def post_form(client: TestClient, path: str, **fields: str) -> int:
    data = {"csrf": form_token(client, "/privacy"), **fields}
    r = client.post(path, data=data, follow_redirects=False)
    return r.status_code


def requests_of(client: TestClient, headers: Headers) -> list[dict[str, object]]:
    r = client.get("/api/v1/privacy/requests", headers=headers)
    assert r.status_code == 200
    return list(r.json())


def test_the_privacy_centre_needs_a_session(client: TestClient) -> None:
    r = client.get("/privacy", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_the_workspace_links_to_the_privacy_centre(client: TestClient, ada: Headers) -> None:
    assert 'href="/privacy"' in client.get("/app").text


def test_the_centre_shows_the_profile_counts_categories_and_purposes(
    client: TestClient, ada: Headers
) -> None:
    upload(client, photo_bytes())
    r = client.get("/privacy")
    assert r.headers["cache-control"] == "private, no-store"
    page = r.text
    for shown in ("Ada Lovelace", "ada@example.org", "<dd>ada</dd>"):
        assert shown in page
    assert "<strong>1</strong> photo<" in page
    assert "<strong>0</strong> 3D models" in page
    assert "<strong>0</strong> data archives" in page
    # Categories and purposes come from the policy file, with their retention and basis.
    assert "Photos the user uploads" in page and "Until the user deletes them" in page
    assert "Allowed by: Contract: Performance of the contract" in page
    assert "<li>Service: Art. 6(1)(b) GDPR (contract)</li>" in page  # the law, in its note


def test_the_centre_counts_every_table_the_registry_counts(
    client: TestClient, container: Container, ada: Headers
) -> None:
    page = client.get("/privacy").text
    counted = container.personal_data.counted()
    assert len(counted) >= 4  # usage events are pseudonymous: listed in the archive, not counted
    shown = re.findall(r"<li><strong>(\d+)</strong> ([^<]+)</li>", page)
    assert shown == [("0", d.count.of(0)) for d in counted if d.count]


def test_objection_switches_change_the_preferences_the_api_reports(
    client: TestClient, ada: Headers
) -> None:
    assert post_form(client, "/privacy/objections", training="on", marketing="on") == 303
    prefs = client.get("/api/v1/privacy/preferences", headers=ada).json()
    assert prefs["objections"] == {"training": True, "marketing": True, "analytics": False}
    page = client.get("/privacy?done=objections").text
    assert "Your choices were saved" in page
    assert re.search(r'id="object-training"[^>]*checked', page)

    assert post_form(client, "/privacy/objections", analytics="on") == 303
    prefs = client.get("/api/v1/privacy/preferences", headers=ada).json()
    assert prefs["objections"] == {"training": False, "marketing": False, "analytics": True}


def test_restrict_and_lift_create_restriction_requests_that_take_effect(
    client: TestClient, ada: Headers, worker: Worker
) -> None:
    assert post_form(client, "/privacy/restriction", action="restrict") == 303
    assert [(r["type"], r["status"]) for r in requests_of(client, ada)] == [
        ("restriction", "verified")
    ]
    # Before the worker ran: the page already shows the state asked for, and its undoing.
    pending = client.get("/privacy").text
    assert "is being <strong>restricted</strong>" in pending
    assert "Lift the restriction" in pending and 'value="lift"' in pending
    assert 'value="restrict"' not in pending
    worker.run_until_idle()
    assert client.get("/api/v1/privacy/preferences", headers=ada).json()["restricted"] is True
    page = client.get("/privacy").text
    assert "Lift the restriction" in page and 'value="lift"' in page

    assert post_form(client, "/privacy/restriction", action="lift") == 303
    assert [r["type"] for r in requests_of(client, ada)] == ["restriction", "restriction"]
    lifting = client.get("/privacy").text
    assert "The restriction is being lifted" in lifting and 'value="restrict"' in lifting
    worker.run_until_idle()
    assert client.get("/api/v1/privacy/preferences", headers=ada).json()["restricted"] is False


def test_an_unknown_restriction_action_is_refused_and_creates_nothing(
    client: TestClient, ada: Headers
) -> None:
    assert post_form(client, "/privacy/restriction", action="forget") == 422
    assert requests_of(client, ada) == []


def test_access_and_portability_buttons_create_those_requests_with_due_dates(
    client: TestClient, ada: Headers
) -> None:
    assert post_form(client, "/privacy/requests", type="access") == 303
    assert post_form(client, "/privacy/requests", type="portability") == 303
    assert post_form(client, "/privacy/requests", type="erasure") == 422
    made = requests_of(client, ada)
    assert sorted(str(r["type"]) for r in made) == ["access", "portability"]
    page = client.get("/privacy").text
    for request in made:
        assert f'href="/privacy/requests/{request["id"]}"' in page
    assert "Due by" in page


def test_a_completed_access_request_offers_its_archive_for_download(
    client: TestClient, ada: Headers, worker: Worker
) -> None:
    post_form(client, "/privacy/requests", type="access")
    worker.run_until_idle()
    (request,) = requests_of(client, ada)
    assert request["status"] == "completed"
    href = f"/privacy/requests/{request['id']}/download"
    assert href in client.get("/privacy").text
    r = client.get(href)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.content.startswith(b"PK")


def test_the_correction_form_fixes_the_profile_and_refuses_a_bad_email(
    client: TestClient, ada: Headers
) -> None:
    fields = {"name": "Ada King", "email": "ada@example.org", "username": "ada"}
    assert post_form(client, "/privacy/profile", **fields) == 303
    assert client.get("/api/v1/me", headers=ada).json()["name"] == "Ada King"

    token = form_token(client, "/privacy")
    bad = {**fields, "email": "not an address", "csrf": token}
    r = client.post("/privacy/profile", data=bad)
    assert r.status_code == 422
    assert "Email is not a valid email address." in r.text
    assert 'value="not an address"' in r.text  # what was typed is kept to fix
    assert client.get("/api/v1/me", headers=ada).json()["email"] == "ada@example.org"


def test_deleting_the_account_needs_the_username_typed_then_creates_an_erasure_request(
    client: TestClient, ada: Headers
) -> None:
    page = client.get("/privacy/delete").text
    assert "Type your username, <strong>ada</strong>, to confirm" in page
    token = csrf_on(page)
    r = client.post("/privacy/delete", data={"csrf": token, "confirm": "ad"})
    assert r.status_code == 422
    assert "nothing was deleted" in r.text
    assert requests_of(client, ada) == []

    r = client.post(
        "/privacy/delete",
        data={"csrf": token, "confirm": "ada", "password": PASSWORD},
        follow_redirects=False,
    )
    # The browser is signed out at once and sign-in says why; nothing of the account shows.
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=erasure")
    assert any(h.startswith('mm_session=""') for h in r.headers.get_list("set-cookie"))
    assert [(x["type"], x["status"]) for x in requests_of(client, ada)] == [("erasure", "verified")]
    assert client.get("/privacy", follow_redirects=False).headers["location"] == "/login"
    login = client.get("/login?ended=erasure").text
    assert "Your account is being deleted, as you asked, so you were signed out." in login
    assert "ada@example.org" not in login


def test_privacy_forms_without_a_valid_csrf_token_are_refused(
    client: TestClient, ada: Headers
) -> None:
    for path, fields in (
        ("/privacy/requests", {"type": "access"}),
        ("/privacy/restriction", {"action": "restrict"}),
        ("/privacy/delete", {"confirm": "ada"}),
        ("/privacy/objections", {"training": "on"}),
    ):
        for token in ({}, {"csrf": "f" * 64}):
            r = client.post(path, data={**fields, **token})
            assert r.status_code == 403, path
            assert "This form has expired" in r.text
    assert requests_of(client, ada) == []
    prefs = client.get("/api/v1/privacy/preferences", headers=ada).json()
    assert prefs["objections"]["training"] is False


def test_a_request_page_shows_its_history_and_another_users_id_is_404(
    client: TestClient, other_browser: TestClient, ada: Headers
) -> None:
    post_form(client, "/privacy/requests", type="access")
    (request,) = requests_of(client, ada)
    page = client.get(f"/privacy/requests/{request['id']}")
    assert page.status_code == 200
    assert "Your access request" in page.text and "verified" in page.text

    signed_in(other_browser, "bob")
    for path in (
        f"/privacy/requests/{request['id']}",
        f"/privacy/requests/{request['id']}/download",
    ):
        r = other_browser.get(path)
        assert r.status_code == 404, path
        assert "request not found" in r.text.lower()
    assert other_browser.get("/privacy/requests/not-an-id").status_code == 404
