"""The workspace in Chromium: a status change arrives in place, never by a reload, so a width
just typed and a photo just chosen are still there; deletes ask first; the 3D viewer shows
the model's GLB; each page passes axe-core, at desktop size and at 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from minimaker.entrypoints.worker import Worker
from tests.ui.conftest import VIEWPORTS
from tests.ui.flows import (
    IN_VIEW,
    checked,
    photo_file,
    photo_id_on,
    sign_up_on_page,
    upload_on_page,
    watched,
)


def _queued_page(browser: Browser, server: str, tmp_path: Path, viewport: str) -> Page:
    page = browser.new_page(viewport=VIEWPORTS[viewport], accept_downloads=True)  # type: ignore[arg-type]
    page.errors = watched(page)  # type: ignore[attr-defined]
    sign_up_on_page(page, server)
    upload_on_page(page, photo_file(tmp_path))
    photo_id = photo_id_on(page)
    page.fill(f"#width_mm-{photo_id}", "30")
    page.click("button:has-text('Generate model')")
    page.wait_for_selector('[data-model-status="queued"]')
    return page


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_status_change_keeps_the_width_typed_and_the_file_chosen(
    browser: Browser,
    server: str,
    worker: Worker,
    tmp_path: Path,
    artifacts: Path,
    viewport: str,
) -> None:
    page = _queued_page(browser, server, tmp_path, viewport)
    photo_id = photo_id_on(page)
    checked(page, artifacts, f"workspace-queued-{viewport}")
    # What a person is in the middle of: a new width typed, another photo chosen.
    page.fill(f"#width_mm-{photo_id}", "55")
    page.set_input_files("#file", str(photo_file(tmp_path, "next.png")))
    page.evaluate("window.__notReloaded = true")
    worker.run_until_idle()
    page.wait_for_selector('[data-model-status="done"]', timeout=15_000)
    assert page.evaluate("window.__notReloaded === true")  # the same document, updated
    assert page.input_value(f"#width_mm-{photo_id}") == "55"
    assert page.evaluate("document.getElementById('file').files[0].name") == "next.png"
    assert page.locator(".downloads a").count() == 3
    assert "A model is now done." in page.locator("#model-news").inner_text()
    checked(page, artifacts, f"workspace-done-{viewport}")
    with page.expect_download() as download:
        page.click(".downloads a:has-text('STL')")
    assert download.value.suggested_filename.endswith(".stl")
    assert download.value.path().read_bytes()[:5] != b"<!doc"  # a mesh, not an error page
    assert page.errors == []  # type: ignore[attr-defined]


def test_deleting_a_model_asks_on_a_page_of_its_own_and_then_deletes(
    browser: Browser, server: str, worker: Worker, tmp_path: Path, artifacts: Path
) -> None:
    page = _queued_page(browser, server, tmp_path, "phone")
    worker.run_until_idle()
    page.wait_for_selector('[data-model-status="done"]', timeout=15_000)
    page.click("a:has-text('Delete model')")
    page.wait_for_selector("h1:has-text('Delete this model?')")
    checked(page, artifacts, "delete-model-confirm-phone")
    page.click("a:has-text('No, keep it')")
    assert page.locator("li.model").count() == 1
    page.click("a:has-text('Delete model')")
    page.click("button:has-text('Yes, delete it')")
    page.wait_for_url("**/app")
    assert page.locator("li.model").count() == 0


def test_the_3d_viewer_shows_the_models_glb_from_our_own_origin(
    browser: Browser, server: str, worker: Worker, tmp_path: Path, artifacts: Path
) -> None:
    page = _queued_page(browser, server, tmp_path, "desktop")
    origins: set[str] = set()
    page.on("request", lambda r: origins.add(r.url.split("/", 3)[2]))
    worker.run_until_idle()
    page.wait_for_selector('[data-model-status="done"]', timeout=15_000)
    with page.expect_response(lambda r: "format=glb" in r.url) as glb:
        page.click("button:has-text('View in 3D')")
    assert glb.value.status == 200
    page.wait_for_selector(".viewer[data-loaded='true'] canvas", timeout=15_000)
    checked(page, artifacts, "viewer-desktop")
    assert origins == {server.split("/", 3)[2]}  # nothing from a CDN or anywhere else
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_sign_up_error_shows_at_once_and_the_first_field_has_the_focus(
    browser: Browser, server: str, artifacts: Path, viewport: str
) -> None:
    page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    errors = watched(page)
    page.goto(f"{server}/signup")
    # The browser's own checks are what a script-less form meets first; ours must hold alone.
    page.evaluate("document.querySelector('form[action=\"/signup\"]').noValidate = true")
    page.fill("#email", "not an address")
    page.fill("#username", "x")
    page.fill("#password", "short")
    page.click("button:has-text('Create account')")
    page.wait_for_selector("#name-error")
    for name in ("name", "email", "username", "password"):
        assert page.locator(f"#{name}-error").is_visible(), name
    assert page.evaluate("document.activeElement.id") == "name"
    assert page.locator("#name").evaluate(IN_VIEW)
    assert page.input_value("#email") == "not an address"  # what was typed stays
    checked(page, artifacts, f"signup-errors-{viewport}")
    assert errors == [f"422 {server}/signup"]  # the refused form itself, nothing else
