"""What a person does in Chromium, step by step, and what every page must pass: no CSP
violation, no console error, and axe-core (vendored under tests/vendor/axe/) finding no WCAG
A/AA violation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, Response

from tests.browser import PASSWORD
from tests.conftest import photo_bytes

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe" / "axe.min.js"
#: Every CSP violation a page reports, from before its first script runs.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: Where the element's box is against the window: True when all of it is in view.
IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight; }"""


def watched(page: Page) -> list[str]:
    """Record CSP violations and console errors of `page` from now on; returns the list."""
    errors: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)

    def keep(message: ConsoleMessage) -> None:
        # A failed load is reported below with its address; the console line lacks it.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def answered(response: Response) -> None:
        if response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    page.on("console", keep)
    page.on("response", answered)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def checked(page: Page, shots: Path, name: str) -> None:
    """Screenshot the page, then require no CSP violation, no sideways scroll, no axe finding."""
    page.screenshot(path=shots / f"{name}.png", full_page=True)
    assert page.evaluate("window.__violations || []") == [], name
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow} px"
    assert axe_violations(page) == [], name


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations on the page: rule id, impact and the nodes."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Injected through the DevTools protocol, so the page's CSP does not block it.
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in found["violations"]
    ]


def sign_up_on_page(page: Page, server: str, username: str = "ada") -> None:
    page.goto(f"{server}/signup")
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", f"{username}@example.org")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_url(f"{server}/app?welcome=1", timeout=10_000)


def photo_file(tmp: Path, name: str = "photo.png") -> Path:
    path = tmp / name
    path.write_bytes(photo_bytes(48, 32))
    return path


def upload_on_page(page: Page, photo: Path) -> None:
    page.set_input_files("#file", str(photo))
    page.click("button:has-text('Upload')")
    page.wait_for_selector("article.photo")


def photo_id_on(page: Page) -> str:
    found = re.search(r"/app/uploads/([0-9a-f]{32})/content", page.content())
    assert found
    return found.group(1)
