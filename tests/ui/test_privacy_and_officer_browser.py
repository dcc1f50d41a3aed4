"""The privacy centre and the officer's queue in Chromium, at desktop size and at 390 px: a
copy of one's data asked for and downloaded, a request seen and opened by the officer; the
request tables fit the phone's width and every page passes axe-core."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from minimaker.accounts import service as accounts
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.rights import intake
from tests.browser import PASSWORD
from tests.staff.signing_in import PASSWORD as STAFF_PASSWORD
from tests.staff.signing_in import code_for, ready_staff
from tests.ui.conftest import VIEWPORTS
from tests.ui.flows import checked, sign_up_on_page, watched


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_copy_of_ones_data_is_asked_for_and_downloaded_from_the_privacy_centre(
    browser: Browser, server: str, worker: Worker, artifacts: Path, viewport: str
) -> None:
    page = browser.new_page(viewport=VIEWPORTS[viewport], accept_downloads=True)  # type: ignore[arg-type]
    errors = watched(page)
    sign_up_on_page(page, server)
    page.click("a:has-text('Your privacy centre')")
    page.wait_for_url(f"{server}/privacy")
    checked(page, artifacts, f"privacy-{viewport}")
    page.click("button:has-text('Request a copy of my data')")
    page.wait_for_selector("table.queue")
    worker.run_until_idle()
    page.goto(f"{server}/privacy")
    link = page.locator("table.queue a:has-text('Download')")
    assert link.count() == 1
    checked(page, artifacts, f"privacy-requests-{viewport}")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".zip")
    assert errors == []


def _an_open_request(c: Container) -> str:
    profile = accounts.signup(
        c, name="Ada Lovelace", email="ada@example.org", username="ada", password=PASSWORD
    )
    return intake.submit(c, user_id=profile.id, type="access").id


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_officer_signs_in_sees_the_queue_and_opens_a_request(
    browser: Browser, server: str, container: Container, artifacts: Path, viewport: str
) -> None:
    request_id = _an_open_request(container)
    dora = ready_staff(container, "dora", "dpo")
    page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    errors = watched(page)
    page.goto(f"{server}/admin/login")
    checked(page, artifacts, f"officer-login-{viewport}")
    page.fill("#username", "dora")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", code_for(container, dora.id))
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server}/admin")
    assert page.locator(f"table.queue a[href='/admin/requests/{request_id}']").count() == 1
    checked(page, artifacts, f"officer-queue-{viewport}")
    page.click(f"a[href='/admin/requests/{request_id}']")
    page.wait_for_selector("h1:has-text('Access request')")
    checked(page, artifacts, f"officer-request-{viewport}")
    assert errors == []


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_password_pages_pass_axe_and_fit_the_screen(
    browser: Browser, server: str, artifacts: Path, viewport: str
) -> None:
    page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    errors = watched(page)
    page.goto(f"{server}/login")
    page.click("a:has-text('Forgot your password?')")
    checked(page, artifacts, f"password-forgot-{viewport}")
    page.fill("#email", "nobody@example.org")
    page.click("button:has-text('Email me a link')")
    page.wait_for_selector("text=If an account has this address")
    checked(page, artifacts, f"password-forgot-sent-{viewport}")
    sign_up_on_page(page, server)
    page.click("a:has-text('Account settings')")
    page.wait_for_url(f"{server}/account")
    checked(page, artifacts, f"account-{viewport}")
    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", "a brand new passphrase")
    page.click("button:has-text('Change password')")
    page.wait_for_url(f"{server}/account?changed=1")
    assert "Your password was changed" in page.locator("main").inner_text()
    assert errors == []
