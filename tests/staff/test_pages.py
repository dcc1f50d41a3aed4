"""The staff pages as a browser uses them: sign-in, the queue and its alarm, the DPO's forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import intake
from minimaker.rights.read_model import RequestRead
from tests.browser import csrf_on, form_token, set_cookie_headers, signed_in
from tests.staff.signing_in import PASSWORD, browser_log_in, ready_staff

ALARM = 'class="alert alarm" role="alert"'


def make_staff(c: Container, username: str = "dora", role: str = "dpo") -> None:
    ready_staff(c, username, role)


def staff_log_in(browser: TestClient, username: str = "dora", password: str = PASSWORD) -> Response:
    return browser_log_in(browser, username, password)


def staff_signed_in(browser: TestClient, c: Container, role: str = "dpo") -> TestClient:
    make_staff(c, f"{role}-staff", role)
    assert staff_log_in(browser, f"{role}-staff").status_code == 303
    return browser


def a_request(c: Container, type: str = "access", username: str = "ada") -> RequestRead:
    profile = accounts.signup(
        c,
        name="Ada Lovelace",
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    )
    return intake.submit(c, user_id=profile.id, type=type)


def outbox_kinds(c: Container) -> list[str]:
    with c.sessions() as session:
        return list(session.scalars(select(OutboxMessage.kind)))


def test_admin_pages_without_a_staff_session_lead_to_the_staff_sign_in(client: TestClient) -> None:
    for path in ("/admin", f"/admin/requests/{'0' * 32}"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/admin/login")


def test_a_users_session_does_not_open_the_admin_pages(client: TestClient) -> None:
    signed_in(client)
    r = client.get("/admin", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")


def test_staff_sign_in_sets_a_strict_httponly_cookie_scoped_to_admin(
    client: TestClient, container: Container
) -> None:
    make_staff(container)
    r = staff_log_in(client)
    assert (r.status_code, r.headers["location"]) == (303, "/admin")
    (header,) = set_cookie_headers(r, "mm_staff")
    flags = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/admin"} <= flags
    assert set_cookie_headers(r, "mm_session") == []


def test_a_wrong_staff_password_shows_the_form_again_with_the_reason(
    client: TestClient, container: Container
) -> None:
    make_staff(container)
    r = staff_log_in(client, password="not the password")
    assert r.status_code == 401
    assert "Incorrect username or password." in r.text
    assert 'value="dora"' in r.text and "not the password" not in r.text


def test_the_queue_shows_an_alarm_banner_and_highlights_overdue_requests(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    late = a_request(container, "access", "ada")
    clock.advance(days=35)
    fresh = a_request(container, "erasure", "bob")
    staff_signed_in(client, container)

    page = client.get("/admin").text
    assert ALARM in page and "1 overdue request." in page
    rows = re.findall(r'<tr class="(\w*)">\s*<td[^>]*><a href="/admin/requests/(\w+)"', page)
    assert rows == [("overdue", late.id), ("", fresh.id)]
    overdue_only = client.get("/admin?view=overdue").text
    assert late.id in overdue_only and fresh.id not in overdue_only
    assert 'href="/admin?view=overdue" aria-current="page"' in overdue_only
    # Pseudonymous ids and metadata only: no name or address of the subjects.
    assert "Ada" not in page and "example.org" not in page


def test_the_queue_without_overdue_requests_has_no_alarm_and_filters_due_soon(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    soon = a_request(container, "access", "ada")
    clock.advance(days=25)
    later = a_request(container, "portability", "bob")
    staff_signed_in(client, container)
    page = client.get("/admin").text
    assert ALARM not in page
    due_soon = client.get("/admin?view=soon").text
    assert soon.id in due_soon and later.id not in due_soon


def test_the_dpo_extends_a_request_with_the_form_and_the_subject_is_told(
    client: TestClient, container: Container
) -> None:
    request = a_request(container)
    staff_signed_in(client, container)
    url = f"/admin/requests/{request.id}"
    page = client.get(url).text
    assert f'action="{url}/extend"' in page and f'action="{url}/reject"' in page
    data = {"csrf": csrf_on(page), "months": "1", "reason": "Many large models to export."}
    r = client.post(f"{url}/extend", data=data, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"{url}?done=extended")
    after = client.get(r.headers["location"]).text
    assert "The deadline was extended" in after and "Many large models to export." in after
    assert f'action="{url}/extend"' not in after  # only one extension is allowed
    assert "request_extended" in outbox_kinds(container)


def test_a_refused_decision_comes_back_with_its_reason_by_the_form(
    client: TestClient, container: Container
) -> None:
    request = a_request(container)
    staff_signed_in(client, container)
    url = f"/admin/requests/{request.id}"
    token = form_token(client, url)
    r = client.post(f"{url}/reject", data={"csrf": token, "reason": "no"})
    assert r.status_code == 422
    assert "A rejection needs a justification (10+ characters)." in r.text
    assert "request_rejected" not in outbox_kinds(container)

    data = {"csrf": token, "reason": "The same request was answered last week."}
    r = client.post(f"{url}/reject", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert "request_rejected" in outbox_kinds(container)
    again = client.post(f"{url}/extend", data={"csrf": token, "months": "1", "reason": "late"})
    assert again.status_code == 409
    assert "Extension refused: the request is already rejected." in again.text


def test_support_sees_a_request_without_decision_forms_and_cannot_post_them(
    client: TestClient, container: Container
) -> None:
    request = a_request(container)
    staff_signed_in(client, container, "support")
    url = f"/admin/requests/{request.id}"
    page = client.get(url).text
    assert request.id in page
    assert "/extend" not in page and "/reject" not in page
    assert "the privacy officer decides" in page
    data = {"csrf": csrf_on(page), "months": "1", "reason": "Many large models."}
    r = client.post(f"{url}/extend", data=data)
    assert r.status_code == 403
    assert "The support role may not extend request." in r.text
    # The way back is to the staff pages, not to a user's photos.
    assert 'href="/admin"' in r.text and 'href="/app"' not in r.text


def test_admin_forms_without_a_valid_csrf_token_are_refused(
    client: TestClient, container: Container
) -> None:
    request = a_request(container)
    staff_signed_in(client, container)
    url = f"/admin/requests/{request.id}/extend"
    for data in ({}, {"csrf": "0" * 64}):
        r = client.post(url, data={**data, "months": "1", "reason": "Many large models."})
        assert r.status_code == 403
        assert "This form has expired" in r.text
    assert "request_extended" not in outbox_kinds(container)


def test_a_user_pages_csrf_token_cannot_post_a_staff_form(
    client: TestClient, container: Container
) -> None:
    request = a_request(container, username="bob")
    staff_signed_in(client, container)
    user_token = form_token(client, "/login")
    r = client.post(
        f"/admin/requests/{request.id}/reject",
        data={"csrf": user_token, "reason": "The same request was answered last week."},
    )
    assert r.status_code == 403


def test_signing_out_ends_the_staff_session(client: TestClient, container: Container) -> None:
    staff_signed_in(client, container)
    token = form_token(client, "/admin")
    r = client.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")
    r = client.get("/admin", follow_redirects=False)
    assert r.headers["location"] == "/admin/login"


def test_an_unknown_request_page_is_404(client: TestClient, container: Container) -> None:
    staff_signed_in(client, container)
    for request_id in ("0" * 32, "nope"):
        assert client.get(f"/admin/requests/{request_id}").status_code == 404
