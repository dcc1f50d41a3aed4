"""/api/v1/docs works in a real browser under our own Content-Security-Policy: Swagger UI comes
from the package, renders every operation, and nothing is blocked or fetched from elsewhere."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Request, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Collects every CSP violation the page reports, from before its first script runs.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""

#: How many operation blocks Swagger UI shows: each operation once under each of its tags.
EXPECTED_BLOCKS = """
fetch("/api/v1/openapi.json").then((r) => r.json()).then((d) =>
  Object.values(d.paths).flatMap((item) => Object.values(item))
    .reduce((n, op) => n + Math.max(1, (op.tags || []).length), 0))
"""


@pytest.fixture
def server(live_server: str) -> str:
    return live_server


def test_the_docs_page_renders_every_operation_with_nothing_blocked_or_fetched_elsewhere(
    server: str,
) -> None:
    console: list[str] = []
    origins: set[str] = set()
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.add_init_script(RECORD_VIOLATIONS)
            page.on("console", lambda m: _keep_errors(m, console))
            page.on("request", lambda r: origins.add(_origin(r.url)))
            page.on("requestfailed", lambda r: failed.append(_describe(r)))
            page.goto(f"{server}/api/v1/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=10_000)
            page.wait_for_load_state("networkidle")
            shown = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
            violations = page.evaluate("window.__violations")
            expected = page.evaluate(EXPECTED_BLOCKS)
        finally:
            browser.close()
    assert violations == []
    assert console == []
    assert failed == []
    assert origins == {server}
    assert title.startswith("MiniMaker")
    assert shown == expected > 30


def test_the_docs_page_and_its_assets_carry_the_strict_policy(server: str) -> None:
    page = httpx.get(f"{server}/api/v1/docs")
    script = httpx.get(f"{server}/api/v1/docs/assets/swagger-ui-bundle.js")
    assert page.status_code == script.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # every script is a file of this origin
    assert script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server}/api/v1/docs/assets/no-such-file.js").status_code == 404


def _keep_errors(message: ConsoleMessage, into: list[str]) -> None:
    if message.type == "error":
        into.append(message.text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _describe(request: Request) -> str:
    return f"{request.method} {request.url}: {request.failure}"
