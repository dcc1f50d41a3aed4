"""Passwords changed in the account settings and reset by an emailed link, through the pages
on the real app: the current password first, other sessions out, a link that works once and
for an hour, the same answer for an unknown address, and a throttle like sign-in's."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts import recovery
from minimaker.accounts.tables import PasswordReset
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.settings import Settings
from tests.browser import PASSWORD, api_headers, form_token, log_in, signed_in

NEW = "a brand new passphrase"


def _change(browser: TestClient, current: str, new: str = NEW) -> tuple[int, str]:
    data = {"csrf": form_token(browser, "/account"), "current_password": current}
    data["new_password"] = new
    r = browser.post("/account/password", data=data, follow_redirects=False)
    return r.status_code, r.text


def _token_ok(client: TestClient, password: str, username: str = "ada") -> bool:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code == 200


def test_changing_the_password_needs_the_current_one_and_signs_out_other_sessions(
    client: TestClient, other_browser: TestClient
) -> None:
    signed_in(client)
    assert log_in(other_browser).status_code == 303  # another device of Ada's
    api = api_headers(client)
    code, _ = _change(client, PASSWORD)
    assert code == 303
    page = client.get("/account?changed=1")
    assert page.status_code == 200 and "Your password was changed" in page.text
    # Elsewhere the sessions ended: the other browser and the API token are out.
    r = other_browser.get("/app", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=session")
    assert client.get("/api/v1/me", headers=api).status_code == 401
    assert _token_ok(client, NEW) and not _token_ok(client, PASSWORD)


@pytest.mark.parametrize(
    ("current", "new", "status", "message", "field"),
    [
        ("not the password", NEW, 403, "The password is not correct", "current_password"),
        ("", NEW, 403, "Your current password is required", "current_password"),
        (PASSWORD, "short", 422, "Password must be at least 10 characters", "password"),
        (PASSWORD, PASSWORD, 422, "New password must differ", "new_password"),
        (PASSWORD, "x" * 1025, 422, "Password must be at most 1024 characters", "password"),
    ],
    ids=["wrong", "missing", "short-new", "same", "too-long"],
)
def test_a_refused_change_says_why_beside_the_field_and_changes_nothing(
    client: TestClient, current: str, new: str, status: int, message: str, field: str
) -> None:
    signed_in(client)
    code, html = _change(client, current, new)
    assert code == status
    assert message in html
    assert PASSWORD not in html and NEW not in html  # no password is ever sent back
    assert _token_ok(client, PASSWORD)
    assert client.get("/app", follow_redirects=False).status_code == 200  # still signed in


def test_guessing_the_current_password_is_throttled_like_a_sign_in(
    client: TestClient, settings: Settings
) -> None:
    signed_in(client)
    for _ in range(settings.login_max_failures):
        assert _change(client, "not the password")[0] == 403
    code, html = _change(client, PASSWORD)
    assert code == 429 and "Too many attempts" in html


def _outbox(c: Container, kind: str = recovery.MAIL_KIND) -> list[dict[str, str]]:
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
        return [outbox.open_message(uow, row) for row in rows]


def _link(c: Container) -> str:
    (message,) = _outbox(c)[-1:]
    found = re.search(re.escape(recovery.RESET_PATH) + r"([A-Za-z0-9_-]{43})", message["body"])
    assert found, message["body"]
    return found.group(1)


def _ask(browser: TestClient, email: str) -> tuple[int, str]:
    data = {"csrf": form_token(browser, "/password/forgot"), "email": email}
    r = browser.post("/password/forgot", data=data)
    return r.status_code, r.text


def _reset(browser: TestClient, token: str, new: str = NEW) -> tuple[int, str, str]:
    data = {"csrf": form_token(browser, "/password/forgot"), "token": token, "new_password": new}
    r = browser.post("/password/reset", data=data, follow_redirects=False)
    return r.status_code, r.text, r.headers.get("location", "")


def test_a_forgotten_password_is_reset_by_a_link_that_works_once(
    client: TestClient, other_browser: TestClient, container: Container
) -> None:
    signed_in(client)
    assert 'href="/password/forgot"' in other_browser.get("/login").text
    code, html = _ask(other_browser, "ADA@example.org")
    assert code == 200 and "If an account has this address" in html
    (message,) = _outbox(container)
    assert message["to"] == "ada@example.org"
    token = _link(container)
    page = other_browser.get(f"/password/reset?token={token}")
    assert page.status_code == 200 and f'value="{token}"' in page.text
    code, _, where = _reset(other_browser, token)
    assert (code, where) == (303, "/login?ended=reset")
    assert "Your new password is set" in other_browser.get(where).text
    # Every session ended, the new password works, and the link is dead.
    assert client.get("/app", follow_redirects=False).status_code == 303
    assert _token_ok(client, NEW) and not _token_ok(client, PASSWORD)
    assert other_browser.get(f"/password/reset?token={token}").status_code == 410
    code, html, _ = _reset(other_browser, token, "yet another passphrase")
    assert code == 410 and "This link no longer works" in html
    assert _token_ok(client, NEW)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    client: TestClient, container: Container
) -> None:
    signed_in(client)
    known = _ask(client, "ada@example.org")
    unknown = _ask(client, "nobody@example.org")
    assert known[0] == unknown[0] == 200
    strip = re.compile(r'value="[0-9a-f]{64}"')  # the forms' CSRF tokens differ by design
    assert strip.sub("", known[1]) == strip.sub("", unknown[1])
    assert [m["to"] for m in _outbox(container)] == ["ada@example.org"]


def test_the_stored_token_is_a_hash_and_the_link_expires_within_the_hour(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    signed_in(client)
    _ask(client, "ada@example.org")
    token = _link(container)
    with container.uow(write=False) as uow:
        (stored,) = uow.session.scalars(select(PasswordReset.token_hash))
    assert token not in stored and len(stored) == 64
    clock.advance(seconds=recovery.RESET_TTL.total_seconds() + 1)
    assert client.get(f"/password/reset?token={token}").status_code == 410
    assert _reset(client, token)[0] == 410
    assert _token_ok(client, PASSWORD)


def test_asking_again_replaces_the_earlier_link(client: TestClient, container: Container) -> None:
    signed_in(client)
    _ask(client, "ada@example.org")
    first = _link(container)
    _ask(client, "ada@example.org")
    second = _link(container)
    assert first != second
    assert _reset(client, first)[0] == 410
    assert _reset(client, second)[0] == 303
    with container.uow(write=False) as uow:
        assert uow.session.scalar(select(func.count()).select_from(PasswordReset)) == 0


@pytest.mark.parametrize(
    "token",
    ["", "made-up", "x" * 43, "é" * 43, "a" * 5000],
    ids=["empty", "short", "unknown", "unicode", "huge"],
)
def test_a_made_up_link_is_refused_and_changes_nothing(client: TestClient, token: str) -> None:
    signed_in(client)
    assert client.get("/password/reset", params={"token": token}).status_code == 410
    code, html, _ = _reset(client, token)
    assert code == 410 and "This link no longer works" in html
    assert _token_ok(client, PASSWORD)


def test_a_bad_new_password_keeps_the_link_alive(client: TestClient, container: Container) -> None:
    signed_in(client)
    _ask(client, "ada@example.org")
    token = _link(container)
    code, html, _ = _reset(client, token, "short")
    assert code == 422 and "Password must be at least 10 characters" in html
    assert f'value="{token}"' in html
    assert _reset(client, token)[0] == 303


def test_a_malformed_address_is_refused_and_mails_nothing(
    client: TestClient, container: Container
) -> None:
    for email in ("", "not an address", "a@" + "b" * 400 + ".org"):
        code, html = _ask(client, email)
        assert code == 422 and "Email is not a valid email address" in html
    assert _outbox(container) == []


def test_asking_for_links_is_throttled_per_address_and_silently_per_email(
    client: TestClient, container: Container, settings: Settings
) -> None:
    signed_in(client)
    for _ in range(settings.login_max_failures + 2):
        assert _ask(client, "ada@example.org")[0] == 200
    # The inbox is not flooded: past the limit nothing more is sent, and the answer is the same.
    assert len(_outbox(container)) == settings.login_max_failures
    settings.login_address_max_failures = settings.login_max_failures + 3
    assert _ask(client, "someone@example.org")[0] == 200
    code, html = _ask(client, "someone-else@example.org")
    assert code == 429 and "Too many attempts" in html


def test_no_address_or_token_reaches_the_audit_or_the_throttle(
    client: TestClient, container: Container
) -> None:
    signed_in(client)
    _ask(client, "ada@example.org")
    token = _link(container)
    _reset(client, token)
    with container.engine.connect() as db:
        for table in ("audit_log", "login_failures", "password_resets"):
            dump = str(db.exec_driver_sql(f"SELECT * FROM {table}").fetchall())
            assert "ada@example.org" not in dump and token not in dump, table
