"""Browser tests: Playwright for Python driving Debian's Chromium, headless, on a real server.

Never a browser download: the executable is the system's (`/usr/bin/chromium`); where it is
missing the tests skip and say why. Screenshots land under tests-artifacts/ui/ (gitignored),
printed once per run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests-artifacts" / "ui"
#: The two screens every flow is seen on: a desktop and a 390 px phone.
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

NO_CHROMIUM = (
    f"no Chromium at {CHROMIUM}: the browser tests need Debian's chromium "
    "(apt install chromium); no browser is ever downloaded"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without the system's Chromium every browser test here skips, saying why."""
    if os.access(CHROMIUM, os.X_OK):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(live_server: str) -> str:
    return live_server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are, also when the tests ran in xdist workers."""
    if ARTIFACTS.is_dir():
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")
