"""The public form for people who cannot sign in (issue 8, item 1; policy 13), over HTTP:
/privacy/ask, linked from the landing and login pages beside the controller's address; and
GET on the public intake's literal path is 405, not the request lookup's 404 (issue 7).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.entrypoints.app import create_app
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.policy import load_policy
from minimaker.rights.tables import RightsRequest
from minimaker.settings import Settings
from tests.conftest import signup_and_login
from tests.mailserver import Mailbox, delivering_to
from tests.rights.test_email_route import ADA, ASK, CONFIRM_SUBJECT, NOBODY, PUBLIC_URL, count


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the loopback SMTP server."""
    return delivering_to(mailbox, settings, public_url=PUBLIC_URL)


@pytest.fixture
def anonymous(client: TestClient) -> Iterator[TestClient]:
    """A browser that never signed in: its own cookie jar."""
    with TestClient(client.app, base_url="https://testserver") as browser:
        yield browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def ask_by_form(browser: TestClient, email: str, kind: str = "access") -> Any:
    form = browser.get("/privacy/ask")
    assert form.status_code == 200
    data = {"csrf": csrf_of(form.text), "email": email, "type": kind}
    return browser.post("/privacy/ask", data=data, follow_redirects=False)


def browser_from(container: Container, ip: str) -> TestClient:
    return TestClient(
        create_app(container, worker=False), base_url="https://testserver", client=(ip, 50000)
    )


def test_the_landing_and_login_pages_link_the_form_beside_the_controllers_address(
    anonymous: TestClient,
) -> None:
    contact = load_policy().controller.contact
    for path in ("/", "/login"):
        page = anonymous.get(path)
        assert page.status_code == 200
        assert 'href="/privacy/ask"' in page.text, path
        assert f'href="mailto:{contact}"' in page.text, path
    form = anonymous.get("/privacy/ask")
    assert f'href="mailto:{contact}"' in form.text


def test_the_form_answers_a_registered_and_an_unknown_address_alike(
    client: TestClient, container: Container, worker: Worker, mailbox: Mailbox
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    with (
        browser_from(container, "192.0.2.1") as known,
        browser_from(container, "192.0.2.2") as unknown,
    ):
        answers = [ask_by_form(known, ADA), ask_by_form(unknown, NOBODY)]
        assert [a.status_code for a in answers] == [303, 303]
        assert {a.headers["location"] for a in answers} == {"/privacy/ask?sent=1"}
        pages = [b.get("/privacy/ask?sent=1").text for b in (known, unknown)]
    without_csrf = [re.sub(r'name="csrf" value="[^"]+"', "", p) for p in pages]
    assert without_csrf[0] == without_csrf[1]
    assert "If the address is registered" in pages[0]
    assert ADA not in pages[0] and NOBODY not in pages[1]
    worker.run_until_idle()
    assert [m.rcpt_tos for m in mailbox.received if m.message["Subject"] == CONFIRM_SUBJECT] == [
        [ADA]
    ]
    with container.uow(write=False) as uow:
        [row] = uow.session.scalars(select(RightsRequest)).all()
        assert (row.channel, row.type, row.status) == ("email", "access", "received")


def test_the_form_without_its_csrf_token_is_403_and_asks_nothing(
    anonymous: TestClient, client: TestClient, container: Container
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    anonymous.get("/privacy/ask")
    for data in (
        {"email": ADA, "type": "access"},
        {"csrf": "forged", "email": ADA, "type": "access"},
    ):
        r = anonymous.post("/privacy/ask", data=data, follow_redirects=False)
        assert r.status_code == 403
    assert count(container, RightsRequest) == 0


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        (ADA, "delete-everything"),
        (ADA, ""),
        ("not-an-address", "access"),
        ("a" * 250 + "@example.org", "access"),
        ("ada@example.org\nBcc: eve@example.org", "access"),
    ],
)
def test_the_form_refuses_bad_input_with_422_and_asks_nothing(
    anonymous: TestClient, client: TestClient, container: Container, email: str, kind: str
) -> None:
    signup_and_login(client, username="ada", email=ADA)
    r = ask_by_form(anonymous, email, kind)
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert count(container, RightsRequest) == 0


def test_the_form_is_throttled_like_the_api(container: Container) -> None:
    with browser_from(container, "192.0.2.9") as browser:
        for i in range(container.settings.login_max_failures):
            assert ask_by_form(browser, f"person{i}@example.org").status_code == 303
        refused = ask_by_form(browser, "someone.else@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert 'role="alert"' in refused.text


# --- issue 7 leftover: the literal path ------------------------------------------------------


def test_get_on_the_public_intake_is_405_with_allow_post(
    client: TestClient, anonymous: TestClient
) -> None:
    headers = signup_and_login(client, username="ada", email=ADA)
    for browser, sent in ((anonymous, {}), (client, headers)):
        for method in ("GET", "HEAD"):
            r = browser.request(method, ASK, headers=sent)
            assert r.status_code == 405, (method, r.text)
            assert r.headers["allow"] == "POST"
    # A real request id still reads as before.
    made = client.post("/api/v1/privacy/requests", headers=headers, json={"type": "objection"})
    got = client.get(f"/api/v1/privacy/requests/{made.json()['id']}", headers=headers)
    assert got.status_code == 200
