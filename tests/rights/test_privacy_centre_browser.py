"""The privacy centre in a real browser (Chromium through Playwright, on a real server): what
a person sees right after each action, where the eye is, and where the next click leads."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser import PASSWORD
from tests.conftest import signup_and_login
from tests.entrypoints.test_docs_page import CHROMIUM

#: Where the element's box is against the window: True when all of it is in view.
IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight; }"""


@pytest.fixture
def server(live_server: str) -> str:
    return live_server


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _signed_in_page(browser: Browser, server: str, username: str = "ada") -> Page:
    with httpx.Client(base_url=server) as http:
        # The account through the API, as elsewhere; the browser then signs in on the page.
        signup_and_login(http, username=username)  # type: ignore[arg-type]
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(f"{server}/login")
    page.fill("#login", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{server}/app", timeout=5_000)
    page.goto(f"{server}/privacy")
    return page


def test_restricting_shows_the_lift_button_at_once_without_a_reload(
    browser: Browser, server: str
) -> None:
    page = _signed_in_page(browser, server)
    page.click("button:has-text('Restrict processing')")
    page.wait_for_load_state()
    assert page.locator("button:has-text('Lift the restriction')").is_visible()
    assert page.locator("button:has-text('Restrict processing')").count() == 0
    assert "being restricted" in page.locator("main").inner_text()
    page.click("button:has-text('Lift the restriction')")
    page.wait_for_load_state()
    assert page.locator("button:has-text('Restrict processing')").is_visible()
    assert page.locator("button:has-text('Lift the restriction')").count() == 0


def test_deleting_the_account_clears_the_page_and_sign_in_says_why(
    browser: Browser, server: str
) -> None:
    page = _signed_in_page(browser, server)
    assert "ada@example.org" in page.content()
    page.click("a:has-text('Delete my account')")
    page.fill("#confirm", "ada")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Delete my account')")
    page.wait_for_url(f"{server}/login?ended=erasure", timeout=5_000)
    shown = page.locator("main").inner_text()
    assert "Your account is being deleted" in shown
    assert "ada@example.org" not in page.content() and "Ada Lovelace" not in page.content()
    # The session is over: the privacy centre is behind sign-in now, not showing old data.
    page.goto(f"{server}/privacy")
    assert page.url == f"{server}/login"
    assert "ada@example.org" not in page.content()


def test_a_correction_error_is_where_the_eye_is(browser: Browser, server: str) -> None:
    with_other = _signed_in_page(browser, server, "bob")
    with_other.close()
    page = _signed_in_page(browser, server, "ada")
    page.fill("#username", "bob")  # taken by another account
    page.click("button:has-text('Save corrections')")
    page.wait_for_load_state()
    error = page.locator("#username-error")
    assert error.is_visible()
    # The field at fault has the focus and is scrolled into view, its message beside it; the
    # top of the page says the corrections were not saved and links to the form.
    assert page.evaluate("document.activeElement.id") == "username"
    assert page.locator("#username").evaluate(IN_VIEW)
    assert error.evaluate(IN_VIEW)
    assert page.locator("#correct-summary a[href='#correct-heading']").count() == 1
    assert page.locator("#username").input_value() == "bob"  # what was typed stays
