"""Uploading in Chromium: a photo dropped on the zone, or chosen with the field, is previewed
at once, sent with a progress bar and listed without a reload, so a width typed in another
photo's form stays; a photo over the limit, or a file that is not a photo, is refused beside
the field in the words the server uses, and nothing is stored. Desktop and 390 px, axe-clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import PASSWORD
from tests.conftest import photo_bytes
from tests.ui.conftest import VIEWPORTS
from tests.ui.flows import checked, photo_file, photo_id_on, sign_up_on_page, watched

#: A file made in the page from the bytes given (or `size` zero bytes), dropped on the zone
#: by the events a real drag ends with.
DROP = """([bytes, size, name, type]) => {
  const content = bytes ? new Uint8Array(bytes) : new Uint8Array(size);
  const moved = new DataTransfer();
  moved.items.add(new File([content], name, {type}));
  const zone = document.getElementById("dropzone");
  for (const kind of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: moved}));
  }
}"""
PROGRESS = "(() => { const b = document.getElementById('upload-progress');"
PROGRESS += " return {value: b.value, max: b.max, hidden: b.hidden}; })()"
PREVIEWED = "() => { const i = document.getElementById('upload-preview');"
PREVIEWED += " return !i.hidden && i.src.startsWith('blob:') && i.naturalWidth > 0; }"


def drop(page: Page, data: bytes | None = None, *, size: int = 0, name: str = "photo.png") -> None:
    page.evaluate(DROP, [list(data) if data else None, size, name, "image/png"])


def stored_uploads(page: Page, server: str) -> list[Any]:
    """Ada's uploads as the API lists them: what the database holds, not what the page says."""
    token = page.request.post(
        f"{server}/api/v1/auth/token", form={"username": "ada", "password": PASSWORD}
    ).json()["access_token"]
    listed = page.request.get(
        f"{server}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status == 200
    return list(listed.json())


def _signed_in_page(browser: Browser, server: str, viewport: str) -> Page:
    page = browser.new_page(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    page.errors = watched(page)  # type: ignore[attr-defined]
    sign_up_on_page(page, server)
    return page


def _upload_and_wait(page: Page, photos: int) -> None:
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(
        "(n) => document.querySelectorAll('article.photo').length === n", arg=photos
    )
    shown = page.evaluate(PROGRESS)
    assert shown["hidden"] is False and shown["value"] == shown["max"] > 0, shown


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_dropped_photo_is_previewed_sent_with_progress_and_listed_keeping_the_width(
    browser: Browser, server: str, tmp_path: Path, artifacts: Path, viewport: str
) -> None:
    page = _signed_in_page(browser, server, viewport)
    # The keyboard path: the field itself, inside the drop zone, opened with the space bar.
    page.wait_for_load_state("load")  # every script run: nothing moves the focus after this
    field = page.locator("#dropzone #file")
    field.focus()
    expect(field).to_be_focused()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(photo_file(tmp_path)))
    page.wait_for_function(PREVIEWED)
    _upload_and_wait(page, 1)
    first = photo_id_on(page)
    page.fill(f"#width_mm-{first}", "55")  # what the person is in the middle of
    page.evaluate("window.__notReloaded = true")

    drop(page, photo_bytes(40, 30, seed=3), name="dropped.png")
    page.wait_for_function(PREVIEWED)
    assert page.evaluate("document.getElementById('file').files[0].name") == "dropped.png"
    checked(page, artifacts, f"upload-preview-{viewport}")
    _upload_and_wait(page, 2)
    assert page.evaluate("window.__notReloaded === true")  # the same document, updated
    assert page.input_value(f"#width_mm-{first}") == "55"
    assert page.locator("#upload-preview").is_hidden()  # ready for the next photo
    assert "Your photo is uploaded" in page.locator("#upload-news").inner_text()
    assert len(stored_uploads(page, server)) == 2
    newest = page.locator("article.photo").first.get_attribute("aria-labelledby")
    assert newest != f"photo-{first}"  # the new card comes first, as the server lists them
    checked(page, artifacts, f"upload-done-{viewport}")
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_photo_over_the_limit_is_refused_beside_the_field_and_never_sent(
    browser: Browser, server: str, artifacts: Path, viewport: str
) -> None:
    page = _signed_in_page(browser, server, viewport)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    limit = int(page.get_attribute("#upload-form", "data-max-bytes") or 0)
    drop(page, size=limit + 1, name="huge.png")
    error = page.locator("#file-error")
    error.wait_for()
    words = page.get_attribute("#upload-form", "data-too-large")
    assert words and words.startswith("This photo is larger than the")
    assert error.inner_text() == words
    assert page.get_attribute("#file", "aria-invalid") == "true"
    assert "file-error" in (page.get_attribute("#file", "aria-describedby") or "")
    assert page.evaluate("document.getElementById('file').files.length") == 0
    assert page.locator("#upload-preview").is_hidden()
    checked(page, artifacts, f"upload-too-large-{viewport}")
    page.click("#upload-form button[type=submit]")  # nothing chosen: the browser says so
    assert posts == [] and stored_uploads(page, server) == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_file_that_is_not_a_photo_gets_the_servers_words_in_page(
    browser: Browser, server: str, tmp_path: Path, artifacts: Path
) -> None:
    page = _signed_in_page(browser, server, "phone")
    letter = tmp_path / "letter.png"
    letter.write_bytes(b"%PDF-1.7 not a photo at all")
    with page.expect_file_chooser() as chooser:
        page.click("#dropzone-hint")  # the click path: anywhere on the zone opens the chooser
    chooser.value.set_files(str(letter))
    page.locator("#upload-preview").wait_for(state="hidden")  # no picture to show of it
    page.click("#upload-form button[type=submit]")
    error = page.locator("#file-error")
    error.wait_for()
    assert (
        error.inner_text()
        == "This file is not a photo we can use. Choose a JPEG, PNG or WebP photo."
    )
    assert page.locator("#upload-progress").is_hidden()
    assert page.locator("article.photo").count() == 0
    checked(page, artifacts, "upload-not-a-photo-phone")
    assert stored_uploads(page, server) == []
    assert page.errors == [f"415 {server}/app/uploads"]  # type: ignore[attr-defined]


def test_without_javascript_the_same_form_posts_and_the_photo_is_listed(
    browser: Browser, server: str, tmp_path: Path, artifacts: Path
) -> None:
    page = browser.new_page(viewport=VIEWPORTS["phone"], java_script_enabled=False)  # type: ignore[arg-type]
    sign_up_on_page(page, server)
    assert page.locator("#dropzone-hint").is_hidden()  # no promise of a drop it cannot take
    page.set_input_files("#file", str(photo_file(tmp_path)))
    with page.expect_navigation():
        page.click("#upload-form button[type=submit]")
    assert page.locator("article.photo").count() == 1
    assert page.locator("#upload-progress").is_hidden()
    # (axe needs script to run: the page with script is the one it checks, above.)
    page.screenshot(path=artifacts / "upload-no-script-phone.png", full_page=True)
    assert len(stored_uploads(page, server)) == 1
