"""What the officer's console shows of what happened (issue 8, item 7), and fair staff sign-in.

Closed requests newest first, paged, over the pages and the API; staff sign-in under the
users' throttles, so attackers of one staff member do not lock out another at the same
office address (every TestClient comes from one address, "testclient").
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from minimaker.accounts import service as accounts
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.rights import decisions, intake
from minimaker.staff.service import StaffIdentity
from tests.staff.signing_in import fresh_code
from tests.staff.test_api import PASSWORD, sign_in
from tests.staff.test_pages import staff_signed_in
from tests.staff.test_service import make_staff

TOKEN = "/api/v1/admin/auth/token"


def closed_requests(c: Container, clock: ManualClock, n: int) -> list[str]:
    """`n` requests of one subject, each refused a minute after the one before: oldest first."""
    profile = accounts.signup(
        c, name="Ada Lovelace", email="ada@example.org", username="ada", password=PASSWORD
    )
    dpo = StaffIdentity(id="0" * 32, role="dpo")
    ids = []
    for _ in range(n):
        read = intake.submit(c, user_id=profile.id, type="objection")
        clock.advance(seconds=60)
        decisions.reject(c, dpo, request_id=read.id, reason="Asked and answered the same day.")
        ids.append(read.id)
    return ids


def test_the_closed_requests_are_listed_newest_first_one_page_at_a_time(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    ids = closed_requests(container, clock, 3)
    make_staff(container, "sam", "support")
    support = sign_in(client, "sam")
    r = client.get("/api/v1/admin/requests/closed?per_page=2", headers=support)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [x["id"] for x in page["items"]] == [ids[2], ids[1]]
    assert (page["total"], page["has_next"], page["items"][0]["status"]) == (3, True, "rejected")
    last = client.get("/api/v1/admin/requests/closed?per_page=2&page=2", headers=support).json()
    assert ([x["id"] for x in last["items"]], last["has_next"]) == ([ids[0]], False)
    # The open queue does not show them.
    assert client.get("/api/v1/admin/requests", headers=support).json() == []
    for bad in ("page=0", "per_page=101", "page=x"):
        r = client.get(f"/api/v1/admin/requests/closed?{bad}", headers=support)
        assert r.status_code == 422, bad


def test_an_admin_does_not_see_the_closed_requests(
    client: TestClient, container: Container
) -> None:
    make_staff(container, "ann", "admin")
    r = client.get("/api/v1/admin/requests/closed", headers=sign_in(client, "ann"))
    assert r.status_code == 403


def test_the_console_shows_the_closed_requests_with_their_outcome_and_pages(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    ids = closed_requests(container, clock, 27)
    staff_signed_in(client, container, "support")
    assert 'href="/admin/closed"' in client.get("/admin").text
    first = client.get("/admin/closed").text
    shown = re.findall(r'href="/admin/requests/([0-9a-f]{32})"', first)
    assert shown == list(reversed(ids))[:25]
    assert "27 in all" in first and "rejected" in first
    assert 'href="/admin/closed?page=2"' in first
    second = client.get("/admin/closed?page=2").text
    assert re.findall(r'href="/admin/requests/([0-9a-f]{32})"', second) == [ids[1], ids[0]]
    assert 'href="/admin/closed?page=3"' not in second
    assert client.get("/admin/closed?page=nonsense").status_code == 200


def test_attackers_of_one_staff_member_do_not_lock_out_another_at_the_same_address(
    client: TestClient, container: Container
) -> None:
    make_staff(container, "dora", "dpo")
    make_staff(container, "sam", "support")
    limit = container.settings.login_address_max_failures
    for i in range(limit + 5):
        client.post(TOKEN, data={"username": "dora", "password": f"guess number {i}"})
    # Dora's account is slowed down...
    assert client.post(TOKEN, data={"username": "dora", "password": PASSWORD}).status_code == 429
    # ...but Sam, signing in from the same office address, is not.
    code = fresh_code(client, "sam")
    r = client.post(TOKEN, data={"username": "sam", "password": PASSWORD, "code": code})
    assert r.status_code == 200, r.text


def test_a_spray_over_staff_names_gets_one_guess_per_account_from_a_busy_address(
    client: TestClient, container: Container
) -> None:
    names = [f"staff{i}" for i in range(container.settings.login_address_max_failures + 2)]
    for name in names:
        make_staff(container, name, "support")
    first = [client.post(TOKEN, data={"username": n, "password": "guess one"}) for n in names]
    assert {r.status_code for r in first} == {401}
    # The address is past its limit: accounts with failures of their own are refused now.
    again = client.post(TOKEN, data={"username": names[0], "password": PASSWORD})
    assert again.status_code == 429
