"""The docs point at code and tests that exist: a renamed module or test breaks the suite,
not the privacy officer's trust in docs/COMPLIANCE.md and docs/ARCHITECTURE.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "minimaker"
TESTS = ROOT / "tests"
#: `path.py`, `path.md`, `path.py::name`, `::name` (the previous reference's file), `package/`.
REFERENCE = re.compile(r"`([A-Za-z_/.-]+(?:\.py|\.md|\.yaml|\.html|/))?(?:::(\w+))?[^`]*`")


def _references(doc: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    last = ""
    for line in (ROOT / "docs" / doc).read_text().splitlines():
        if not line.startswith("|"):
            continue
        for path, name in REFERENCE.findall(line):
            if path:
                last = path
            elif name and last:
                path = last
            if path:
                found.append((path, name or None))
    return found


#: Names of files inside an access or portability archive, not of code.
ARCHIVE_MEMBERS = {"index.html", "data.json", "schema.json"}


def _resolve(path: str) -> Path | None:
    if path in ARCHIVE_MEMBERS:
        return ROOT
    for base in (SRC, TESTS, ROOT):
        if (base / path).exists():
            return base / path
    if "/" not in path and any(SRC.glob(f"*/{path}")):
        return SRC  # a room every feature has ("each feature's `events.py`")
    return None


@pytest.mark.parametrize("doc", ["COMPLIANCE.md", "ARCHITECTURE.md"])
def test_every_path_and_test_a_doc_names_exists(doc: str) -> None:
    refs = _references(doc)
    assert len(refs) > 20  # the tables were really read
    missing = []
    for path, name in refs:
        target = _resolve(path)
        if target is None:
            missing.append(path)
        elif name and target.is_file() and not re.search(rf"\b{name}\b", target.read_text()):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_step_the_rights_walkthrough_names_exists() -> None:
    text = (SRC / "rights" / "README.md").read_text()
    steps = re.findall(r"`([a-z_/]+\.py):(\w+)(?:\.\w+)?", text)
    assert len(steps) > 30  # the walkthrough was really read
    missing = []
    for path, name in steps:
        target = next((b / path for b in (SRC / "rights", SRC) if (b / path).is_file()), None)
        if target is None or not re.search(
            rf"\b(def|class) {name}\b|^{name}\b", target.read_text(), re.M
        ):
            missing.append(f"{path}:{name}")
    assert missing == []
